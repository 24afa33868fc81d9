"""``/api/2.0/mlflow/experiments/...``, ``runs/...`` and ``metrics/...``: MLflow's tracking service
over shipyard's store.

Runs created here keep the system tags the client sends (``mlflow.runName``, ``mlflow.parentRunId``,
``mlflow.user``, ``mlflow.source.*``) as ordinary tags, so filters on them work from either client;
``mlflow.parentRunId`` also sets shipyard's parent link.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from fastapi import APIRouter, Request

from shipyard import entities as e
from shipyard.errors import InvalidInput
from shipyard.server.api._common import ERRORS
from shipyard.server.api._tags import check_run_tags, check_tag_keys
from shipyard.server.auth import ADMIN, READ, WRITE
from shipyard.server.mlflow import _filters, _pages
from shipyard.server.mlflow._proto import (
    Message,
    MlflowRoute,
    add_rpc,
    dataset_in,
    experiment_id,
    experiment_json,
    float_in,
    float_out,
    now_ms,
    run_info_json,
    run_json,
    store_of,
    to_root_uri,
)
from shipyard.server.mlflow.models import model_outputs

__all__ = ["router"]

router = APIRouter(prefix="/api/2.0/mlflow", tags=["mlflow"], route_class=MlflowRoute, responses=ERRORS)

_VIEW_TYPES = {"ACTIVE_ONLY": "active", "DELETED_ONLY": "deleted", "ALL": "all", "1": "active", "2": "deleted",
               "3": "all"}


def _view_type(message: Message, key: str) -> str:
    raw = (message.text(key) or "ACTIVE_ONLY").upper()
    if raw not in _VIEW_TYPES:
        raise InvalidInput(f"{key} must be ACTIVE_ONLY, DELETED_ONLY or ALL, got {raw[:40]!r}")
    return _VIEW_TYPES[raw]


# -- experiments


@add_rpc(router, "POST", "/experiments/create", WRITE, "MLflow CreateExperiment")
def create_experiment(request: Request, message: Message) -> dict[str, Any]:
    tags = message.tags()
    check_tag_keys(request, tags)
    location = message.text("artifact_location")
    eid = store_of(request).create_experiment(message.need("name"), to_root_uri(request, location) if location
                                              else None, tags)
    return {"experiment_id": eid}


@add_rpc(router, "GET", "/experiments/get", READ, "MLflow GetExperiment")
def get_experiment(request: Request, message: Message) -> dict[str, Any]:
    store = store_of(request)
    exp = store.get_experiment(experiment_id(store, message.need("experiment_id")))
    return {"experiment": experiment_json(request, exp)}


@add_rpc(router, "GET", "/experiments/get-by-name", READ, "MLflow GetExperimentByName")
def get_experiment_by_name(request: Request, message: Message) -> dict[str, Any]:
    from shipyard.errors import NotFound

    name = message.need("experiment_name")
    found = store_of(request).get_experiment_by_name(name)
    if found is None:
        raise NotFound(f"Could not find experiment with name '{name}'")
    return {"experiment": experiment_json(request, found)}


_EXPERIMENT_ATTRS = ("name", "experiment_id", "creation_time", "last_update_time", "lifecycle_stage")


def _search_experiments(request: Request, message: Message) -> dict[str, Any]:
    clauses = _filters.parse(message.text("filter"), _EXPERIMENT_ATTRS)
    found = [x for x in store_of(request).search_experiments(_view_type(message, "view_type"), None, 50_000)
             if _filters.matches(clauses, {a: getattr(x, a) for a in _EXPERIMENT_ATTRS}, x.tags)]
    _filters.order(found, [str(o) for o in message.items("order_by")], _EXPERIMENT_ATTRS)
    page, token = _pages.page(found, message.number("max_results", 1000) or 1000, message.text("page_token"))
    return {"experiments": [experiment_json(request, x) for x in page], **({"next_page_token": token} if token
                                                                            else {})}


add_rpc(router, "POST", "/experiments/search", READ, "MLflow SearchExperiments")(_search_experiments)
add_rpc(router, "GET", "/experiments/search", READ, "MLflow SearchExperiments")(_search_experiments)


@add_rpc(router, "POST", "/experiments/update", WRITE, "MLflow UpdateExperiment (rename)")
def update_experiment(request: Request, message: Message) -> dict[str, Any]:
    store = store_of(request)
    store.rename_experiment(experiment_id(store, message.need("experiment_id")), message.need("new_name"))
    return {}


@add_rpc(router, "POST", "/experiments/delete", ADMIN, "MLflow DeleteExperiment")
def delete_experiment(request: Request, message: Message) -> dict[str, Any]:
    store_of(request).delete_experiment(message.need("experiment_id"))
    return {}


@add_rpc(router, "POST", "/experiments/restore", ADMIN, "MLflow RestoreExperiment")
def restore_experiment(request: Request, message: Message) -> dict[str, Any]:
    store_of(request).restore_experiment(message.need("experiment_id"))
    return {}


@add_rpc(router, "POST", "/experiments/set-experiment-tag", WRITE, "MLflow SetExperimentTag")
def set_experiment_tag(request: Request, message: Message) -> dict[str, Any]:
    key = message.need("key")
    check_tag_keys(request, [key])
    store = store_of(request)
    store.set_experiment_tag(experiment_id(store, message.need("experiment_id")), key, message.text("value") or "")
    return {}


# -- runs


def _run_id(message: Message) -> str:
    return message.need("run_id", "run_uuid")


@add_rpc(router, "POST", "/runs/create", WRITE, "MLflow CreateRun")
def create_run(request: Request, message: Message) -> dict[str, Any]:
    store = store_of(request)
    tags = message.tags()
    check_run_tags(request, store, "", tags)
    name = message.text("run_name") or tags.get("mlflow.runName")
    if name:
        tags["mlflow.runName"] = name
    run = store.create_run(experiment_id(store, message.need("experiment_id")), name, message.number("start_time"),
                           tags, message.text("user_id") or tags.get("mlflow.user") or "",
                           tags.get("mlflow.parentRunId") or None)
    if not name:  # shipyard named it: the tag MLflow clients read the name from must say the same
        store.log_batch(run.info.run_id, tags=[e.RunTag("mlflow.runName", run.info.run_name)])
        run = store.get_run(run.info.run_id)
    return {"run": run_json(request, run, [])}


@add_rpc(router, "GET", "/runs/get", READ, "MLflow GetRun")
def get_run(request: Request, message: Message) -> dict[str, Any]:
    store = store_of(request)
    run = store.get_run(_run_id(message))
    return {"run": run_json(request, run, outputs=model_outputs(run))}


@add_rpc(router, "POST", "/runs/update", WRITE, "MLflow UpdateRun")
def update_run(request: Request, message: Message) -> dict[str, Any]:
    store = store_of(request)
    run_id, name = _run_id(message), message.text("run_name")
    info = store.update_run_info(run_id, message.text("status"), message.number("end_time"), name)
    if name:
        store.log_batch(run_id, tags=[e.RunTag("mlflow.runName", name)])
    return {"run_info": run_info_json(request, info)}


@add_rpc(router, "POST", "/runs/delete", ADMIN, "MLflow DeleteRun")
def delete_run(request: Request, message: Message) -> dict[str, Any]:
    store_of(request).delete_run(_run_id(message))
    return {}


@add_rpc(router, "POST", "/runs/restore", ADMIN, "MLflow RestoreRun")
def restore_run(request: Request, message: Message) -> dict[str, Any]:
    store_of(request).restore_run(_run_id(message))
    return {}


def _metric(item: dict[str, Any]) -> e.Metric:
    if not isinstance(item.get("key"), str):
        raise InvalidInput("each metric needs a string 'key'")
    try:
        timestamp, step = int(item.get("timestamp") or now_ms()), int(item.get("step") or 0)
    except (TypeError, ValueError):
        raise InvalidInput(f"metric {item['key'][:40]!r}: timestamp and step must be integers") from None
    return e.Metric(item["key"], float_in(item.get("value"), f"metric {item['key'][:40]!r}"), timestamp, step)


def _log(request: Request, run_id: str, metrics: list[e.Metric], params: list[e.Param],
         tags: list[e.RunTag]) -> dict[str, Any]:
    store = store_of(request)
    check_run_tags(request, store, run_id, tags)
    store.log_batch(run_id, metrics, params, tags)
    if any(t.key == "mlflow.runName" for t in tags):  # MLflow renames a run by this tag
        store.update_run_info(run_id, run_name=next(t.value for t in tags if t.key == "mlflow.runName"))
    return {}


def _pairs(message: Message, key: str) -> list[tuple[str, str]]:
    out = []
    for item in message.objects(key):
        if not isinstance(item.get("key"), str):
            raise InvalidInput(f"each of {key!r} needs a string 'key'")
        out.append((item["key"], "" if item.get("value") is None else str(item["value"])))
    return out


@add_rpc(router, "POST", "/runs/log-metric", WRITE, "MLflow LogMetric")
def log_metric(request: Request, message: Message) -> dict[str, Any]:
    return _log(request, _run_id(message), [_metric(dict(message.data))], [], [])


@add_rpc(router, "POST", "/runs/log-parameter", WRITE, "MLflow LogParam")
def log_param(request: Request, message: Message) -> dict[str, Any]:
    return _log(request, _run_id(message), [], [e.Param(message.need("key"), message.text("value") or "")], [])


@add_rpc(router, "POST", "/runs/set-tag", WRITE, "MLflow SetTag")
def set_tag(request: Request, message: Message) -> dict[str, Any]:
    return _log(request, _run_id(message), [], [], [e.RunTag(message.need("key"), message.text("value") or "")])


@add_rpc(router, "POST", "/runs/delete-tag", WRITE, "MLflow DeleteTag")
def delete_tag(request: Request, message: Message) -> dict[str, Any]:
    key = message.need("key")
    check_tag_keys(request, [key], informational=True)
    store_of(request).delete_tag(_run_id(message), key)
    return {}


def _new_points(request: Request, run_id: str, items: list[dict[str, Any]]) -> list[e.Metric]:
    """The metrics of a batch to store. MLflow 3's ``log_model`` sends the run's points again with a
    ``model_id`` to link them to the model; a point already stored is not stored twice (MLflow's
    store drops such duplicates too)."""
    metrics = [_metric(m) for m in items]
    relinked = {m.key for m, item in zip(metrics, items, strict=True) if item.get("model_id")}
    if not relinked:
        return metrics
    store = store_of(request)
    known = {(p.key, p.timestamp, p.step, p.value) for key in relinked for p in store.get_metric_history(run_id, key)}
    return [m for m, item in zip(metrics, items, strict=True)
            if not (item.get("model_id") and (m.key, m.timestamp, m.step, m.value) in known)]


@add_rpc(router, "POST", "/runs/log-batch", WRITE, "MLflow LogBatch")
def log_batch(request: Request, message: Message) -> dict[str, Any]:
    run_id = _run_id(message)
    return _log(request, run_id, _new_points(request, run_id, message.objects("metrics")),
                [e.Param(k, v) for k, v in _pairs(message, "params")],
                [e.RunTag(k, v) for k, v in _pairs(message, "tags")])


@add_rpc(router, "POST", "/runs/log-inputs", WRITE, "MLflow LogInputs")
def log_inputs(request: Request, message: Message) -> dict[str, Any]:
    datasets = [dataset_in(d) for d in message.objects("datasets")]
    if datasets:
        store_of(request).log_inputs(_run_id(message), datasets)
    return {}


# MLflow's system tags that shipyard keeps as run attributes too: a filter on the tag is run on the
# attribute, so runs shipyard's SDK logged (which may lack the tag) match as well.
_SYSTEM_TAG = re.compile(r"""('(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")"""
                         r"""|\b(?i:tags?)\.(?:`(mlflow\.\w+)`|"(mlflow\.\w+)"|(mlflow\.\w+))(?![\w.])""")
