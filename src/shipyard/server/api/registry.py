"""``/api/v1/registered-models`` and ``/api/v1/model-versions``: the RegistryStore over HTTP.

Setting and moving aliases is a writer's job (it is how a model is promoted); deleting a model or a
version is an admin's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from shipyard.server.api import schemas as w
from shipyard.server.api._common import ERRORS, LocationsDep, StoreDep, entities, entity, ok
from shipyard.server.api._tags import REGISTRATION_DIGEST_TAG, check_tag_keys
from shipyard.server.api.tracking import Tag
from shipyard.server.auth import ADMIN, READ, WRITE

__all__ = ["router"]

router = APIRouter(tags=["registry"], responses=ERRORS)
Version = Annotated[int, Path(ge=-(2**31), le=2**31 - 1)]


class CreateModel(w.Wire):
    name: str
    tags: dict[str, str] | None = None
    description: str = ""


class UpdateModel(w.Wire):
    description: str


class ModelsPage(w.Wire):
    registered_models: list[w.RegisteredModel]
    next_page_token: str | None = None


class CreateVersion(w.Wire):
    source: str
    run_id: str | None = None
    tags: dict[str, str] | None = None
    description: str = ""


class UpdateVersion(w.Wire):
    description: str | None = None
    archived: bool | None = None


class VersionsPage(w.Wire):
    model_versions: list[w.ModelVersion]
    next_page_token: str | None = None


class SetAlias(w.Wire):
    version: w.Int32
    reason: str = ""


class AliasHistory(w.Wire):
    events: list[w.AliasEvent]


@router.post("/registered-models", dependencies=[WRITE], response_model=w.RegisteredModel)
def create_registered_model(request: Request, body: CreateModel, store: StoreDep) -> Response:
    check_tag_keys(request, body.tags or {})
    return entity(request, store.create_registered_model(body.name, body.tags, body.description))


@router.get("/registered-models", dependencies=[READ], response_model=ModelsPage)
def search_registered_models(request: Request, store: StoreDep, name_like: str | None = None,
                             max_results: w.MaxResults = 100, page_token: str | None = None) -> Response:
    page = store.search_registered_models(name_like, max_results, page_token)
    return entities(request, "registered_models", list(page), next_page_token=page.token)


@router.get("/registered-models/{name}", dependencies=[READ], response_model=w.RegisteredModel)
def get_registered_model(request: Request, name: str, store: StoreDep) -> Response:
    return entity(request, store.get_registered_model(name))


@router.patch("/registered-models/{name}", dependencies=[WRITE], response_model=w.RegisteredModel)
def update_registered_model(request: Request, name: str, body: UpdateModel, store: StoreDep) -> Response:
    return entity(request, store.update_registered_model(name, body.description))


@router.delete("/registered-models/{name}", dependencies=[ADMIN])
def delete_registered_model(name: str, store: StoreDep) -> Response:
    store.delete_registered_model(name)
    return ok()


class RenameModel(w.Wire):
    new_name: str


@router.post("/registered-models/{name}/rename", dependencies=[ADMIN], response_model=w.RegisteredModel)
def rename_registered_model(request: Request, name: str, body: RenameModel, store: StoreDep) -> Response:
    return entity(request, store.rename_registered_model(name, body.new_name))


@router.post("/registered-models/{name}/tags", dependencies=[WRITE])
def set_registered_model_tag(request: Request, name: str, body: Tag, store: StoreDep) -> Response:
    check_tag_keys(request, [body.key])
    store.set_registered_model_tag(name, body.key, body.value)
    return ok()


@router.delete("/registered-models/{name}/tags", dependencies=[WRITE])
def delete_registered_model_tag(request: Request, name: str, store: StoreDep, key: str = Query()) -> Response:
    check_tag_keys(request, [key])
    store.delete_registered_model_tag(name, key)
    return ok()


@router.post("/registered-models/{name}/versions", dependencies=[WRITE], response_model=w.ModelVersion)
def create_model_version(request: Request, name: str, body: CreateVersion, store: StoreDep,
                         locations: LocationsDep) -> Response:
    check_tag_keys(request, body.tags or {}, allow=(REGISTRATION_DIGEST_TAG,))
    version = store.create_model_version(name, locations.from_api(body.source), body.run_id, body.tags,
                                         body.description)
    return entity(request, version)


@router.get("/registered-models/{name}/versions/{version}", dependencies=[READ], response_model=w.ModelVersion)
def get_model_version(request: Request, name: str, version: Version, store: StoreDep) -> Response:
    return entity(request, store.get_model_version(name, version))


@router.patch("/registered-models/{name}/versions/{version}", dependencies=[WRITE], response_model=w.ModelVersion)
def update_model_version(request: Request, name: str, version: Version, body: UpdateVersion,
                         store: StoreDep) -> Response:
    return entity(request, store.update_model_version(name, version, body.description, body.archived))


@router.delete("/registered-models/{name}/versions/{version}", dependencies=[ADMIN])
def delete_model_version(name: str, version: Version, store: StoreDep) -> Response:
    store.delete_model_version(name, version)
    return ok()


@router.get("/model-versions", dependencies=[READ], response_model=VersionsPage)
def search_model_versions(request: Request, store: StoreDep, name: str | None = None, run_id: str | None = None,
                          include_archived: bool = True, max_results: w.MaxResults = 1000,
                          page_token: str | None = None) -> Response:
    page = store.search_model_versions(name, run_id, include_archived, max_results, page_token)
    return entities(request, "model_versions", list(page), next_page_token=page.token)


@router.post("/registered-models/{name}/versions/{version}/tags", dependencies=[WRITE])
def set_model_version_tag(request: Request, name: str, version: Version, body: Tag, store: StoreDep) -> Response:
    check_tag_keys(request, [body.key])
    store.set_model_version_tag(name, version, body.key, body.value)
    return ok()


@router.delete("/registered-models/{name}/versions/{version}/tags", dependencies=[WRITE])
def delete_model_version_tag(request: Request, name: str, version: Version, store: StoreDep,
                             key: str = Query()) -> Response:
    check_tag_keys(request, [key])
    store.delete_model_version_tag(name, version, key)
    return ok()


@router.put("/registered-models/{name}/aliases/{alias}", dependencies=[WRITE])
def set_registered_model_alias(name: str, alias: str, body: SetAlias, store: StoreDep) -> Response:
    store.set_registered_model_alias(name, alias, body.version, body.reason)
    return ok()


@router.delete("/registered-models/{name}/aliases/{alias}", dependencies=[WRITE])
def delete_registered_model_alias(name: str, alias: str, store: StoreDep, reason: str = "") -> Response:
    store.delete_registered_model_alias(name, alias, reason)
    return ok()


@router.get("/registered-models/{name}/aliases/{alias}", dependencies=[READ], response_model=w.ModelVersion)
def get_model_version_by_alias(request: Request, name: str, alias: str, store: StoreDep) -> Response:
    return entity(request, store.get_model_version_by_alias(name, alias))


@router.get("/registered-models/{name}/alias-history", dependencies=[READ], response_model=AliasHistory)
def get_alias_history(request: Request, name: str, store: StoreDep, alias: str | None = None) -> Response:
    return entities(request, "events", store.get_alias_history(name, alias))
