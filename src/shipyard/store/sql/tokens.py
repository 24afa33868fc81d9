"""API tokens of the shipyard server, kept in the SQL store (table ``api_tokens``, migration 0005).

A token is 32 random bytes (URL-safe text with a ``shy_`` prefix, so secret scanners can spot one);
the store keeps only its SHA-256, so a copy of the database gives no one access. A token is shown
once, when it is created. Tokens are the server's business, not part of the Store interface: the
server reads them from its SQL store directly, and a REST client never sees them.

Roles, each allowing what the one before it does: ``reader`` (read anything), ``writer`` (log runs,
register models, set aliases, ...), ``admin`` (delete things and change deployments).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.errors import AlreadyExists, InvalidInput, NotFound
from shipyard.store.sql import schema as s
from shipyard.store.sql.sqlbase import SqlBase

if TYPE_CHECKING:
    from shipyard.store.sql.store import SqlStore

__all__ = ["ROLES", "ApiToken", "TokenStore", "hash_token"]

ROLES = ("reader", "writer", "admin")
_PREFIX = "shy_"
_GIVEN = re.compile(r"shy_[A-Za-z0-9_-]{32,190}")
_TOUCH_EVERY_MS = 60_000  # last_used_time is written at most once a minute per token


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A token as stored: its name and role, never the token itself."""

    name: str
    role: str
    created_time: int
    last_used_time: int | None = None

    def allows(self, role: str) -> bool:
        """Whether this token's role includes ``role`` (admin > writer > reader)."""
        return ROLES.index(self.role) >= ROLES.index(role)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _now() -> int:
    return int(time.time() * 1000)


class TokenStore(SqlBase):
    """Create, list, revoke and check API tokens on the database of a :class:`SqlStore`."""

    def __init__(self, store: SqlStore) -> None:
        self._engine = store._engine
        self.artifact_root = store.artifact_root

    def create_token(self, name: str, role: str, token: str | None = None) -> str:
        """Store a new token and return it (the only time it is seen). Raises AlreadyExists.

        ``token`` stores a token made elsewhere (a deployment's secret, so the processes that use it
        and the database agree without anyone copying it by hand): ``shy_`` and at least 32 more
        URL-safe characters; InvalidInput otherwise."""
        if not isinstance(name, str) or not name.strip() or len(name) > 256 or any(ord(c) < 32 for c in name):
            raise InvalidInput(f"token name must be a non-empty line of at most 256 characters, got {name!r}")
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        if token is None:
            token = _PREFIX + secrets.token_urlsafe(32)
        elif not _GIVEN.fullmatch(token):
            raise InvalidInput("a given token must be 'shy_' followed by 32 to 190 URL-safe characters "
                               "(e.g. shy_$(openssl rand -hex 32))")
        try:
            with self._write() as conn:
                conn.execute(insert(s.api_tokens).values(name=name, token_hash=hash_token(token), role=role,
                                                         created_time=_now(), last_used_time=None))
        except IntegrityError:
            raise AlreadyExists(f"a token named {name!r} exists already: revoke it or choose another name") from None
        return token

    def has_token(self, name: str, token: str) -> bool:
        """Whether the token named ``name`` is ``token`` (for an idempotent bootstrap)."""
        with self._read() as conn:
            row = conn.execute(select(s.api_tokens.c.token_hash).where(s.api_tokens.c.name == name)).first()
        return row is not None and hmac.compare_digest(row.token_hash, hash_token(token))

    def list_tokens(self) -> list[ApiToken]:
        """Every token, by name."""
        with self._read() as conn:
            rows = conn.execute(select(s.api_tokens).order_by(s.api_tokens.c.name)).all()
        return [ApiToken(r.name, r.role, r.created_time, r.last_used_time) for r in rows]

    def revoke_token(self, name: str) -> None:
        """Delete the token; requests with it fail from now on. Raises NotFound."""
        with self._write() as conn:
            if conn.execute(delete(s.api_tokens).where(s.api_tokens.c.name == name)).rowcount == 0:
                raise NotFound(f"no token named {name!r}")

    def authenticate(self, token: str) -> ApiToken | None:
        """The token's record if ``token`` is a valid token, else None."""
        if not isinstance(token, str) or not token.startswith(_PREFIX) or len(token) > 200:
            return None
        digest = hash_token(token)
        with self._read() as conn:
            row = conn.execute(select(s.api_tokens).where(s.api_tokens.c.token_hash == digest)).first()
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            return None
        now = _now()
        if row.last_used_time is None or now - row.last_used_time > _TOUCH_EVERY_MS:
            with self._write() as conn:
                conn.execute(update(s.api_tokens).where(s.api_tokens.c.name == row.name).values(last_used_time=now))
        return ApiToken(row.name, row.role, row.created_time, now)
