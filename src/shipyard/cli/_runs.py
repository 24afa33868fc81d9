"""``shipyard runs list|show``."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import TYPE_CHECKING, Any

from shipyard.cli._base import Context, add_verb, add_verbs, positive_int
from shipyard.cli._table import add_output_options

if TYPE_CHECKING:
    from collections.abc import Callable

    from shipyard.entities import DatasetInput, Run

HELP = "search and inspect runs"

_METRIC_COLUMNS = 4
_PARAM_COLUMNS = 3


def register(parser: argparse.ArgumentParser) -> None:
    verbs = add_verbs(parser)
    p = add_verb(verbs, "list", list_runs, "search runs (all active experiments unless one is named)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--experiment", metavar="NAME", action="append", help="experiment name (repeatable)")
    which.add_argument("--experiment-id", metavar="ID", action="append", help="experiment id (repeatable)")
    p.add_argument("--filter", metavar="F", default=None,
                   help="search filter, e.g. \"metrics.loss < 0.3 and params.model = 'rf'\"")
    p.add_argument("--order-by", metavar="X", nargs="+", action="extend", default=None,
                   help="sort keys, e.g. 'metrics.loss ASC' start_time DESC")
    p.add_argument("--max-results", metavar="N", type=positive_int, default=100, help="at most N runs (100)")
    p.add_argument("--all", action="store_true", help="include deleted runs")
    add_output_options(p)
    p = add_verb(verbs, "show", show_run, "a run's info, params, metrics, tags and datasets")
    p.add_argument("run_id", metavar="RUN_ID")


def dataset_dict(d: DatasetInput, *, full: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": d.name, "digest": d.digest, "context": d.context, "source": d.source,
                           "num_rows": d.num_rows, "targets": d.targets}
    if full:
        out["schema"] = d.schema
        out["profile"] = d.profile
    return out


def run_dict(run: Run, *, full: bool = False) -> dict[str, Any]:
    info = run.info
    return {
        "run_id": info.run_id,
        "run_name": info.run_name,
        "experiment_id": info.experiment_id,
        "status": info.status,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "duration_ms": None if info.end_time is None else info.end_time - info.start_time,
        "lifecycle_stage": info.lifecycle_stage,
        "user_id": info.user_id,
        "parent_run_id": info.parent_run_id,
        "artifact_uri": info.artifact_uri,
        "params": run.data.params,
        "metrics": run.data.metrics,
        "tags": run.data.tags,
        "datasets": [dataset_dict(d, full=full) for d in run.inputs.datasets],
    }


def _experiment_ids(ctx: Context) -> list[str]:
    from shipyard.errors import NotFound

    args = ctx.args
    if args.experiment_id:
        return [ctx.client.get_experiment(i).experiment_id for i in args.experiment_id]
    if args.experiment:
        ids = []
        for name in args.experiment:
            found = ctx.client.get_experiment_by_name(name)
            if found is None:
                raise NotFound(f"experiment {name!r} not found (see 'shipyard experiments list')")
            ids.append(found.experiment_id)
        return ids
    return [e.experiment_id for e in ctx.client.search_experiments("active")]


def _columns(runs: list[Run], order_by: list[str] | None, every: bool = False) -> tuple[list[str], list[str]]:
    """The metric and param keys worth a column: those in an order-by clause, then the most common
    (all of them with ``every``)."""
    def pick(kind: str, counts: Counter[str], limit: int) -> list[str]:
        wanted = [clause.split()[0].removeprefix(f"{kind}.").strip("`\"") for clause in order_by or []
                  if clause.split() and clause.split()[0].startswith(f"{kind}.")]
        ranked = sorted(counts, key=lambda k: (-counts[k], k))
        keys = list(dict.fromkeys(k for k in [*wanted, *ranked] if k in counts))
        return keys[:max(limit, len([k for k in wanted if k in counts]))]

    metrics = Counter(k for r in runs for k in r.data.metrics)
    params = Counter(k for r in runs for k in r.data.params)
    if every:
        return pick("metrics", metrics, len(metrics)), pick("params", params, len(params))
    return pick("metrics", metrics, _METRIC_COLUMNS), pick("params", params, _PARAM_COLUMNS)


def list_runs(ctx: Context) -> int:
    from shipyard.cli._base import format_duration, format_time
    from shipyard.cli._table import Col, emit

    args = ctx.args
    ids = _experiment_ids(ctx)
    runs = ctx.client.search_runs(ids, args.filter, "all" if args.all else "active", args.max_results,
                                  args.order_by) if ids else []
    if getattr(runs, "token", None):
        ctx.note(f"showing the first {len(runs)} runs; more match (raise --max-results)")
    # CSV and --columns see every metric and param; a table shows the most useful that fit.
    wide = args.output == "csv" or args.columns
    metric_keys, param_keys = _columns(runs, args.order_by, every=bool(wide))
    cols = [Col("Run ID", lambda r: r.info.run_id, rank=0), Col("Name", lambda r: r.info.run_name, rank=0),
            Col("Status", lambda r: r.info.status, rank=3),
            *(Col(f"metrics.{k}", _value("metrics", k), rank=2) for k in metric_keys),
            Col("Start time", lambda r: r.info.start_time, format_time, rank=4),
            Col("Duration", _duration_ms, lambda ms: "-" if ms is None else format_duration(1, 1 + ms), rank=5),
            *(Col(f"params.{k}", _value("params", k), rank=4) for k in param_keys)]
    emit(ctx, cols, runs, lambda: [run_dict(r) for r in runs], empty_note="no runs found")
    return 0


def _value(kind: str, key: str) -> Callable[[Run], Any]:
    """Reads one metric or param of a run (None when the run has none)."""
    return lambda run: getattr(run.data, kind).get(key)


def _duration_ms(run: Run) -> int | None:
    """Milliseconds from start to end, None while running."""
    info = run.info
    return None if not info.start_time or not info.end_time else max(info.end_time - info.start_time, 0)


def show_run(ctx: Context) -> int:
    from shipyard.cli._base import format_duration, format_time, format_value, key_values, table
    from shipyard.errors import NotFound

    run = ctx.client.get_run(ctx.args.run_id)
    if ctx.json:
        ctx.print_json(run_dict(run, full=True))
        return 0
    info = run.info
    try:
        experiment = f"{ctx.client.get_experiment(info.experiment_id).name} ({info.experiment_id})"
    except NotFound:
        experiment = info.experiment_id
    ctx.section(key_values([
        ("Run ID", info.run_id), ("Name", info.run_name), ("Experiment", experiment), ("Status", info.status),
        ("Start time", format_time(info.start_time)), ("End time", format_time(info.end_time)),
        ("Duration", format_duration(info.start_time, info.end_time)), ("User", info.user_id),
        ("Parent run", info.parent_run_id), ("Lifecycle", info.lifecycle_stage), ("Artifacts", info.artifact_uri),
    ], title=f"Run {info.run_id}"))
    for title, values in (("Params", run.data.params), ("Metrics", run.data.metrics), ("Tags", run.data.tags)):
        if values:
            section = table("Key", "Value", title=title)
            for key in sorted(values):
                section.add_row(format_value(key), format_value(values[key]))
            ctx.section(section)
    if run.inputs.datasets:
        section = table("Name", "Context", "Rows", "Digest", "Source", title="Datasets")
        for d in run.inputs.datasets:
            section.add_row(format_value(d.name), format_value(d.context), str(d.num_rows), d.digest,
                            format_value(d.source))
        ctx.section(section)
    return 0
