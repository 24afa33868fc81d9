"""``shipyard pipelines list|run|runs|show|logs|cancel|scheduler``.

Pipelines are found in ``--module`` (a dotted module or a ``.py`` file, repeatable) or, without it,
in the ``pipelines:`` list of ``shipyard.yaml`` in the working directory.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from shipyard.cli._base import Context, add_verb, add_verbs, positive_int
from shipyard.cli._table import add_output_options

if TYPE_CHECKING:
    from shipyard.entities import PipelineRun
    from shipyard.pipelines import Pipeline

HELP = "run pipelines, inspect their runs and logs, and run the scheduler"


def register(parser: argparse.ArgumentParser) -> None:
    verbs = add_verbs(parser)

    def finder(p: argparse.ArgumentParser) -> None:
        p.add_argument("--module", metavar="M", action="append", default=None,
                       help="module or .py file defining pipelines (repeatable; default: shipyard.yaml)")

    p = add_verb(verbs, "list", list_pipelines, "the pipelines found, with their schedules, next runs and parameters")
    finder(p)
    add_output_options(p)
    p = add_verb(verbs, "run", run_pipeline, "run a pipeline now, in this process")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--param", metavar="K=V", action="append", default=[], help="a parameter (repeatable)")
    p.add_argument("--executor", metavar="E", default=None,
                   help="threads (default), processes, dask (a local cluster), dask://host:8786")
    finder(p)
    p = add_verb(verbs, "runs", list_runs, "recent pipeline runs, newest first")
    p.add_argument("--pipeline", metavar="NAME", default=None)
    p.add_argument("--max-results", metavar="N", type=positive_int, default=50)
    add_output_options(p)
    p = add_verb(verbs, "show", show_run, "a pipeline run and its task runs")
    p.add_argument("run_id", metavar="RUN_ID")
    p = add_verb(verbs, "logs", show_logs, "captured stdout, stderr and logging of a run's tasks")
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--task", metavar="T", default=None, help="only this task (its key, e.g. train[2])")
    p = add_verb(verbs, "cancel", cancel_run, "cancel a queued or running pipeline run")
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--wait", metavar="S", type=float, default=5.0,
                   help="seconds to wait for a running run's driver to end it (5)")
    p.add_argument("--force", action="store_true",
                   help="end a RUNNING run CANCELLED now, without its driver: for a run whose process is gone "
                        "(a killed scheduler), which would otherwise block its pipeline's max_active_runs")
    p = add_verb(verbs, "scheduler", serve, "run scheduled and queued pipelines until interrupted")
    p.add_argument("--poll", metavar="S", type=float, default=1.0, help="seconds between checks (1)")
    add_executor_option(p)
    finder(p)


def add_executor_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--executor", metavar="E", default=None,
                   help="where scheduled pipelines and policy retrainings run: threads (default), processes, "
                        "dask://host:8786 (a Dask scheduler; its workers get this process's tracking URI and "
                        "token); a pipeline's own executor= comes first")


def _setup(ctx: Context) -> None:
    if ctx.tracking_uri:
        os.environ["SHIPYARD_TRACKING_URI"] = ctx.tracking_uri


def find_pipelines(modules: list[str] | None, *, required: bool = True) -> dict[str, Pipeline]:
    """Pipelines defined at the top level of the named modules (or shipyard.yaml's ``pipelines``)."""
    from shipyard.cli._project import find_pipelines as find

    return find(modules, required=required)


def _pipeline(ctx: Context) -> Pipeline:
    from shipyard.errors import NotFound

    found = find_pipelines(ctx.args.module)
    if ctx.args.name not in found:
        raise NotFound(f"no pipeline {ctx.args.name!r} (found: {', '.join(sorted(found)) or 'none'})")
    return found[ctx.args.name]


def list_pipelines(ctx: Context) -> int:
    from datetime import UTC, datetime

    from shipyard.cli._base import format_time
    from shipyard.cli._table import Col, emit

    now = datetime.now(UTC)
    rows = []
    found = find_pipelines(ctx.args.module, required=False)
    if not found and not ctx.args.module:
        return _list_announced(ctx, now)
    for p in found.values():
        due = p.schedule.next_after(now) if p.schedule else None
        rows.append({"name": p.name, "schedule": str(p.schedule) if p.schedule else None,
                     "next_run": None if due is None else int(due.timestamp() * 1000),
                     "parameters": list(p.signature.parameters)})
    cols = [Col("Name", lambda r: r["name"], rank=0), Col("Schedule", lambda r: r["schedule"]),
            Col("Next run", lambda r: r["next_run"], format_time),
            Col("Parameters", lambda r: ", ".join(r["parameters"]) or None, rank=2, wrap=True)]
    emit(ctx, cols, rows, lambda: rows)
    return 0


def _list_announced(ctx: Context, now: Any) -> int:
    """Without code here (no --module, no shipyard.yaml): the scheduled pipelines that schedulers
    announced to the store, as the web UI shows them (a store on a server works too)."""
    from shipyard.cli._base import format_time
    from shipyard.cli._table import Col, emit
    from shipyard.errors import ShipyardError
    from shipyard.pipelines import Schedule
    from shipyard.pipelines._pipeline import _store

    _setup(ctx)
    rows = []
    for info in _store()[0].list_pipelines():
        try:
            due = Schedule.parse(info.schedule, info.timezone).next_after(now)
        except ShipyardError:
            due = None
        rows.append({"name": info.name, "schedule": str(Schedule(info.schedule, info.timezone)),
                     "next_run": None if due is None else int(due.timestamp() * 1000),
                     "parameters": info.parameters, "scheduler": info.owner, "seen_time": info.seen_time})
    ctx.note("no --module and no pipelines in shipyard.yaml here: the scheduled pipelines schedulers announced "
             "to the store")
    cols = [Col("Name", lambda r: r["name"], rank=0), Col("Schedule", lambda r: r["schedule"]),
            Col("Next run", lambda r: r["next_run"], format_time),
            Col("Scheduler", lambda r: r["scheduler"], rank=3),
            Col("Seen", lambda r: r["seen_time"], format_time, rank=3),
            Col("Parameters", lambda r: ", ".join(r["parameters"]) or None, rank=2, wrap=True)]
    emit(ctx, cols, rows, lambda: rows, empty_note="no scheduler has announced a pipeline to this store: pass "
         "--module M (or list modules in shipyard.yaml) to list pipelines from code")
    return 0


def run_pipeline(ctx: Context) -> int:
    from datetime import UTC, datetime

    from shipyard.errors import InvalidInput

    _setup(ctx)
    chosen = _pipeline(ctx)
    given: dict[str, Any] = {}
    for item in ctx.args.param:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidInput(f"--param {item!r}: write KEY=VALUE")
        given[key] = value
    params = chosen.resolve_params(given, datetime.now(UTC), coerce=True)
    run = chosen.run(executor=ctx.args.executor, **params)
    _print_run(ctx, run)
    return 0 if run.state == "SUCCEEDED" else 1


def _run_dict(run: PipelineRun, tasks: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"run_id": run.run_id, "pipeline": run.pipeline, "state": run.state, "trigger": run.trigger,
           "params": run.params, "logical_date": run.logical_date, "start_time": run.start_time,
           "end_time": run.end_time, "error": run.error}
    if tasks:
        out["task_runs"] = [{"key": t.key, "task_name": t.task_name, "state": t.state, "attempts": t.attempts,
                             "start_time": t.start_time, "end_time": t.end_time, "error": t.error,
                             "error_kind": t.error_kind, "tracking_run_id": t.tracking_run_id}
                            for t in run.task_runs]
    return out


def _print_run(ctx: Context, run: PipelineRun) -> None:
    from shipyard.cli._base import format_duration, format_time, key_values, table

    if ctx.json:
        ctx.print_json(_run_dict(run, tasks=True))
        return
    ctx.section(key_values([("Run ID", run.run_id), ("Pipeline", run.pipeline), ("State", run.state),
                            ("Trigger", run.trigger), ("Params", str(run.params)),
                            ("Start time", format_time(run.start_time)),
                            ("Duration", format_duration(run.start_time, run.end_time)), ("Error", run.error)],
                           title=f"Pipeline run {run.run_id}"))
    tasks = table("Task", "State", "Attempts", "Duration", "Error", title="Tasks")
    for t in run.task_runs:
        tasks.add_row(t.key, t.state, str(t.attempts), format_duration(t.start_time, t.end_time), t.error or "")
    ctx.section(tasks)


def list_runs(ctx: Context) -> int:
    from shipyard.cli._base import format_duration, format_time
    from shipyard.cli._table import Col, emit
    from shipyard.pipelines._pipeline import _store

    _setup(ctx)
    runs = _store()[0].list_pipeline_runs(ctx.args.pipeline, max_results=ctx.args.max_results)
    cols = [Col("Run ID", lambda r: r.run_id, rank=0), Col("Pipeline", lambda r: r.pipeline, rank=0),
            Col("State", lambda r: r.state, rank=0), Col("Trigger", lambda r: r.trigger, rank=3),
            Col("Started", lambda r: r.start_time, format_time, rank=2),
            Col("Duration", lambda r: r.end_time and r.start_time and r.end_time - r.start_time,
                lambda ms: "-" if not ms else format_duration(1, 1 + ms), rank=2)]
    emit(ctx, cols, runs, lambda: [_run_dict(r, tasks=False) for r in runs])
    return 0


def show_run(ctx: Context) -> int:
    from shipyard.pipelines._pipeline import _store

    _setup(ctx)
    _print_run(ctx, _store()[0].get_pipeline_run(ctx.args.run_id))
    return 0


def show_logs(ctx: Context) -> int:
    from shipyard.errors import NotFound
    from shipyard.pipelines._pipeline import _store

    _setup(ctx)
    run = _store()[0].get_pipeline_run(ctx.args.run_id)
    tasks = run.task_runs
    if ctx.args.task is not None:
        tasks = [t for t in tasks if ctx.args.task in (t.key, t.task_name)]
        if not tasks:
            raise NotFound(f"pipeline run {run.run_id} has no task {ctx.args.task!r} "
                           f"(tasks: {', '.join(t.key for t in run.task_runs)})")
    if ctx.json:
        ctx.print_json([{"key": t.key, "logs": t.logs, "traceback": t.traceback} for t in tasks])
        return 0
    for t in tasks:
        ctx.out.print(f"== {t.key} ({t.state})", markup=False)
        ctx.out.print((t.logs or "") + (t.traceback or ""), markup=False, end="")
    return 0


def cancel_run(ctx: Context) -> int:
    from shipyard.pipelines import cancel

    _setup(ctx)
    run = cancel(ctx.args.run_id, force=ctx.args.force, wait_s=ctx.args.wait)
    if run.state == "RUNNING":
        ctx.note(f"cancel requested for pipeline run {run.run_id}: still RUNNING after {ctx.args.wait:g} s. Its "
                 "driver ends it once the tasks already running finish; if the process that ran it is gone "
                 f"(a killed scheduler), end it now with: shipyard pipelines cancel {run.run_id} --force")
    else:
        ctx.note(f"pipeline run {run.run_id} is {run.state}" + (f" ({run.error})" if run.error else ""))
    if ctx.json:
        ctx.print_json(_run_dict(run, tasks=False))
    return 0


def scheduler_jobs(store: Any, modules: list[str] | None, executor: str | None = None) -> Any:
    """The one job list of ``shipyard scheduler`` and ``shipyard server --scheduler``: the scheduled
    pipelines and the policies of ``modules`` (or shipyard.yaml), the running rollouts, and the
    store's scheduled monitors, re-read at every tick (a :class:`shipyard.automation.JobList`).
    ``executor`` is where pipelines (scheduled, queued, and policies' retrainings) run."""
    from shipyard.automation import JobList
    from shipyard.cli._project import find_pipelines as find
    from shipyard.cli._project import find_policies
    from shipyard.pipelines._executors import check_executor

    return JobList(store, find(modules, required=False).values(), find_policies(modules, required=False).values(),
                   executor=check_executor(executor))


def serve(ctx: Context) -> int:
    from shipyard.pipelines import Scheduler
    from shipyard.pipelines._pipeline import _store

    _setup(ctx)
    store = _store()[0]
    jobs = scheduler_jobs(store, ctx.args.module, ctx.args.executor)
    ctx.note(f"scheduler: {jobs.describe()}, on {store.uri}")
    Scheduler(jobs, store, poll_s=ctx.args.poll).serve()
    return 0
