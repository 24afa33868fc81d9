"""``shipyard models list|show|versions|alias set|alias delete``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from shipyard.cli._base import Context, add_verb, add_verbs
from shipyard.cli._table import add_output_options

if TYPE_CHECKING:
    from shipyard.entities import AliasEvent, ModelVersion, RegisteredModel

HELP = "registered models, their versions and aliases"


def register(parser: argparse.ArgumentParser) -> None:
    verbs = add_verbs(parser)
    add_output_options(add_verb(verbs, "list", list_models, "list registered models"))
    p = add_verb(verbs, "show", show_model, "a model's aliases, tags, versions and alias history")
    p.add_argument("name", metavar="NAME")
    p = add_verb(verbs, "versions", list_versions, "list a model's versions (newest first)")
    p.add_argument("name", metavar="NAME")
    add_output_options(p)
    from shipyard.cli._policies import add_validate

    add_validate(verbs)

    alias = verbs.add_parser("alias", help="point an alias (champion, challenger, ...) at a version",
                             description="point an alias (champion, challenger, ...) at a version")
    alias_verbs = alias.add_subparsers(dest="alias_verb", metavar="VERB", required=True)
    p = add_verb(alias_verbs, "set", set_alias, "point NAME@ALIAS at VERSION (recorded in the alias history)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("alias", metavar="ALIAS")
    p.add_argument("version", metavar="VERSION")
    p.add_argument("--reason", metavar="R", default="", help="why, kept in the alias history")
    p = add_verb(alias_verbs, "delete", delete_alias, "remove NAME@ALIAS")
    p.add_argument("name", metavar="NAME")
    p.add_argument("alias", metavar="ALIAS")
    p.add_argument("--reason", metavar="R", default="", help="why, kept in the alias history")


def version_dict(mv: ModelVersion) -> dict[str, Any]:
    return {
        "name": mv.name,
        "version": mv.version,
        "source": mv.source,
        "run_id": mv.run_id,
        "status": mv.status,
        "description": mv.description,
        "aliases": mv.aliases,
        "tags": mv.tags,
        "archived": mv.archived,
        "creation_timestamp": mv.creation_timestamp,
        "last_updated_timestamp": mv.last_updated_timestamp,
    }


def model_dict(m: RegisteredModel) -> dict[str, Any]:
    return {
        "name": m.name,
        "description": m.description,
        "aliases": m.aliases,
        "tags": m.tags,
        "latest_versions": [version_dict(v) for v in m.latest_versions],
        "creation_timestamp": m.creation_timestamp,
        "last_updated_timestamp": m.last_updated_timestamp,
    }


def event_dict(e: AliasEvent) -> dict[str, Any]:
    return {"alias": e.alias, "version": e.version, "previous_version": e.previous_version,
            "timestamp": e.timestamp, "reason": e.reason}


def _all_models(ctx: Context) -> list[RegisteredModel]:
    models: list[RegisteredModel] = []
    token: str | None = None
    while True:
        page = ctx.client.search_registered_models(max_results=100, page_token=token)
        models.extend(page)
        token = page.token
        if not token:
            return models


def _versions(ctx: Context, name: str) -> list[ModelVersion]:
    ctx.client.get_registered_model(name)  # NotFound for an unknown model
    versions: list[ModelVersion] = []
    token: str | None = None
    while True:
        page = ctx.client.search_model_versions(name=name, page_token=token)
        versions.extend(page)
        token = page.token
        if not token:
            return versions


def _aliases_text(aliases: dict[str, int]) -> str:
    return ", ".join(f"{a}->v{v}" for a, v in sorted(aliases.items())) or "-"


def list_models(ctx: Context) -> int:
    from shipyard.cli._base import format_time
    from shipyard.cli._table import Col, emit

    models = _all_models(ctx)
    cols = [Col("Name", lambda m: m.name, rank=0),
            Col("Latest version", lambda m: max((v.version for v in m.latest_versions), default=None)),
            Col("Aliases", lambda m: _aliases_text(m.aliases), wrap=True),
            Col("Updated", lambda m: m.last_updated_timestamp, format_time, rank=2),
            Col("Description", lambda m: m.description or None, rank=3, wrap=True)]
    emit(ctx, cols, models, lambda: [model_dict(m) for m in models], empty_note="no registered models")
    return 0


def _versions_table(versions: list[ModelVersion], title: str | None = None) -> Any:
    from shipyard.cli._base import format_time, format_value, table

    out = table("Version", "Aliases", "Created", "Status", "Run ID", "Source", title=title)
    for v in versions:
        status = f"{v.status} (archived)" if v.archived else v.status
        out.add_row(str(v.version), format_value(", ".join(v.aliases)), format_time(v.creation_timestamp),
                    format_value(status), format_value(v.run_id), format_value(v.source))
    return out


def list_versions(ctx: Context) -> int:
    from shipyard.cli._base import format_time
    from shipyard.cli._table import Col, emit

    versions = _versions(ctx, ctx.args.name)
    cols = [Col("Version", lambda v: v.version, rank=0), Col("Aliases", lambda v: ", ".join(v.aliases) or None),
            Col("Created", lambda v: v.creation_timestamp, format_time, rank=2),
            Col("Status", lambda v: f"{v.status} (archived)" if v.archived else v.status),
            Col("Run ID", lambda v: v.run_id, rank=3), Col("Source", lambda v: v.source, rank=4, wrap=True)]
    emit(ctx, cols, versions, lambda: [version_dict(v) for v in versions],
         empty_note=f"model {ctx.args.name!r} has no versions")
    return 0


def show_model(ctx: Context) -> int:
    from shipyard.cli._base import format_time, format_value, key_values, table

    model = ctx.client.get_registered_model(ctx.args.name)
    versions = _versions(ctx, model.name)
    history = ctx.client.get_alias_history(model.name)
    if ctx.json:
        ctx.print_json({**model_dict(model), "versions": [version_dict(v) for v in versions],
                        "alias_history": [event_dict(e) for e in history]})
        return 0
    ctx.section(key_values([("Name", model.name), ("Description", model.description),
                          ("Created", format_time(model.creation_timestamp)),
                          ("Updated", format_time(model.last_updated_timestamp))], title=f"Model {model.name}"))
    if model.aliases:
        section = table("Alias", "Version", title="Aliases")
        for alias, version in sorted(model.aliases.items()):
            section.add_row(format_value(alias), str(version))
        ctx.section(section)
    if model.tags:
        section = table("Key", "Value", title="Tags")
        for key in sorted(model.tags):
            section.add_row(format_value(key), format_value(model.tags[key]))
        ctx.section(section)
    ctx.section(_versions_table(versions, title="Versions"))
    if history:
        section = table("Time", "Alias", "From", "To", "Reason", title="Alias history")
        for e in history:
            section.add_row(format_time(e.timestamp), format_value(e.alias), format_value(e.previous_version),
                            "deleted" if e.version is None else str(e.version), format_value(e.reason))
        ctx.section(section)
    return 0


def _previous(ctx: Context, name: str, alias: str) -> int | None:
    return ctx.client.get_registered_model(name).aliases.get(alias)  # NotFound for an unknown model


def set_alias(ctx: Context) -> int:
    from rich.markup import escape

    args = ctx.args
    previous = _previous(ctx, args.name, args.alias)
    ctx.client.set_registered_model_alias(args.name, args.alias, args.version, reason=args.reason)
    version = ctx.client.get_model_version_by_alias(args.name, args.alias).version
    if ctx.json:
        ctx.print_json({"name": args.name, "alias": args.alias, "version": version, "previous_version": previous})
    else:
        was = "" if previous is None else f" (was version {previous})"
        ctx.print(escape(f"{args.name}@{args.alias} -> version {version}{was}"))
    return 0


def delete_alias(ctx: Context) -> int:
    from rich.markup import escape

    args = ctx.args
    previous = _previous(ctx, args.name, args.alias)
    ctx.client.delete_registered_model_alias(args.name, args.alias, reason=args.reason)
    if ctx.json:
        ctx.print_json({"name": args.name, "alias": args.alias, "version": None, "previous_version": previous})
    else:
        ctx.print(escape(f"deleted {args.name}@{args.alias} (was version {previous})"))
    return 0
