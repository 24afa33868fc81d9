"""``/api/2.0/mlflow/logged-models/...`` and ``runs/outputs``: the logged models MLflow 3's
``log_model`` creates before it uploads a model's files.

shipyard has no logged-model entity of its own: a logged model is a folder of its source run's
artifacts (``<run artifacts>/<name>``, where MLflow 2 and shipyard's SDK put models too, so
``runs:/<run_id>/<name>`` loads it from either client) and a record in a reserved tag of that run
(``shipyard.mlflow.model.<model_id>``: name, folder, status, tags). The model id carries the run id
(``m-<run_id><8 hex>``), so a model is found from its id alone. A model logged without a run gets a
run of its own. Once a model is ``LOGGED_MODEL_READY`` its files are read-only to writers, like the
files of a model shipyard's SDK logged.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from fastapi import APIRouter, Request

from shipyard import entities as e
from shipyard.artifacts import safe_relpath
from shipyard.errors import InvalidInput, NotFound, PermissionDenied
from shipyard.server.api._common import ERRORS
from shipyard.server.api._tags import LOGGED_MODELS_TAG, check_tag_keys, is_admin
from shipyard.server.auth import ADMIN, READ, WRITE
from shipyard.server.mlflow import _filters, _pages
from shipyard.server.mlflow._proto import (
    INTERNAL_TAG_PREFIX,
    Message,
    MlflowRoute,
    add_rpc,
    experiment_id,
    mlflow_uri,
    now_ms,
    store_of,
    tag_list,
)
from shipyard.store.base import Store

__all__ = ["LoggedModel", "check_model_files_writable", "find_model", "model_outputs", "router"]

router = APIRouter(prefix="/api/2.0/mlflow", tags=["mlflow"], route_class=MlflowRoute, responses=ERRORS)

_RECORD = INTERNAL_TAG_PREFIX + "model."
_HAS_MODELS = INTERNAL_TAG_PREFIX + "has-models"
_MODEL_ID = re.compile(r"^m-([0-9a-f]{32})[0-9a-f]{8}$")
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_STATUSES = ("LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED")


@dataclass(frozen=True, slots=True)
class LoggedModel:
    """One MLflow logged model: ``path`` is its folder among its run's artifacts."""

    model_id: str
    run: e.Run
    name: str
    path: str
    status: str
    created: int
    updated: int
    model_type: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def artifact_uri(self) -> str:
        return f"{self.run.info.artifact_uri.rstrip('/')}/{self.path}"

    def record(self) -> str:
        return orjson.dumps({"name": self.name, "path": self.path, "status": self.status, "created": self.created,
                             "updated": self.updated, "model_type": self.model_type, "tags": self.tags}).decode()


def _parse(model_id: str, run: e.Run, raw: str) -> LoggedModel:
    d = orjson.loads(raw)
    return LoggedModel(model_id, run, d["name"], d["path"], d["status"], d["created"], d["updated"],
                       d.get("model_type", ""), d.get("tags", {}))


def _models_of(run: e.Run) -> list[LoggedModel]:
    return [_parse(k[len(_RECORD):], run, v) for k, v in run.data.tags.items() if k.startswith(_RECORD)]


def find_model(store: Store, model_id: str) -> LoggedModel:
    """The logged model with that id. Raises NotFound."""
    m = _MODEL_ID.match(model_id)
    if m is not None:
        try:
            run = store.get_run(m.group(1))
        except NotFound:
            pass
        else:
            raw = run.data.tags.get(_RECORD + model_id)
            if raw is not None:
                return _parse(model_id, run, raw)
    raise NotFound(f"Logged model with ID '{model_id[:80]}' not found")


def _save(store: Store, model: LoggedModel) -> None:
    store.log_batch(model.run.info.run_id, tags=[e.RunTag(_RECORD + model.model_id, model.record())])


