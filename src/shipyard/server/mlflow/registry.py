"""``/api/2.0/mlflow/registered-models/...`` and ``model-versions/...``: MLflow's model registry over
shipyard's registry.

Aliases are shipyard's aliases (moving one is a writer's, as in shipyard: deployments resolve an
alias only when an admin writes a revision). MLflow's deprecated stages are kept for old clients in
the version tag ``mlflow.current_stage``, where shipyard's SDK keeps them too
(``shipyard.entities.STAGE_TAG``): labels nothing that serves traffic reads. MLflow answers show the
stage as ``current_stage``, not among the tags. A version registered from an MLflow 3 logged model
(``models:/m-...``) is stored with the source shipyard loads (``runs:/<run_id>/<folder>``); the
MLflow source is kept for MLflow answers.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request

from shipyard import entities as e
from shipyard.errors import AlreadyExists, InvalidInput, NotFound
from shipyard.server.api._common import ERRORS
from shipyard.server.api._tags import check_tag_keys
from shipyard.server.auth import ADMIN, READ, WRITE
from shipyard.server.mlflow import _filters, _pages
from shipyard.server.mlflow._proto import (
    INTERNAL_TAG_PREFIX,
    MLFLOW_ARTIFACT_SCHEME,
    Message,
    MlflowRoute,
    add_rpc,
    mlflow_uri,
    store_of,
    tag_list,
    to_root_uri,
)
from shipyard.server.mlflow.models import find_model
from shipyard.store.base import Store

__all__ = ["router"]

router = APIRouter(prefix="/api/2.0/mlflow", tags=["mlflow"], route_class=MlflowRoute, responses=ERRORS)

_STAGE = "mlflow.current_stage"  # = shipyard.entities.STAGE_TAG on main (the SDK's stages)
_SOURCE = INTERNAL_TAG_PREFIX + "source"
_MODEL_ID = INTERNAL_TAG_PREFIX + "model_id"
_RUN_FOLDER = re.compile(r"/([0-9a-f]{32})/artifacts/.")
_STAGES = {"none": "None", "staging": "Staging", "production": "Production", "archived": "Archived"}


def _stage(v: e.ModelVersion) -> str:
    return v.tags.get(_STAGE, "None")


def _version_json(request: Request, v: e.ModelVersion) -> dict[str, Any]:
    source = v.tags.get(_SOURCE) or mlflow_uri(request, v.source)
    out: dict[str, Any] = {"name": v.name, "version": str(v.version), "creation_timestamp": v.creation_timestamp,
                           "last_updated_timestamp": v.last_updated_timestamp, "current_stage": _stage(v),
                           "description": v.description, "source": source, "run_id": v.run_id or "",
                           "status": v.status, "run_link": "",
                           "tags": tag_list({k: x for k, x in v.tags.items() if k != _STAGE}), "aliases": v.aliases}
    if v.tags.get(_MODEL_ID):
        out["model_id"] = v.tags[_MODEL_ID]
    return out


def _latest_per_stage(versions: list[e.ModelVersion]) -> list[e.ModelVersion]:
    latest: dict[str, e.ModelVersion] = {}
    for v in versions:
        if _stage(v) not in latest or v.version > latest[_stage(v)].version:
            latest[_stage(v)] = v
    return sorted(latest.values(), key=lambda v: v.version)


def _all_versions(store: Store, name: str | None = None, run_id: str | None = None) -> list[e.ModelVersion]:
    out: list[e.ModelVersion] = []
    token = None
    while True:
        page = store.search_model_versions(name, run_id, True, 1000, token)
        out += list(page)
        token = page.token
        if not token:
            return out


def _model_json(request: Request, m: e.RegisteredModel, versions: list[e.ModelVersion] | None = None) -> dict[str, Any]:
    latest = _latest_per_stage(versions) if versions is not None else m.latest_versions
    return {"name": m.name, "creation_timestamp": m.creation_timestamp,
            "last_updated_timestamp": m.last_updated_timestamp, "description": m.description,
            "latest_versions": [_version_json(request, v) for v in latest], "tags": tag_list(m.tags),
            "aliases": [{"alias": a, "version": str(v)} for a, v in m.aliases.items()]}


def _version(message: Message) -> int:
    raw = message.need("version")
    if not raw.lstrip("-").isdigit() or not -(2**31) <= int(raw) < 2**31:
        raise InvalidInput(f"version must be an integer, got {raw[:40]!r}")
    return int(raw)


# -- registered models


@add_rpc(router, "POST", "/registered-models/create", WRITE, "MLflow CreateRegisteredModel")
def create_registered_model(request: Request, message: Message) -> dict[str, Any]:
    tags = message.tags()
    check_tag_keys(request, tags)
    name = message.need("name")
    store = store_of(request)
    try:
        model = store.create_registered_model(name, tags, message.text("description") or "")
    except AlreadyExists:
        raise AlreadyExists(f"Registered Model (name={name}) already exists.") from None
    return {"registered_model": _model_json(request, model)}


@add_rpc(router, "GET", "/registered-models/get", READ, "MLflow GetRegisteredModel")
def get_registered_model(request: Request, message: Message) -> dict[str, Any]:
    store = store_of(request)
    model = store.get_registered_model(message.need("name"))
    return {"registered_model": _model_json(request, model, _all_versions(store, model.name))}


@add_rpc(router, "PATCH", "/registered-models/update", WRITE, "MLflow UpdateRegisteredModel")
def update_registered_model(request: Request, message: Message) -> dict[str, Any]:
    model = store_of(request).update_registered_model(message.need("name"), message.text("description") or "")
    return {"registered_model": _model_json(request, model)}


@add_rpc(router, "DELETE", "/registered-models/delete", ADMIN, "MLflow DeleteRegisteredModel")
def delete_registered_model(request: Request, message: Message) -> dict[str, Any]:
    store_of(request).delete_registered_model(message.need("name"))
    return {}


_MODEL_ATTRS = ("name", "creation_timestamp", "last_updated_timestamp", "description")


@add_rpc(router, "GET", "/registered-models/search", READ, "MLflow SearchRegisteredModels")
def search_registered_models(request: Request, message: Message) -> dict[str, Any]:
    store = store_of(request)
    clauses = _filters.parse(message.text("filter"), _MODEL_ATTRS)
    # A name equality narrows the store's query; the rest is matched here.
    exact = next((c.values[0] for c in clauses if c.kind == "attr" and c.key == "name" and c.op == "="), None)
    models: list[e.RegisteredModel] = []
    token = None
    while True:
        # (a name with LIKE's wildcards in it is matched here only, never as a pattern)
        plain = exact is not None and not any(c in str(exact) for c in "%_\\")
        page = store.search_registered_models(str(exact) if plain else None, 1000, token)
        models += [m for m in page if _filters.matches(clauses, {a: getattr(m, a) for a in _MODEL_ATTRS}, m.tags)]
        token = page.token
        if not token:
            break
    _filters.order(models, [str(o) for o in message.items("order_by")] or ["name"], _MODEL_ATTRS)
    chosen, nxt = _pages.page(models, message.number("max_results", 100) or 100, message.text("page_token"))
    return {"registered_models": [_model_json(request, m) for m in chosen], **({"next_page_token": nxt} if nxt
                                                                                else {})}


@add_rpc(router, "POST", "/registered-models/set-tag", WRITE, "MLflow SetRegisteredModelTag")
def set_registered_model_tag(request: Request, message: Message) -> dict[str, Any]:
    key = message.need("key")
    check_tag_keys(request, [key])
    store_of(request).set_registered_model_tag(message.need("name"), key, message.text("value") or "")
    return {}


@add_rpc(router, "DELETE", "/registered-models/delete-tag", WRITE, "MLflow DeleteRegisteredModelTag")
def delete_registered_model_tag(request: Request, message: Message) -> dict[str, Any]:
    key = message.need("key")
    check_tag_keys(request, [key])
    store_of(request).delete_registered_model_tag(message.need("name"), key)
    return {}


@add_rpc(router, "POST", "/registered-models/alias", WRITE, "MLflow SetRegisteredModelAlias")
def set_alias(request: Request, message: Message) -> dict[str, Any]:
    store_of(request).set_registered_model_alias(message.need("name"), message.need("alias"), _version(message),
                                                 "set by an MLflow client")
    return {}


@add_rpc(router, "DELETE", "/registered-models/alias", WRITE, "MLflow DeleteRegisteredModelAlias")
def delete_alias(request: Request, message: Message) -> dict[str, Any]:
    store_of(request).delete_registered_model_alias(message.need("name"), message.need("alias"),
                                                    "deleted by an MLflow client")
    return {}


@add_rpc(router, "GET", "/registered-models/alias", READ, "MLflow GetModelVersionByAlias")
def get_by_alias(request: Request, message: Message) -> dict[str, Any]:
    v = store_of(request).get_model_version_by_alias(message.need("name"), message.need("alias"))
    return {"model_version": _version_json(request, v)}


def _latest_versions(request: Request, message: Message) -> dict[str, Any]:
    store = store_of(request)
    name = message.need("name")
    store.get_registered_model(name)  # NotFound for an unknown model
    wanted = {_stage_name(s) for s in message.items("stages")}
    latest = [v for v in _latest_per_stage(_all_versions(store, name)) if not wanted or _stage(v) in wanted]
    return {"model_versions": [_version_json(request, v) for v in latest]}


add_rpc(router, "POST", "/registered-models/get-latest-versions", READ, "MLflow GetLatestVersions")(_latest_versions)
add_rpc(router, "GET", "/registered-models/get-latest-versions", READ, "MLflow GetLatestVersions")(_latest_versions)


def _stage_name(raw: Any) -> str:
    stage = _STAGES.get(str(raw).lower())
    if stage is None:
        raise InvalidInput(f"Invalid Model Version stage: {str(raw)[:40]}. Value must be one of "
                           f"{', '.join(_STAGES.values())}.")
    return stage


# -- model versions


def _store_source(request: Request, source: str, model_id: str | None) -> tuple[str, str | None, str | None]:
    """(source shipyard stores, run id, logged model id) for an MLflow source."""
    store = store_of(request)
    if model_id is None and source.startswith("models:/m-") and "/" not in source[len("models:/"):]:
        model_id = source[len("models:/"):]
    if model_id:
        model = find_model(store, model_id)
        return f"runs:/{model.run.info.run_id}/{model.path}", model.run.info.run_id, model.model_id
    if source.startswith(MLFLOW_ARTIFACT_SCHEME):
        return _as_run_source(store, to_root_uri(request, source))
    return source, None, None


def _as_run_source(store: Store, uri: str) -> tuple[str, str | None, None]:
    """A folder among a run's artifacts as ``runs:/<run_id>/<path>`` (what shipyard resolves and
    checks against the run's logged models); any other location as it is."""
    match = _RUN_FOLDER.search(uri)
    if match is not None:
        try:
            run = store.get_run(match.group(1))
        except NotFound:
            return uri, None, None
        root = run.info.artifact_uri.rstrip("/")
        if uri.startswith(root + "/"):
            return f"runs:/{run.info.run_id}/{uri[len(root) + 1:].strip('/')}", run.info.run_id, None
    return uri, None, None


