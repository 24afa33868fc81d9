"""``shipyard deployments create|update|list|show|history|rollback|compact-log``.

Routes are written the way people say them: ``--route churn:3:90 --route churn@challenger:10``
(model, then ``:VERSION`` or ``@ALIAS``, then an optional ``:WEIGHT``). An alias is resolved to a
version when the revision is written, so the revision stays what it was when the alias moves later.
``update`` changes only what is given; the rest is copied from the current revision by the store.

Served with features: ``--features trips:trips_1h,trips:docks_free --entity-key station_id``; the
requests then carry only the entity keys (see docs/features.md, "Serving with features").
"""

from __future__ import annotations

import argparse
import getpass
from typing import TYPE_CHECKING, Any

from shipyard.cli._base import Context, add_verb, add_verbs, positive_int
from shipyard.cli._table import add_output_options

if TYPE_CHECKING:
    from shipyard.entities import Deployment, DeploymentRevision, Route

HELP = "deployments: named endpoints with weighted, shadow and batched routes, revisions and rollback"


def route_spec(text: str, *, weighted: bool = True) -> dict[str, Any]:
    """``MODEL:VERSION[:WEIGHT]`` or ``MODEL@ALIAS[:WEIGHT]`` -> the dict ``create_deployment`` takes."""
    usage = "MODEL:VERSION[:WEIGHT] or MODEL@ALIAS[:WEIGHT]" if weighted else "MODEL:VERSION or MODEL@ALIAS"
    if "@" in text:
        model, _, rest = text.partition("@")
        target, *extra = rest.split(":")
        key, value = "alias", target
    else:
        model, *parts = text.split(":")
        if not parts:
            raise argparse.ArgumentTypeError(f"route {text!r}: expected {usage}")
        key, value, extra = "version", parts[0], parts[1:]
    if not model or not value or len(extra) > (1 if weighted else 0):
        raise argparse.ArgumentTypeError(f"route {text!r}: expected {usage}")
    spec: dict[str, Any] = {"model": model}
    if key == "version":
        try:
            spec["version"] = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"route {text!r}: version {value!r} is not an integer") from None
    else:
        spec["alias"] = value
    if extra:
        try:
            spec["weight"] = float(extra[0])
        except ValueError:
            raise argparse.ArgumentTypeError(f"route {text!r}: weight {extra[0]!r} is not a number") from None
    return spec


def shadow_spec(text: str) -> dict[str, Any]:
    return route_spec(text, weighted=False)


def _who() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (containers without a passwd entry)
        return ""


def _revision_options(parser: argparse.ArgumentParser, *, creating: bool) -> None:
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--route", dest="routes", action="append", type=route_spec, required=creating,
                        metavar="MODEL:VERSION[:WEIGHT]",
                        help="a model version (or MODEL@ALIAS) and its traffic weight; repeat for a split")
    parser.add_argument("--shadow", dest="shadow", action="append", type=shadow_spec, metavar="MODEL:VERSION",
                        help="a model version (or MODEL@ALIAS) that sees a copy of every request and never answers")
    if not creating:
        parser.add_argument("--no-shadow", action="store_true", help="remove every shadow route")
    parser.add_argument("--max-batch-size", type=positive_int, metavar="N",
                        help="largest micro-batch a model predicts at once")
    parser.add_argument("--max-wait-ms", type=int, metavar="N",
                        help="longest a request waits for others to fill a batch (0: never waits)")
    parser.add_argument("--features", dest="features", action="append", metavar="VIEW:FEATURE,...",
                        help="serve with these features looked up in the online store (requests carry the "
                             "entity keys); comma-separated or repeated")
    parser.add_argument("--entity-key", dest="entity_keys", action="append", metavar="KEY",
                        help="a join key requests carry (default: the feature views' join keys); repeatable")
    parser.add_argument("--on-missing", choices=["error", "default"], default=None,
                        help="an entity the online store lacks: 404 naming it (error, the default) or default values")
    parser.add_argument("--default", dest="defaults", action="append", metavar="FEATURE=VALUE",
                        help="the value served for FEATURE of a missing entity (implies --on-missing default; "
                             "NaN where not given)")
    parser.add_argument("--online-store", metavar="URI", default=None,
                        help="sqlite:///path, redis://host:port/db or postgresql://... (default: the feature store's)")
    if not creating:
        parser.add_argument("--no-features", action="store_true",
                            help="serve without features again (requests carry the model's input)")
    parser.add_argument("--reason", metavar="R", default="", help="why, kept in the revision history")
    parser.add_argument("--by", metavar="WHO", default=None, help="who made the change (default: your login)")