def model_outputs(run: e.Run) -> list[dict[str, Any]]:
    """The run's logged models as MLflow's ``RunOutputs.model_outputs``."""
    return [{"model_id": m.model_id, "step": 0} for m in _models_of(run)]


def _json(request: Request, model: LoggedModel) -> dict[str, Any]:
    info = {"model_id": model.model_id, "experiment_id": model.run.info.experiment_id, "name": model.name,
            "creation_timestamp_ms": model.created, "last_updated_timestamp_ms": model.updated,
            "artifact_uri": mlflow_uri(request, model.artifact_uri), "status": model.status,
            "model_type": model.model_type, "source_run_id": model.run.info.run_id, "tags": tag_list(model.tags)}
    params = [{"key": k, "value": v} for k, v in model.run.data.params.items()]
    return {"info": info, "data": {"params": params, "metrics": []}}


def _used_paths(run: e.Run) -> set[str]:
    used = {m.path for m in _models_of(run)}
    try:
        history = orjson.loads(run.data.tags.get(LOGGED_MODELS_TAG) or "[]")
    except orjson.JSONDecodeError:
        history = []
    used |= {str(h.get("artifact_path", "")).strip("/") for h in history if isinstance(h, dict)}
    return used


def _model_id(request: Request) -> str:
    return str(request.path_params.get("model_id", ""))


@add_rpc(router, "POST", "/logged-models", WRITE, "MLflow CreateLoggedModel")
def create_logged_model(request: Request, message: Message) -> dict[str, Any]:
    store = store_of(request)
    name = message.text("name") or "model"
    if "/" in name or safe_relpath(name) != name:
        raise InvalidInput(f"invalid model name {name[:80]!r}: one path component, no '/'")
    tags = message.tags()
    check_tag_keys(request, tags)
    run_id = message.text("source_run_id")
    if run_id is None:  # a model logged outside a run: it gets a run of its own to hold its files
        exp = experiment_id(store, message.need("experiment_id"))
        run_id = store.create_run(exp, name, tags={**tags, "mlflow.runName": name}).info.run_id
        store.update_run_info(run_id, "FINISHED", now_ms())
    run = store.get_run(run_id)
    used = _used_paths(run)
    model_id = f"m-{run.info.run_id}{secrets.token_hex(4)}"
    path = name if name not in used else f"{name}-{model_id[-8:]}"
    now = now_ms()
    model = LoggedModel(model_id, run, name, path, "LOGGED_MODEL_PENDING", now, now,
                        message.text("model_type") or "", tags)
    store.log_batch(run.info.run_id, tags=[e.RunTag(_RECORD + model_id, model.record()),
                                           e.RunTag(_HAS_MODELS, "true")])
    return {"model": _json(request, model)}


@add_rpc(router, "GET", "/logged-models/{model_id}", READ, "MLflow GetLoggedModel")
def get_logged_model(request: Request, message: Message) -> dict[str, Any]:
    return {"model": _json(request, find_model(store_of(request), _model_id(request)))}


@add_rpc(router, "PATCH", "/logged-models/{model_id}", WRITE, "MLflow FinalizeLoggedModel")
def finalize_logged_model(request: Request, message: Message) -> dict[str, Any]:
    store = store_of(request)
    model = find_model(store, _model_id(request))
    status = message.need("status")
    if status not in _STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(_STATUSES)}, got {status[:40]!r}")
    if model.status == "LOGGED_MODEL_READY" and status != model.status and not is_admin(request):
        raise PermissionDenied("a READY logged model stays READY (admins only may change it)")
    model = replace(model, status=status, updated=now_ms())
    _save(store, model)
    return {"model": _json(request, model)}


@add_rpc(router, "DELETE", "/logged-models/{model_id}", ADMIN, "MLflow DeleteLoggedModel")
def delete_logged_model(request: Request, message: Message) -> dict[str, Any]:
    store = store_of(request)
    model = find_model(store, _model_id(request))
    store.delete_tag(model.run.info.run_id, _RECORD + model.model_id)
    return {}