@add_rpc(router, "POST", "/model-versions/create", WRITE, "MLflow CreateModelVersion")
def create_model_version(request: Request, message: Message) -> dict[str, Any]:
    tags = message.tags()
    check_tag_keys(request, tags)
    source = message.need("source")
    stored, model_run, model_id = _store_source(request, source, message.text("model_id"))
    if stored != source:
        tags[_SOURCE] = source
    if model_id:
        tags[_MODEL_ID] = model_id
    v = store_of(request).create_model_version(message.need("name"), stored, message.text("run_id") or model_run,
                                               tags, message.text("description") or "")
    return {"model_version": _version_json(request, v)}


@add_rpc(router, "GET", "/model-versions/get", READ, "MLflow GetModelVersion")
def get_model_version(request: Request, message: Message) -> dict[str, Any]:
    v = store_of(request).get_model_version(message.need("name"), _version(message))
    return {"model_version": _version_json(request, v)}


@add_rpc(router, "PATCH", "/model-versions/update", WRITE, "MLflow UpdateModelVersion")
def update_model_version(request: Request, message: Message) -> dict[str, Any]:
    v = store_of(request).update_model_version(message.need("name"), _version(message), message.text("description"))
    return {"model_version": _version_json(request, v)}


@add_rpc(router, "DELETE", "/model-versions/delete", ADMIN, "MLflow DeleteModelVersion")
def delete_model_version(request: Request, message: Message) -> dict[str, Any]:
    store_of(request).delete_model_version(message.need("name"), _version(message))
    return {}