_AS_ATTRIBUTE = {"mlflow.parentRunId": "attributes.parent_run_id", "mlflow.runName": "attributes.run_name"}


@add_rpc(router, "POST", "/runs/log-model", WRITE, "MLflow LogModel (MLflow 2 clients)")
def log_model(request: Request, message: Message) -> dict[str, Any]:
    """MLflow 2's record of a logged model: appended to the run's ``mlflow.log-model.history`` tag,
    as MLflow's server does (MLflow 3 clients use the logged-model calls instead)."""
    run_id, raw = _run_id(message), message.need("model_json")
    try:
        model = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidInput("model_json must be a JSON object") from None
    if not isinstance(model, dict):
        raise InvalidInput("model_json must be a JSON object")
    store = store_of(request)
    try:
        history = orjson.loads(store.get_run(run_id).data.tags.get(_MODEL_HISTORY) or "[]")
    except orjson.JSONDecodeError:
        history = []
    history = [*(history if isinstance(history, list) else []), model]
    return _log(request, run_id, [], [], [e.RunTag(_MODEL_HISTORY, orjson.dumps(history).decode())])


_MODEL_HISTORY = "mlflow.log-model.history"


def _system_tags_as_attributes(text: str | None) -> str | None:
    def swap(m: re.Match[str]) -> str:
        key = m.group(2) or m.group(3) or m.group(4)
        return _AS_ATTRIBUTE.get(key, m.group(0)) if key else m.group(0)

    return _SYSTEM_TAG.sub(swap, text) if text else text