@add_rpc(router, "PATCH", "/logged-models/{model_id}/tags", WRITE, "MLflow SetLoggedModelTags")
def set_logged_model_tags(request: Request, message: Message) -> dict[str, Any]:
    store = store_of(request)
    tags = message.tags()
    check_tag_keys(request, tags)
    model = find_model(store, _model_id(request))
    _save(store, replace(model, tags={**model.tags, **tags}, updated=now_ms()))
    return {}


@add_rpc(router, "DELETE", "/logged-models/{model_id}/tags/{tag_key}", WRITE, "MLflow DeleteLoggedModelTag")
def delete_logged_model_tag(request: Request, message: Message) -> dict[str, Any]:
    store = store_of(request)
    key = str(request.path_params.get("tag_key", ""))
    check_tag_keys(request, [key])
    model = find_model(store, _model_id(request))
    if key not in model.tags:
        raise NotFound(f"logged model {model.model_id} has no tag {key[:80]!r}")
    _save(store, replace(model, tags={k: v for k, v in model.tags.items() if k != key}, updated=now_ms()))
    return {}


_ATTRS = ("name", "model_id", "source_run_id", "status", "model_type", "creation_timestamp_ms",
          "last_updated_timestamp_ms", "creation_time", "last_updated_time")


@add_rpc(router, "POST", "/logged-models/search", READ, "MLflow SearchLoggedModels")
def search_logged_models(request: Request, message: Message) -> dict[str, Any]:
    store = store_of(request)
    clauses = _filters.parse(message.text("filter"), _ATTRS)
    experiments = [experiment_id(store, str(x)) for x in message.items("experiment_ids")]
    if not experiments:
        raise InvalidInput("experiment_ids must name at least one experiment")
    runs = store.search_runs(experiments, f"tags.`{_HAS_MODELS}` = 'true'", "active", 50_000)
    found = []
    for run in runs:
        for m in _models_of(run):
            attrs = {"name": m.name, "model_id": m.model_id, "source_run_id": run.info.run_id, "status": m.status,
                     "model_type": m.model_type, "creation_timestamp_ms": m.created, "creation_time": m.created,
                     "last_updated_timestamp_ms": m.updated, "last_updated_time": m.updated}
            if _filters.matches(clauses, attrs, m.tags):
                found.append(m)
    found.sort(key=lambda m: m.created, reverse=True)
    page, token = _pages.page(found, message.number("max_results", 100) or 100, message.text("page_token"))
    return {"models": [_json(request, m) for m in page], **({"next_page_token": token} if token else {})}


@add_rpc(router, "POST", "/runs/outputs", WRITE, "MLflow LogOutputs")
def log_outputs(request: Request, message: Message) -> dict[str, Any]:
    """The run's models are its outputs already (their records live on it): this checks they exist."""
    store = store_of(request)
    run_id = message.need("run_id")
    store.get_run(run_id)
    for item in message.objects("models"):
        find_model(store, str(item.get("model_id", "")))
    return {}


def check_model_files_writable(request: Request, rel: str) -> None:
    """PermissionDenied when a non-admin writes into a READY logged model's folder (``rel``: relative
    to the artifact root)."""
    if is_admin(request):
        return
    store = store_of(request)
    parts = rel.split("/")
    for i in range(len(parts) - 2):
        if not (_RUN_ID.match(parts[i]) and parts[i + 1] == "artifacts"):
            continue
        try:
            run = store.get_run(parts[i])
        except NotFound:
            continue
        inside = "/".join(parts[i + 2:])
        for m in _models_of(run):
            if m.status == "LOGGED_MODEL_READY" and (inside == m.path or inside.startswith(m.path + "/")):
                raise PermissionDenied(f"artifact {rel[:200]!r} belongs to logged model {m.model_id}, which is READY: "
                                       "its files are read-only to writers (log a new model instead)")