_VERSION_ATTRS = ("name", "version", "version_number", "run_id", "source", "source_path", "creation_timestamp",
                  "last_updated_timestamp", "current_stage", "status", "model_id")


@add_rpc(router, "GET", "/model-versions/search", READ, "MLflow SearchModelVersions")
def search_model_versions(request: Request, message: Message) -> dict[str, Any]:
    store = store_of(request)
    clauses = _filters.parse(message.text("filter"), _VERSION_ATTRS)
    name = next((str(c.values[0]) for c in clauses if c.kind == "attr" and c.key == "name" and c.op == "="), None)
    run_id = next((str(c.values[0]) for c in clauses if c.kind == "attr" and c.key == "run_id" and c.op == "="), None)
    found = []
    for v in _all_versions(store, name, run_id):
        source = v.tags.get(_SOURCE) or mlflow_uri(request, v.source)
        attrs = {"name": v.name, "version": v.version, "version_number": v.version, "run_id": v.run_id,
                 "source": source, "source_path": source, "creation_timestamp": v.creation_timestamp,
                 "last_updated_timestamp": v.last_updated_timestamp, "current_stage": _stage(v), "status": v.status,
                 "model_id": v.tags.get(_MODEL_ID)}
        if _filters.matches(clauses, attrs, v.tags):
            found.append(v)
    found.sort(key=lambda v: (v.name, -v.version))
    _filters.order(found, [str(o) for o in message.items("order_by")] or ["name"],
                   ("name", "version", "creation_timestamp", "last_updated_timestamp"))
    chosen, nxt = _pages.page(found, message.number("max_results", 10_000) or 10_000, message.text("page_token"))
    return {"model_versions": [_version_json(request, v) for v in chosen], **({"next_page_token": nxt} if nxt
                                                                              else {})}


