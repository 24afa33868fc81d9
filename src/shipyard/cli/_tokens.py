"""``shipyard tokens create|list|revoke``: the API tokens of a ``shipyard server --auth``.

Tokens live in the server's database, so these commands run where that database is reachable
(``--store-uri`` / ``SHIPYARD_STORE_URI``, the same the server uses), not through the server.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from shipyard.cli._base import Context, add_verb, add_verbs
from shipyard.cli._table import add_output_options

if TYPE_CHECKING:
    from shipyard.store.sql.tokens import TokenStore

HELP = "create, list and revoke API tokens of the server (reader, writer, admin)"


def register(parser: argparse.ArgumentParser) -> None:
    verbs = add_verbs(parser)

    def store_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--store-uri", metavar="URI", default=None,
                       help="the server's database; overrides SHIPYARD_STORE_URI (same as --tracking-uri)")

    p = add_verb(verbs, "create", create_token, "create a token and print it (shown only this once)")
    p.add_argument("--name", required=True, metavar="NAME", help="who or what the token is for (unique)")
    p.add_argument("--role", required=True, choices=("reader", "writer", "admin"),
                   help="reader: read; writer: also log and register; admin: also delete and deploy")
    p.add_argument("--from-env", metavar="VAR", default=None,
                   help="store the token held in environment variable VAR (a deployment's secret, shy_...) "
                        "instead of making one; nothing is printed")
    p.add_argument("--exists-ok", action="store_true",
                   help="with --from-env: succeed when the token of that name is already this one (a re-run bootstrap)")
    store_option(p)
    p = add_verb(verbs, "list", list_tokens, "the tokens (names, roles, last use; never the tokens)")
    store_option(p)
    add_output_options(p)
    p = add_verb(verbs, "revoke", revoke_token, "revoke a token: requests with it fail from now on")
    p.add_argument("name", metavar="NAME")
    store_option(p)


@contextmanager
def _tokens(ctx: Context) -> Iterator[TokenStore]:
    from shipyard.config import resolve_settings
    from shipyard.errors import InvalidInput
    from shipyard.store import open_store
    from shipyard.store.sql import SqlStore
    from shipyard.store.sql.tokens import TokenStore

    settings = resolve_settings(ctx.args.store_uri or ctx.tracking_uri)
    if not settings.store_uri.startswith(("sqlite:", "postgres")):
        raise InvalidInput(f"tokens are kept in the server's database, not reachable through {settings.store_uri}: "
                           "run this where the server runs, with --store-uri set to its database")
    store = open_store(settings.store_uri, settings.artifact_uri)
    assert isinstance(store, SqlStore)
    try:
        yield TokenStore(store)
    finally:
        store.close()


def create_token(ctx: Context) -> int:
    import os

    from shipyard.errors import AlreadyExists, InvalidInput

    a = ctx.args
    if a.from_env is not None:
        given = os.environ.get(a.from_env, "")
        if not given:
            raise InvalidInput(f"--from-env {a.from_env}: that environment variable is not set")
        with _tokens(ctx) as tokens:
            try:
                tokens.create_token(a.name, a.role, given)
            except AlreadyExists:
                if not (a.exists_ok and tokens.has_token(a.name, given)):
                    raise
        ctx.note(f"token {a.name!r} ({a.role}) stored from ${a.from_env}")
        return 0
    with _tokens(ctx) as tokens:
        token = tokens.create_token(ctx.args.name, ctx.args.role)
    if ctx.json:
        ctx.print_json({"name": ctx.args.name, "role": ctx.args.role, "token": token})
    else:
        ctx.out.print(token, markup=False, highlight=False)
        ctx.note(f"token {ctx.args.name!r} ({ctx.args.role}): copy it now, it is not shown again. "
                 "Clients send it as SHIPYARD_TRACKING_TOKEN.")
    return 0


def _token_dict(t: Any) -> dict[str, Any]:
    return {"name": t.name, "role": t.role, "created_time": t.created_time, "last_used_time": t.last_used_time}


def list_tokens(ctx: Context) -> int:
    from shipyard.cli._base import format_time
    from shipyard.cli._table import Col, emit

    with _tokens(ctx) as store:
        tokens = store.list_tokens()
    cols = [Col("Name", lambda t: t.name, rank=0), Col("Role", lambda t: t.role, rank=0),
            Col("Created", lambda t: t.created_time, format_time), Col("Last used", lambda t: t.last_used_time,
                                                                         format_time)]
    emit(ctx, cols, tokens, lambda: [_token_dict(t) for t in tokens])
    return 0


def revoke_token(ctx: Context) -> int:
    with _tokens(ctx) as tokens:
        tokens.revoke_token(ctx.args.name)
    ctx.note(f"token {ctx.args.name!r} revoked")
    return 0
