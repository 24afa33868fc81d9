"""``shipyard features apply|list|show|materialize|schedule``: versioned feature definitions and the online store.

Definitions are Python objects (``Entity``, ``FeatureView``, ``OnDemandFeatureView``) at the top
level of modules or ``.py`` files named on the command line or under ``features:`` in
``shipyard.yaml`` (a list of modules, or ``modules:``), like ``feast apply`` reads a feature
repository; ``features:`` may also declare entities and feature views (:mod:`shipyard.features._yaml`).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from shipyard.cli._base import Context, add_verb, add_verbs
from shipyard.cli._table import add_output_options

HELP = "apply, list and show feature definitions; materialize feature views to the online store"


def register(parser: argparse.ArgumentParser) -> None:
    verbs = add_verbs(parser)
    p = add_verb(verbs, "apply", apply_definitions, "store the definitions of modules (a new version where changed)")
    p.add_argument("modules", metavar="MODULE", nargs="*",
                   help="module or .py file with the definitions (default: shipyard.yaml's features: its modules "
                        "and the entities and feature views it declares)")
    p = add_verb(verbs, "list", list_definitions, "the latest version of each definition")
    p.add_argument("--kind", choices=("entity", "feature_view", "on_demand_feature_view"), default=None)
    add_output_options(p)
    p = add_verb(verbs, "show", show_definition, "a definition's versions and materializations")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--kind", choices=("entity", "feature_view", "on_demand_feature_view"), default=None)
    p = add_verb(verbs, "materialize", materialize, "write views' new rows to the online store (incremental)")
    p.add_argument("views", metavar="VIEW", nargs="*", help="feature views (default: all)")
    p.add_argument("--online-store", metavar="URI", default=None,
                   help="sqlite:///path (default .shipyard/online_features.db) or redis://host:port/db")
    p.add_argument("--full", action="store_true", help="read every row again, not only those since the last run")
    p = add_verb(verbs, "schedule", schedule, "have the shipyard scheduler materialize a view on a schedule")
    p.add_argument("view", metavar="VIEW")
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--every", metavar="SPAN", help="a span: 30s, 10m, 1h, 1d")
    when.add_argument("--cron", metavar="EXPR", help="a cron expression or @hourly, @daily, ...")
    when.add_argument("--off", action="store_true", help="stop materializing it on a schedule")
    p.add_argument("--online-store", metavar="URI", default=None,
                   help="where to (default: the scheduler's, SHIPYARD_ONLINE_STORE or its online_features.db)")


def _setup(ctx: Context) -> None:
    if ctx.tracking_uri:
        os.environ["SHIPYARD_TRACKING_URI"] = ctx.tracking_uri


def _store(ctx: Context, online: str | None = None) -> Any:
    from shipyard.features import FeatureStore

    _setup(ctx)
    return FeatureStore(online_store=online)


def apply_definitions(ctx: Context) -> int:
    from pathlib import Path

    from shipyard.cli._project import PROJECT_FILE, _import, _yaml
    from shipyard.errors import InvalidInput
    from shipyard.features import Entity, FeatureView, OnDemandFeatureView
    from shipyard.features._yaml import definition_modules, parse_definitions

    section = None if ctx.args.modules else _yaml().get("features")
    modules = list(ctx.args.modules) or list(definition_modules(section))
    if not modules and section is None:
        raise InvalidInput("nothing to apply: name a module or .py file, or list them in shipyard.yaml "
                           "(features: [my_project.features], or features: {modules: [...], entities: [...], "
                           "feature_views: [...]})")
    found: list[Any] = []
    for name in modules:
        for value in vars(_import(name)).values():
            if isinstance(value, Entity | FeatureView | OnDemandFeatureView) and value not in found:
                found.append(value)
    if section is not None:
        # declared views may name the modules' entities; a name defined in both places is refused
        python_entities = {v.name: v for v in found if isinstance(v, Entity)}
        declared = list(parse_definitions(section, base=Path.cwd(), entities=python_entities))
        defined = {(type(v).__name__, v.name) for v in found}
        twice = [v.name for v in declared if (type(v).__name__, v.name) in defined]
        if twice:
            raise InvalidInput(f"{PROJECT_FILE}: {', '.join(map(repr, twice))} defined both under features: "
                               "and in a Python module")
        found.extend(declared)
    if not found:
        raise InvalidInput(f"no Entity, FeatureView or OnDemandFeatureView in {', '.join(modules) or PROJECT_FILE}")
    records = _store(ctx).apply(*found)
    unique = list({(r.kind, r.name): r for r in records}.values())
    if ctx.json:
        ctx.print_json([{"kind": r.kind, "name": r.name, "version": r.version} for r in unique])
    else:
        for r in unique:
            ctx.out.print(f"{r.kind} {r.name}: version {r.version}", markup=False, highlight=False)
    return 0


def _summary(spec: dict[str, Any]) -> str:
    from shipyard.features._catalog import source_text

    return source_text(spec.get("source") or {})


def list_definitions(ctx: Context) -> int:
    from shipyard.cli._base import format_time
    from shipyard.cli._table import Col, emit
    from shipyard.features._schedule import SCHEDULE_KIND

    store = _store(ctx).registry
    definitions = [d for d in store.list_feature_definitions(ctx.args.kind) if d.kind != SCHEDULE_KIND]
    fresh = {}
    for d in definitions:
        if d.kind == "feature_view":
            last = store.list_feature_materializations(d.name, max_results=1)
            fresh[d.name] = last[0].end_time if last else None
    cols = [Col("Kind", lambda d: d.kind, rank=2), Col("Name", lambda d: d.name, rank=0),
            Col("Version", lambda d: d.version, rank=0),
            Col("Features / keys", lambda d: ", ".join(d.spec.get("features") or d.spec.get("join_keys") or []) or None,
                rank=1, wrap=True),
            Col("Source", lambda d: _summary(d.spec) or None, rank=3, wrap=True),
            Col("Materialized until", lambda d: fresh.get(d.name), format_time, rank=2)]
    emit(ctx, cols, definitions, lambda: [{"kind": d.kind, "name": d.name, "version": d.version, "spec": d.spec,
                                           "description": d.description, "created_time": d.created_time,
                                           "materialized_until": fresh.get(d.name)} for d in definitions],
         empty_note="no feature definitions; store some with 'shipyard features apply MODULE'")
    return 0


def show_definition(ctx: Context) -> int:
    from shipyard.cli._base import format_time, key_values, table
    from shipyard.errors import NotFound

    store = _store(ctx).registry
    from shipyard.features._schedule import SCHEDULE_KIND, get_materialization_schedule

    versions = [d for d in store.list_feature_definitions(ctx.args.kind, ctx.args.name, all_versions=True)
                if d.kind != SCHEDULE_KIND]
    if not versions:
        raise NotFound(f"no feature definition named {ctx.args.name!r}")
    kinds = sorted({d.kind for d in versions})
    if len(kinds) > 1:
        from shipyard.errors import InvalidInput

        raise InvalidInput(f"{ctx.args.name!r} names a {' and a '.join(kinds)}: pass --kind")
    runs = store.list_feature_materializations(ctx.args.name) if kinds[0] == "feature_view" else []
    latest = versions[-1]
    if ctx.json:
        ctx.print_json({"kind": latest.kind, "name": latest.name,
                        "versions": [{"version": d.version, "spec": d.spec, "digest": d.digest,
                                      "description": d.description, "created_time": d.created_time}
                                     for d in versions],
                        "materializations": [{"version": m.version, "online_store": m.online_store,
                                              "start_time": m.start_time, "end_time": m.end_time, "rows": m.rows,
                                              "created_time": m.created_time} for m in runs]})
        return 0
    planned = get_materialization_schedule(store, latest.name) if latest.kind == "feature_view" else None
    rows = [("kind", latest.kind), ("name", latest.name), ("version", latest.version),
            ("description", latest.description)]
    if planned is not None:
        where = planned.online_store or "the scheduler's online store"
        rows.append(("schedule", f"{planned.schedule} to {where}"))
    rows += [(key, _plain(value) if isinstance(value, list | dict) else value) for key, value in latest.spec.items()]
    ctx.section(key_values(rows, title=f"{latest.kind} {latest.name}"))
    history = table("Version", "Created", "Digest", title="Versions")
    for d in reversed(versions):
        history.add_row(str(d.version), format_time(d.created_time), d.digest[:12])
    ctx.section(history)
    if runs:
        mats = table("Version", "Online store", "Until", "Rows", "Run at", title="Materializations")
        for m in runs:
            mats.add_row(str(m.version), m.online_store, format_time(m.end_time), str(m.rows),
                         format_time(m.created_time))
        ctx.section(mats)
    return 0


def _plain(value: Any) -> str:
    import orjson

    return orjson.dumps(value).decode()


def materialize(ctx: Context) -> int:
    store = _store(ctx, ctx.args.online_store)
    try:
        records = store.materialize(ctx.args.views or None, full=ctx.args.full)
    finally:
        store.close()
    if ctx.json:
        ctx.print_json([{"feature_view": m.feature_view, "version": m.version, "online_store": m.online_store,
                         "start_time": m.start_time, "end_time": m.end_time, "rows": m.rows} for m in records])
    else:
        for m in records:
            ctx.out.print(f"{m.feature_view} v{m.version}: {m.rows} rows to {m.online_store}", markup=False,
                          highlight=False)
        if not records:
            ctx.note("nothing new to materialize")
    return 0


def schedule(ctx: Context) -> int:
    from shipyard.pipelines._schedule import Schedule

    a = ctx.args
    text = None if a.off else f"every {a.every}" if a.every else a.cron
    if text is not None:
        Schedule.parse(text)  # a typo fails here, not silently at the scheduler
    planned = _store(ctx).schedule_materialization(a.view, text, online_store=a.online_store)
    if ctx.json:
        ctx.print_json({"feature_view": planned.feature_view, "schedule": planned.schedule,
                        "online_store": planned.online_store})
    elif planned.schedule is None:
        ctx.out.print(f"{planned.feature_view}: no longer materialized on a schedule", markup=False, highlight=False)
    else:
        ctx.out.print(f"{planned.feature_view}: materialized {planned.schedule} by the shipyard scheduler "
                      "(shipyard scheduler, or shipyard server --scheduler)", markup=False, highlight=False)
    return 0