def _binding(args: argparse.Namespace) -> dict[str, Any] | None:
    """The feature binding the options describe, as the dict create_deployment takes; None if none."""
    from shipyard.errors import InvalidInput

    extra = [o for o, v in (("--entity-key", args.entity_keys), ("--on-missing", args.on_missing),
                            ("--default", args.defaults), ("--online-store", args.online_store)) if v]
    if not args.features:
        if extra:
            raise InvalidInput(f"{', '.join(extra)}: only with --features VIEW:FEATURE,...")
        return None
    defaults: dict[str, float] = {}
    for item in args.defaults or []:
        name, sep, value = item.partition("=")
        try:
            defaults[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise InvalidInput(f"--default {item!r}: expected FEATURE=NUMBER (nan allowed)")
    refs = [r.strip() for text in args.features for r in text.split(",") if r.strip()]
    return {"features": refs, "entity_keys": args.entity_keys or [],
            "on_missing": args.on_missing or ("default" if defaults else "error"), "defaults": defaults,
            "online_store": args.online_store}


def register(parser: argparse.ArgumentParser) -> None:
    verbs = add_verbs(parser)
    p = add_verb(verbs, "create", create, "create a deployment (revision 1)")
    _revision_options(p, creating=True)
    p.add_argument("--description", metavar="TEXT", default="", help="what the endpoint is for")
    p = add_verb(verbs, "update", update, "write a new revision; only the options given change")
    _revision_options(p, creating=False)
    add_output_options(add_verb(verbs, "list", list_deployments, "list deployments and their current revision"))
    p = add_verb(verbs, "show", show, "a deployment's current revision")
    p.add_argument("name", metavar="NAME")
    p = add_verb(verbs, "history", history, "every revision of a deployment (newest first)")
    p.add_argument("name", metavar="NAME")
    add_output_options(p)
    from shipyard.cli._policies import add_rollout

    add_rollout(verbs)
    p = add_verb(verbs, "rollback", rollback, "make the previous revision current again (as a new revision)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--reason", metavar="R", default="", help="why, kept in the revision history")
    p.add_argument("--by", metavar="WHO", default=None, help="who made the change (default: your login)")
    p.add_argument("--force", action="store_true",
                   help="restore the previous revision even if an automatic rollout rolled its candidate back")
    p = add_verb(verbs, "compact-log", compact_log,
                 "merge the prediction log's segments by hour, then day (safe while replicas write and monitors read)")
    p.add_argument("name", metavar="NAME", nargs="?", default=None, help="one deployment (default: every one)")
    p.add_argument("--grace", type=float, default=600.0, metavar="S",
                   help="seconds replaced files stay for readers that listed them before (default 600)")
    p.add_argument("--settle", type=float, default=300.0, metavar="S",
                   help="seconds after its end (UTC) before a day is merged into one file (default 300)")
    add_output_options(p)


def revision_dict(rev: DeploymentRevision) -> dict[str, Any]:
    return {
        "revision": rev.revision,
        "routes": [r.to_dict() for r in rev.routes],
        "shadow": [r.to_dict() for r in rev.shadow],
        "batching": dict(rev.batching),
        "created_time": rev.created_time,
        "created_by": rev.created_by,
        "reason": rev.reason,
        "rollback_of": rev.rollback_of,
        "features": None if rev.features is None else {
            "features": list(rev.features.features), "entity_keys": list(rev.features.entity_keys),
            "on_missing": rev.features.on_missing,
            "defaults": {k: None if v != v else v for k, v in rev.features.defaults.items()},
            "online_store": rev.features.online_store},
    }


def deployment_dict(d: Deployment) -> dict[str, Any]:
    return {"name": d.name, "description": d.description, "revision": d.revision, "created_time": d.created_time,
            "updated_time": d.updated_time, "current": revision_dict(d.current)}


def _routes_text(routes: list[Route], *, weights: bool = True) -> str:
    total = sum(r.weight for r in routes) or 1.0
    parts = []
    for r in routes:
        text = f"{r.model} v{r.version}" + (f" (@{r.alias})" if r.alias else "")
        if weights and len(routes) > 1:
            text += f" {100 * r.weight / total:.3g}%"
        parts.append(text)
    return ", ".join(parts) or "-"


def _batching_text(batching: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(batching.items())) or "default"


def _batching(args: argparse.Namespace, current: dict[str, int] | None) -> dict[str, int] | None:
    """The batching to write: None (keep the current one) unless an option was given."""
    if args.max_wait_ms is not None and args.max_wait_ms < 0:
        from shipyard.errors import InvalidInput

        raise InvalidInput(f"--max-wait-ms must be >= 0, got {args.max_wait_ms}")
    given = {k: v for k, v in (("max_batch_size", args.max_batch_size), ("max_wait_ms", args.max_wait_ms))
             if v is not None}
    if not given:
        return None
    return {**(current or {}), **given}


def _print_changed(ctx: Context, verb: str, d: Deployment) -> None:
    from rich.markup import escape

    if ctx.json:
        ctx.print_json(deployment_dict(d))
        return
    rev = d.current
    what = f"{verb} deployment {d.name}: revision {rev.revision}"
    if rev.rollback_of is not None:
        what += f" (a copy of revision {rev.rollback_of})"
    ctx.print(escape(f"{what}: {_routes_text(rev.routes)}"))
    if rev.shadow:
        ctx.print(escape(f"  shadow: {_routes_text(rev.shadow, weights=False)}"))
    if rev.features is not None:
        ctx.print(escape(f"  features: {', '.join(rev.features.features)} by {', '.join(rev.features.entity_keys)}"))


def create(ctx: Context) -> int:
    a = ctx.args
    d = ctx.client.create_deployment(a.name, routes=a.routes, shadow=a.shadow, batching=_batching(a, None),
                                     created_by=a.by if a.by is not None else _who(), reason=a.reason,
                                     description=a.description, features=_binding(a))
    _print_changed(ctx, "created", d)
    return 0


def update(ctx: Context) -> int:
    a = ctx.args
    current = ctx.client.get_deployment(a.name)  # NotFound before anything is resolved
    shadow = [] if a.no_shadow else a.shadow
    batching = _batching(a, current.current.batching)
    binding = _binding(a)
    if a.routes is None and shadow is None and batching is None and binding is None and not a.no_features:
        from shipyard.errors import InvalidInput

        raise InvalidInput("nothing to change: give --route, --shadow, --no-shadow, --max-batch-size, --max-wait-ms, "
                           "--features or --no-features")
    d = ctx.client.update_deployment(a.name, routes=a.routes, shadow=shadow, batching=batching,
                                     created_by=a.by if a.by is not None else _who(), reason=a.reason,
                                     features=binding, no_features=a.no_features)
    _print_changed(ctx, "updated", d)
    return 0


def rollback(ctx: Context) -> int:
    a = ctx.args
    d = ctx.client.rollback_deployment(a.name, created_by=a.by if a.by is not None else _who(), reason=a.reason,
                                       force=a.force)
    _print_changed(ctx, "rolled back", d)
    return 0


def list_deployments(ctx: Context) -> int:
    from shipyard.cli._base import format_time
    from shipyard.cli._table import Col, emit

    deployments = ctx.client.list_deployments()
    cols = [Col("Name", lambda d: d.name, rank=0), Col("Revision", lambda d: d.revision),
            Col("Routes", lambda d: _routes_text(d.current.routes), rank=0, wrap=True),
            Col("Shadow", lambda d: _routes_text(d.current.shadow, weights=False), rank=2, wrap=True),
            Col("Updated", lambda d: d.updated_time, format_time, rank=3),
            Col("Description", lambda d: d.description or None, rank=4, wrap=True)]
    emit(ctx, cols, deployments, lambda: [deployment_dict(d) for d in deployments],
         empty_note="no deployments; create one with 'shipyard deployments create NAME --route MODEL:VERSION'")
    return 0


def _revision_rows(rev: DeploymentRevision) -> list[tuple[str, Any]]:
    from shipyard.cli._base import format_time

    rows: list[tuple[str, Any]] = [("Revision", rev.revision), ("Routes", _routes_text(rev.routes)),
                                   ("Shadow", _routes_text(rev.shadow, weights=False)),
                                   ("Batching", _batching_text(rev.batching)),
                                   ("Created", format_time(rev.created_time)), ("By", rev.created_by),
                                   ("Reason", rev.reason)]
    if rev.rollback_of is not None:
        rows.append(("Rollback of", f"revision {rev.rollback_of}"))
    if rev.features is not None:
        b = rev.features
        rows.append(("Features", f"{', '.join(b.features)} by {', '.join(b.entity_keys)} "
                                 f"(missing: {b.on_missing}; online store: {b.online_store or 'default'})"))
    return rows


def show(ctx: Context) -> int:
    from shipyard.cli._base import format_time, key_values

    d = ctx.client.get_deployment(ctx.args.name)
    if ctx.json:
        ctx.print_json(deployment_dict(d))
        return 0
    ctx.section(key_values([("Name", d.name), ("Description", d.description),
                            ("Created", format_time(d.created_time)), *_revision_rows(d.current)],
                           title=f"Deployment {d.name}"))
    return 0


def history(ctx: Context) -> int:
    from shipyard.cli._base import format_time
    from shipyard.cli._table import Col, emit

    revisions = ctx.client.list_deployment_revisions(ctx.args.name)

    def reason(r: DeploymentRevision) -> str | None:
        if r.rollback_of is None:
            return r.reason or None
        return f"rollback to {r.rollback_of}" + (f": {r.reason}" if r.reason else "")

    cols = [Col("Revision", lambda r: r.revision, rank=0), Col("Created", lambda r: r.created_time, format_time),
            Col("By", lambda r: r.created_by, rank=3),
            Col("Routes", lambda r: _routes_text(r.routes), rank=0, wrap=True),
            Col("Shadow", lambda r: _routes_text(r.shadow, weights=False) or None, rank=4, wrap=True),
            Col("Batching", lambda r: _batching_text(r.batching) or None, rank=5),
            Col("Reason", reason, rank=2, wrap=True)]
    emit(ctx, cols, revisions, lambda: [revision_dict(r) for r in revisions])
    return 0


def compact_log(ctx: Context) -> int:
    from shipyard.cli._table import Col, emit
    from shipyard.errors import Conflict, InvalidInput
    from shipyard.serving.compaction import compact_prediction_log, log_root_of

    a = ctx.args
    root = log_root_of(ctx.client.store.artifact_root)
    if root is None:
        raise InvalidInput("the prediction log lives with the server: run compact-log on the server's host, or "
                           "let 'shipyard server --scheduler' compact it every 5 minutes")
    if a.name is not None:
        ctx.client.get_deployment(a.name)  # NotFound for a mistyped name, rather than nothing to do
    report = compact_prediction_log(root, a.name, grace_s=a.grace, settle_s=a.settle)
    if report.skipped:
        raise Conflict(f"nothing compacted: {report.skipped}; run it again once that one is done")
    cols = [Col("Folder", lambda f: f.folder, rank=0), Col("Level", lambda f: {"h": "hour", "d": "day"}[f.level]),
            Col("Files", lambda f: f.inputs), Col("Rows", lambda f: f.rows), Col("Name", lambda f: f.name, rank=3)]
    emit(ctx, cols, report.written, lambda: [
        {"folder": f.folder, "level": f.level, "name": f.name, "inputs": f.inputs, "rows": f.rows}
        for f in report.written], empty_note="nothing to merge")
    ctx.note(f"{report.folders} date folder(s) looked at, {report.files_merged} file(s) merged into "
             f"{len(report.written)}, {report.deleted} replaced file(s) removed")
    return 0
