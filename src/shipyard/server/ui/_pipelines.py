"""Pipelines: the scheduled pipelines (schedule, next run, last run, the scheduler serving each, a
"run now" button), the runs (filter by pipeline and state), and a run's tasks with their DAG, states,
logs and errors.

The server never imports pipeline code: what it knows of a pipeline is what the scheduler serving it
announced to the store (``store.list_pipelines()``), and "run now" queues a PENDING run that this
scheduler starts (see :mod:`shipyard.server.api.pipelines` for why that is a writer's).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from shipyard.entities import PIPELINE_STATES
from shipyard.errors import ShipyardError
from shipyard.server.api.pipelines import queue_run_now
from shipyard.server.ui._dag import dag_svg
from shipyard.server.ui._session import ViewerDep, check_form, read_form
from shipyard.server.ui._svg import tasks_svg
from shipyard.server.ui._web import make_router, render

if TYPE_CHECKING:
    from shipyard.entities import PipelineInfo, PipelineRun
    from shipyard.store.base import Store

__all__ = ["Scheduled", "router", "scheduled"]

MAX_RUNS = 200
# A scheduler announces its pipelines every minute; after this long without word it is probably gone,
# and a queued run waits until one starts again.
STALE_MS = 3 * 60_000

router = make_router()


@dataclass(frozen=True, slots=True)
class Scheduled:
    """A scheduled pipeline as the pipelines page shows it."""

    info: PipelineInfo
    next_run: int | None  # ms; None when the schedule has no tick within a year (or cannot be read)
    last_run: PipelineRun | None
    stale: bool  # no scheduler has announced it lately


def scheduled(store: Store, now_ms: int | None = None) -> list[Scheduled]:
    """The announced pipelines with their next run (from their schedule) and their latest run."""
    from shipyard.pipelines import Schedule

    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    out = []
    for info in store.list_pipelines():
        try:
            due = Schedule.parse(info.schedule, info.timezone).next_after(now)
        except ShipyardError:  # announced by a newer shipyard, say: show the rest of the row
            due = None
        last = store.list_pipeline_runs(info.name, max_results=1)
        out.append(Scheduled(info, None if due is None else int(due.timestamp() * 1000), last[0] if last else None,
                             now_ms - info.seen_time > STALE_MS))
    return out


@router.get("/pipelines")
def pipeline_runs(request: Request, who: ViewerDep, pipeline: str = "", state: str = "") -> Response:
    store = request.app.state.store
    states = [state] if state in PIPELINE_STATES else None
    runs = store.list_pipeline_runs(pipeline=pipeline or None, states=states, max_results=MAX_RUNS)
    pipelines = scheduled(store)
    names = sorted({r.pipeline for r in store.list_pipeline_runs(max_results=MAX_RUNS)}
                   | {p.info.name for p in pipelines} | ({pipeline} - {""}))
    return render(request, "pipelines.html", runs=runs, pipeline=pipeline, state=state if states else "",
                  names=names, states=PIPELINE_STATES, scheduled=pipelines, now=int(time.time() * 1000))


@router.post("/pipelines/{name}/run")
async def run_now(request: Request, name: str, who: ViewerDep) -> Response:
    """Queue a run of a scheduled pipeline for its scheduler (writer: the server runs no code)."""
    form = await read_form(request)
    check_form(request, who, form.get("csrf", ""), "writer")
    store = request.app.state.store
    try:
        run = await run_in_threadpool(functools.partial(queue_run_now, store, name))
    except ShipyardError as exc:
        return render(request, "_error.html", exc.http_status, message=exc.message)
    return render(request, "_queued.html", run=run)


@router.get("/pipelines/runs/{run_id}")
def pipeline_run(request: Request, run_id: str, who: ViewerDep) -> Response:
    run = request.app.state.store.get_pipeline_run(run_id)
    counts: dict[str, int] = {}
    for task in run.task_runs:
        counts[task.state] = counts.get(task.state, 0) + 1
    return render(request, "pipeline_run.html", run=run, dag=dag_svg(run.task_runs), picture=tasks_svg(run),
                  counts=sorted(counts.items()), edges=any(t.upstream for t in run.task_runs))