@add_rpc(router, "GET", "/model-versions/get-download-uri", READ, "MLflow GetModelVersionDownloadUri")
def get_download_uri(request: Request, message: Message) -> dict[str, Any]:
    store = store_of(request)
    v = store.get_model_version(message.need("name"), _version(message))
    uri = v.source
    if uri.startswith("runs:/"):  # where the run keeps that folder
        run_id, _, path = uri[len("runs:/"):].partition("/")
        uri = f"{store.get_run(run_id).info.artifact_uri.rstrip('/')}/{path}".rstrip("/")
    return {"artifact_uri": mlflow_uri(request, uri)}


@add_rpc(router, "POST", "/model-versions/transition-stage", WRITE, "MLflow TransitionModelVersionStage")
def transition_stage(request: Request, message: Message) -> dict[str, Any]:
    store = store_of(request)
    name, version, stage = message.need("name"), _version(message), _stage_name(message.need("stage"))
    _set_stage(store, name, version, stage)
    if message.flag("archive_existing_versions") and stage in ("Staging", "Production"):
        for other in _all_versions(store, name):
            if other.version != version and _stage(other) == stage:
                _set_stage(store, name, other.version, "Archived")
    return {"model_version": _version_json(request, store.get_model_version(name, version))}


def _set_stage(store: Store, name: str, version: int, stage: str) -> None:
    store.get_model_version(name, version)  # NotFound first
    store.set_model_version_tag(name, version, _STAGE, stage)


@add_rpc(router, "POST", "/model-versions/set-tag", WRITE, "MLflow SetModelVersionTag")
def set_model_version_tag(request: Request, message: Message) -> dict[str, Any]:
    key = message.need("key")
    check_tag_keys(request, [key])
    store_of(request).set_model_version_tag(message.need("name"), _version(message), key, message.text("value") or "")
    return {}


@add_rpc(router, "DELETE", "/model-versions/delete-tag", WRITE, "MLflow DeleteModelVersionTag")
def delete_model_version_tag(request: Request, message: Message) -> dict[str, Any]:
    key = message.need("key")
    check_tag_keys(request, [key])
    store_of(request).delete_model_version_tag(message.need("name"), _version(message), key)
    return {}
