"""``/api/v1/experiments`` and ``/api/v1/runs``: the TrackingStore over HTTP."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from shipyard import entities as e
from shipyard.errors import NotFound
from shipyard.server.api import schemas as w
from shipyard.server.api._common import ERRORS, LocationsDep, StoreDep, entities, entity, ok, parse
from shipyard.server.api._tags import check_run_tags, check_tag_keys
from shipyard.server.auth import ADMIN, READ, WRITE

__all__ = ["router"]

router = APIRouter(tags=["tracking"], responses=ERRORS)


class CreateExperiment(w.Wire):
    name: str
    artifact_location: str | None = None
    tags: dict[str, str] | None = None


class ExperimentId(w.Wire):
    experiment_id: str


class Experiments(w.Wire):
    experiments: list[w.Experiment]


class RenameExperiment(w.Wire):
    name: str


class Tag(w.Wire):
    key: str
    value: str


class CreateRun(w.Wire):
    experiment_id: str
    run_name: str | None = None
    start_time: w.Int64 | None = None
    tags: dict[str, str] | None = None
    user_id: str = ""
    parent_run_id: str | None = None
    lease_s: float | None = None


class UpdateRun(w.Wire):
    status: str | None = None
    end_time: w.Int64 | None = None
    run_name: str | None = None


class LogBatch(w.Wire):
    metrics: list[w.Metric] = []
    params: list[w.Param] = []
    tags: list[w.RunTag] = []
    batch_id: str | None = None  # a batch applied before (a client's resend) is answered as success


class RenewLease(w.Wire):
    lease_s: float


class LeaseState(w.Wire):
    running: bool


class EndRun(LogBatch):
    status: str
    end_time: w.Int64


class SearchRuns(w.Wire):
    experiment_ids: list[str]
    filter: str | None = None
    view_type: str = "active"
    max_results: w.MaxResults = 1000
    order_by: list[str] | None = None
    page_token: str | None = None


class RunsPage(w.Wire):
    runs: list[w.Run]
    next_page_token: str | None = None


class MetricHistory(w.Wire):
    metrics: list[w.Metric]


class LogInputs(w.Wire):
    datasets: list[w.DatasetInput]


# -- experiments


@router.post("/experiments", dependencies=[WRITE], response_model=ExperimentId)
def create_experiment(request: Request, body: CreateExperiment, store: StoreDep, locations: LocationsDep) -> Response:
    check_tag_keys(request, body.tags or {})
    eid = store.create_experiment(body.name, locations.from_api_opt(body.artifact_location), body.tags)
    return ok({"experiment_id": eid})


@router.get("/experiments", dependencies=[READ], response_model=Experiments)
def search_experiments(request: Request, store: StoreDep, view_type: str = "active", name_like: str | None = None,
                       max_results: w.MaxResults = 1000) -> Response:
    return entities(request, "experiments", store.search_experiments(view_type, name_like, max_results))


@router.get("/experiments/by-name", dependencies=[READ], response_model=w.Experiment)
def get_experiment_by_name(request: Request, store: StoreDep, name: str = Query()) -> Response:
    found = store.get_experiment_by_name(name)
    if found is None:
        raise NotFound(f"experiment {name!r} not found")
    return entity(request, found)


@router.get("/experiments/{experiment_id}", dependencies=[READ], response_model=w.Experiment)
def get_experiment(request: Request, experiment_id: str, store: StoreDep) -> Response:
    return entity(request, store.get_experiment(experiment_id))


@router.patch("/experiments/{experiment_id}", dependencies=[WRITE])
def rename_experiment(experiment_id: str, body: RenameExperiment, store: StoreDep) -> Response:
    store.rename_experiment(experiment_id, body.name)
    return ok()


@router.delete("/experiments/{experiment_id}", dependencies=[ADMIN])
def delete_experiment(experiment_id: str, store: StoreDep) -> Response:
    store.delete_experiment(experiment_id)
    return ok()


@router.post("/experiments/{experiment_id}/restore", dependencies=[ADMIN])
def restore_experiment(experiment_id: str, store: StoreDep) -> Response:
    store.restore_experiment(experiment_id)
    return ok()


@router.post("/experiments/{experiment_id}/tags", dependencies=[WRITE])
def set_experiment_tag(request: Request, experiment_id: str, body: Tag, store: StoreDep) -> Response:
    check_tag_keys(request, [body.key])
    store.set_experiment_tag(experiment_id, body.key, body.value)
    return ok()


# -- runs


@router.post("/runs", dependencies=[WRITE], response_model=w.Run)
def create_run(request: Request, body: CreateRun, store: StoreDep) -> Response:
    check_run_tags(request, store, "", body.tags or {})
    run = store.create_run(body.experiment_id, body.run_name, body.start_time, body.tags, body.user_id,
                           body.parent_run_id, body.lease_s)
    return entity(request, run)


@router.post("/runs/search", dependencies=[READ], response_model=RunsPage)
def search_runs(request: Request, body: SearchRuns, store: StoreDep) -> Response:
    page = store.search_runs(body.experiment_ids, body.filter, body.view_type, body.max_results, body.order_by,
                             body.page_token)
    return entities(request, "runs", list(page), next_page_token=page.token)


@router.get("/runs/{run_id}", dependencies=[READ], response_model=w.Run)
def get_run(request: Request, run_id: str, store: StoreDep) -> Response:
    return entity(request, store.get_run(run_id))


@router.patch("/runs/{run_id}", dependencies=[WRITE], response_model=w.RunInfo)
def update_run_info(request: Request, run_id: str, body: UpdateRun, store: StoreDep) -> Response:
    return entity(request, store.update_run_info(run_id, body.status, body.end_time, body.run_name))


@router.delete("/runs/{run_id}", dependencies=[ADMIN])
def delete_run(run_id: str, store: StoreDep) -> Response:
    store.delete_run(run_id)
    return ok()


@router.post("/runs/{run_id}/restore", dependencies=[ADMIN])
def restore_run(run_id: str, store: StoreDep) -> Response:
    store.restore_run(run_id)
    return ok()


def _batch(request: Request, body: LogBatch) -> tuple[list[e.Metric], list[e.Param], list[e.RunTag]]:
    return ([parse(request, e.Metric, m) for m in body.metrics], [e.Param(p.key, p.value) for p in body.params],
            [e.RunTag(t.key, t.value) for t in body.tags])


@router.post("/runs/{run_id}/log-batch", dependencies=[WRITE])
def log_batch(request: Request, run_id: str, body: LogBatch, store: StoreDep) -> Response:
    check_run_tags(request, store, run_id, body.tags)
    store.log_batch(run_id, *_batch(request, body), batch_id=body.batch_id)
    return ok()


@router.post("/runs/{run_id}/end", dependencies=[WRITE], response_model=w.RunInfo)
def end_run(request: Request, run_id: str, body: EndRun, store: StoreDep) -> Response:
    check_run_tags(request, store, run_id, body.tags)
    info = store.end_run(run_id, body.status, body.end_time, *_batch(request, body), batch_id=body.batch_id)
    return entity(request, info)


@router.post("/runs/{run_id}/lease", dependencies=[WRITE], response_model=LeaseState)
def renew_run_lease(run_id: str, body: RenewLease, store: StoreDep) -> Response:
    """The heartbeat of the process running the run: its lease now ends ``lease_s`` from now."""
    return ok({"running": store.renew_run_lease(run_id, body.lease_s)})


@router.delete("/runs/{run_id}/tags", dependencies=[WRITE])
def delete_tag(request: Request, run_id: str, store: StoreDep, key: str = Query()) -> Response:
    check_tag_keys(request, [key], informational=True)
    store.delete_tag(run_id, key)
    return ok()


@router.get("/runs/{run_id}/metrics", dependencies=[READ], response_model=MetricHistory)
def get_metric_history(request: Request, run_id: str, store: StoreDep, key: str = Query()) -> Response:
    return entities(request, "metrics", store.get_metric_history(run_id, key))


@router.post("/runs/{run_id}/inputs", dependencies=[WRITE])
def log_inputs(request: Request, run_id: str, body: LogInputs, store: StoreDep) -> Response:
    store.log_inputs(run_id, [parse(request, e.DatasetInput, d) for d in body.datasets])
    return ok()