def _search_runs(request: Request, message: Message) -> dict[str, Any]:
    store = store_of(request)
    experiments = [experiment_id(store, str(x)) for x in message.items("experiment_ids")]
    if not experiments:
        raise InvalidInput("experiment_ids must name at least one experiment")
    max_results = message.number("max_results", 1000) or 1000
    page = store.search_runs(experiments, _system_tags_as_attributes(message.text("filter")),
                             _view_type(message, "run_view_type"), max_results,
                             [str(o) for o in message.items("order_by")] or None, message.text("page_token"))
    out: dict[str, Any] = {"runs": [run_json(request, r) for r in page]}
    if page.token:
        out["next_page_token"] = page.token
    return out


add_rpc(router, "POST", "/runs/search", READ, "MLflow SearchRuns")(_search_runs)


@add_rpc(router, "GET", "/metrics/get-history", READ, "MLflow GetMetricHistory")
def get_metric_history(request: Request, message: Message) -> dict[str, Any]:
    history = store_of(request).get_metric_history(_run_id(message), message.need("metric_key"))
    points, token = _pages.page(history, message.number("max_results", 25_000) or 25_000,
                                message.text("page_token"))
    out: dict[str, Any] = {"metrics": [{"key": m.key, "value": float_out(m.value), "timestamp": m.timestamp,
                                        "step": m.step} for m in points]}
    if token:
        out["next_page_token"] = token
    return out
