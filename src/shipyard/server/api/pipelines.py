"""``/api/v1/pipeline-runs``, ``/api/v1/pipelines`` and schedule ticks: the PipelineStore over HTTP (a
writer's job), and "run now" for a scheduled pipeline.

"Run now" (``POST /pipelines/{name}/runs``, and the UI's button) is a writer's although running code
is an admin's: the server runs nothing. It queues a PENDING run of a pipeline a scheduler announced,
with the pipeline's own default parameters; the scheduler that serves it starts the run with the code
its operator gave it (``--module``, ``shipyard.yaml``). That is what ``pipeline.submit()`` does over
``POST /pipeline-runs``, a writer's too; no code, module or parameter comes from the caller.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from shipyard import entities as e
from shipyard.errors import NotFound
from shipyard.server.api import schemas as w
from shipyard.server.api._common import ERRORS, StoreDep, entities, entity, ok, parse
from shipyard.server.auth import READ, WRITE

if TYPE_CHECKING:
    from shipyard.store.base import Store

__all__ = ["queue_run_now", "router"]

router = APIRouter(tags=["pipelines"], responses=ERRORS)


class CreatePipelineRun(w.Wire):
    pipeline: str
    params: dict[str, Any] = {}
    trigger: str = "manual"
    logical_date: w.Int64 | None = None
    state: str = "RUNNING"


class PipelineRuns(w.Wire):
    pipeline_runs: list[w.PipelineRun]


class TaskRuns(w.Wire):
    task_runs: list[w.TaskRun]


class FinishPipelineRun(w.Wire):
    state: str
    task_runs: list[w.TaskRun] = []
    error: str | None = None
    end_time: w.Int64 | None = None


class Claim(w.Wire):
    pipelines: list[str] | None = None


class Claimed(w.Wire):
    pipeline_run: w.PipelineRun | None


class CachedTaskRun(w.Wire):
    task_run: w.TaskRun | None


class ClaimTick(w.Wire):
    name: str
    tick_time: w.Int64
    owner: str


class TickClaimed(w.Wire):
    claimed: bool


class PruneTicks(w.Wire):
    before: w.Int64


class TicksPruned(w.Wire):
    pruned: int


class RenewLease(w.Wire):
    lease_s: float


class LeaseRenewed(w.Wire):
    renewed: bool


class RunsExpired(w.Wire):
    expired: list[str]


class LastTick(w.Wire):
    tick_time: w.Int64 | None


class Pipelines(w.Wire):
    pipelines: list[w.PipelineInfo]


def queue_run_now(store: Store, name: str) -> e.PipelineRun:
    """Queue a run (PENDING, trigger ``run-now``) of the scheduled pipeline ``name`` with its default
    parameters, for the scheduler serving it. Raises NotFound, naming the announced pipelines, when no
    scheduler announced ``name``."""
    known = {p.name: p for p in store.list_pipelines()}
    if name not in known:
        raise NotFound(f"no scheduled pipeline {name!r}: a pipeline can be run from here once a scheduler serving "
                       f"it has started (`shipyard scheduler` or `shipyard server --scheduler`; announced: "
                       f"{', '.join(sorted(known)) or 'none'}). Run any pipeline now with `shipyard pipelines run "
                       f"{name}`")
    return store.create_pipeline_run(name, {}, "run-now", int(time.time() * 1000), state="PENDING")


@router.post("/pipeline-runs", dependencies=[WRITE], response_model=w.PipelineRun)
def create_pipeline_run(request: Request, body: CreatePipelineRun, store: StoreDep) -> Response:
    run = store.create_pipeline_run(body.pipeline, body.params, body.trigger, body.logical_date, body.state)
    return entity(request, run)


@router.get("/pipeline-runs", dependencies=[READ], response_model=PipelineRuns)
def list_pipeline_runs(request: Request, store: StoreDep, pipeline: str | None = None,
                       states: list[str] | None = Query(None), max_results: w.MaxResults = 100) -> Response:
    return entities(request, "pipeline_runs", store.list_pipeline_runs(pipeline, states, max_results))


@router.post("/pipeline-runs/claim", dependencies=[WRITE], response_model=Claimed)
def claim_pending_run(request: Request, body: Claim, store: StoreDep) -> Response:
    return entity(request, store.claim_pending_run(body.pipelines), key="pipeline_run")


@router.post("/pipeline-runs/expire", dependencies=[WRITE], response_model=RunsExpired)
def expire_pipeline_runs(store: StoreDep) -> Response:
    return ok({"expired": store.expire_pipeline_runs()})


@router.get("/pipeline-runs/{run_id}", dependencies=[READ], response_model=w.PipelineRun)
def get_pipeline_run(request: Request, run_id: str, store: StoreDep) -> Response:
    return entity(request, store.get_pipeline_run(run_id))


@router.post("/pipeline-runs/{run_id}/task-runs", dependencies=[WRITE])
def write_task_runs(request: Request, run_id: str, body: TaskRuns, store: StoreDep) -> Response:
    store.write_task_runs(run_id, [parse(request, e.TaskRun, t) for t in body.task_runs])
    return ok()


@router.post("/pipeline-runs/{run_id}/finish", dependencies=[WRITE])
def finish_pipeline_run(request: Request, run_id: str, body: FinishPipelineRun, store: StoreDep) -> Response:
    store.finish_pipeline_run(run_id, body.state, [parse(request, e.TaskRun, t) for t in body.task_runs],
                              body.error, body.end_time)
    return ok()


@router.post("/pipeline-runs/{run_id}/lease", dependencies=[WRITE], response_model=LeaseRenewed)
def renew_pipeline_lease(run_id: str, body: RenewLease, store: StoreDep) -> Response:
    return ok({"renewed": store.renew_pipeline_lease(run_id, body.lease_s)})


@router.post("/pipeline-runs/{run_id}/cancel", dependencies=[WRITE], response_model=w.PipelineRun)
def request_cancel(request: Request, run_id: str, store: StoreDep) -> Response:
    return entity(request, store.request_cancel(run_id))


@router.get("/task-runs/cached", dependencies=[READ], response_model=CachedTaskRun)
def find_cached_task_run(request: Request, store: StoreDep, task_name: str = Query(), cache_key: str = Query(),
                         since: w.Int64 | None = None) -> Response:
    return entity(request, store.find_cached_task_run(task_name, cache_key, since), key="task_run")


@router.post("/schedule-ticks/claim", dependencies=[WRITE], response_model=TickClaimed)
def claim_tick(body: ClaimTick, store: StoreDep) -> Response:
    return ok({"claimed": store.claim_tick(body.name, body.tick_time, body.owner)})


# A scheduler's housekeeping, so a writer's (the role that claims ticks), not only an admin's: it
# deletes nothing a schedule still needs (each one's latest tick stays).
@router.post("/schedule-ticks/prune", dependencies=[WRITE], response_model=TicksPruned)
def prune_ticks(body: PruneTicks, store: StoreDep) -> Response:
    return ok({"pruned": store.prune_ticks(body.before)})


@router.get("/schedule-ticks/last", dependencies=[READ], response_model=LastTick)
def last_tick(store: StoreDep, name: str = Query()) -> Response:
    return ok({"tick_time": store.last_tick(name)})


@router.get("/pipelines", dependencies=[READ], response_model=Pipelines)
def list_pipelines(request: Request, store: StoreDep) -> Response:
    return entities(request, "pipelines", store.list_pipelines())


# A scheduler's bookkeeping, like claiming ticks: it records which pipelines it serves, and runs nothing.
@router.post("/pipelines", dependencies=[WRITE])
def announce_pipelines(request: Request, body: Pipelines, store: StoreDep) -> Response:
    store.announce_pipelines([parse(request, e.PipelineInfo, p) for p in body.pipelines])
    return ok()


@router.post("/pipelines/{name}/runs", dependencies=[WRITE], response_model=w.PipelineRun)
def run_now(request: Request, name: str, store: StoreDep) -> Response:
    return entity(request, queue_run_now(store, name))
