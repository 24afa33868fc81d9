"""Pipelines: the runs (filter by pipeline and state), and a run's tasks with their states, logs and
errors, and a picture of the tasks.

The store records each task run (key, state, times, attempts, logs) but not the edges of the DAG,
which live in the pipeline's code; the picture therefore draws the tasks in start order on the run's
clock, which shows what ran in parallel and what waited.
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from shipyard.entities import PIPELINE_STATES
from shipyard.server.ui._session import ViewerDep
from shipyard.server.ui._svg import tasks_svg
from shipyard.server.ui._web import make_router, render

__all__ = ["router"]

MAX_RUNS = 200

router = make_router()


@router.get("/pipelines")
def pipeline_runs(request: Request, who: ViewerDep, pipeline: str = "", state: str = "") -> Response:
    store = request.app.state.store
    states = [state] if state in PIPELINE_STATES else None
    runs = store.list_pipeline_runs(pipeline=pipeline or None, states=states, max_results=MAX_RUNS)
    names = sorted({r.pipeline for r in store.list_pipeline_runs(max_results=MAX_RUNS)} | ({pipeline} - {""}))
    return render(request, "pipelines.html", runs=runs, pipeline=pipeline, state=state if states else "",
                  names=names, states=PIPELINE_STATES)


@router.get("/pipelines/runs/{run_id}")
def pipeline_run(request: Request, run_id: str, who: ViewerDep) -> Response:
    run = request.app.state.store.get_pipeline_run(run_id)
    counts: dict[str, int] = {}
    for task in run.task_runs:
        counts[task.state] = counts.get(task.state, 0) + 1
    return render(request, "pipeline_run.html", run=run, picture=tasks_svg(run), counts=sorted(counts.items()))
