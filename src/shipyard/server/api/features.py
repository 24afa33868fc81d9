"""``/api/v1/features``: the feature store's definitions, online lookups and materialization over HTTP.

Roles by effect (:mod:`shipyard.server.roles`): reading definitions, freshness and online values is
a reader's; applying a definition only records it (no source is read), so it is a writer's;
materializing reads the sources' files on the server's own file system and writes the server's
online store, and a schedule steers the server's scheduler, so both are an admin's.

The server's online store is ``create_app(online_store=...)`` (``shipyard server --online-store``),
else ``SHIPYARD_ONLINE_STORE``, else ``online_features.db`` under the server's shipyard home. One
connection to it is shared by the requests (both online stores are safe across threads).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import Field
from starlette.responses import Response

from shipyard.errors import InvalidInput
from shipyard.features._store import MAX_ENTITY_ROWS
from shipyard.server.api import schemas as w
from shipyard.server.api._common import ERRORS, StoreDep, entities, entity, ok
from shipyard.server.auth import ADMIN, READ, WRITE, require_role

if TYPE_CHECKING:
    from shipyard.features import FeatureStore
    from shipyard.features._online import OnlineStore

__all__ = ["MAX_ENTITY_ROWS", "router"]

router = APIRouter(tags=["features"], responses=ERRORS)

_DEFINITION_KINDS = ("entity", "feature_view", "on_demand_feature_view")
_LOCK = threading.Lock()
_LAST_MS = 32_503_680_000_000  # the year 3000: later times overflow the engines' microseconds


class ApplyDefinition(w.Wire):
    kind: str
    name: str
    spec: dict[str, Any]
    description: str = ""


class OnlineLookup(w.Wire):
    entity_rows: list[dict[str, Any]] = Field(max_length=MAX_ENTITY_ROWS)
    features: list[str] = Field(min_length=1)
    full_feature_names: bool = False
    found: bool = False  # also answer, per base view, which rows the online store has an entity for


class Materialize(w.Wire):
    views: list[str] | None = None
    full: bool = False
    end: int | None = Field(None, ge=0, le=_LAST_MS)  # milliseconds; default now


class ScheduleBody(w.Wire):
    schedule: str | None
    online_store: str | None = None


def online_store_uri(request: Request) -> str:
    """The server's online store (see the module doc)."""
    import os

    from shipyard.config import default_home

    chosen: str | None = getattr(request.app.state, "online_store", None)
    return chosen or os.environ.get("SHIPYARD_ONLINE_STORE") or f"sqlite:///{default_home() / 'online_features.db'}"


def _shared_online(request: Request) -> OnlineStore:
    from shipyard.features import open_online_store

    with _LOCK:
        online: OnlineStore | None = getattr(request.app.state, "feature_online", None)
        if online is None:
            online = open_online_store(online_store_uri(request))
            request.app.state.feature_online = online
    return online


def _features(request: Request, store: Any, *, shared: bool = True) -> FeatureStore:
    """A feature store per request (definitions read fresh: another process may apply a new version)."""
    from shipyard.features import FeatureStore

    return FeatureStore(store=store, online_store=_shared_online(request) if shared else online_store_uri(request))


@router.get("/features/definitions", dependencies=[READ])
def list_definitions(request: Request, store: StoreDep, kind: str | None = None, name: str | None = None,
                     version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
                     all_versions: bool = False) -> Response:
    if version is not None:
        if kind is None or name is None:
            raise InvalidInput("a version needs a kind and a name")
        return entities(request, "definitions", [store.get_feature_definition(kind, name, version)])
    return entities(request, "definitions", store.list_feature_definitions(kind, name, all_versions))


@router.post("/features/definitions", dependencies=[WRITE])
def apply_definition(request: Request, body: ApplyDefinition, store: StoreDep) -> Response:
    if body.kind not in _DEFINITION_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(_DEFINITION_KINDS)}, got {body.kind!r} (a view's "
                           "schedule is PUT /api/v1/features/views/{name}/schedule)")
    from shipyard.features._definitions import check_spec

    check_spec(body.kind, body.name, body.spec)  # every reader of the store rebuilds what is stored here
    source = body.spec.get("source") if body.kind == "feature_view" else None
    if isinstance(source, dict) and source.get("type") == "table":
        # the server's (scheduled) materializations would connect to that database and copy any of its
        # tables, the store's own included, into the online store that every reader can read
        require_role(request, "admin", "a view over a database table steers what the server's materializations "
                                       "read from a database")
    return entity(request, store.apply_feature_definition(body.kind, body.name, body.spec, body.description))


@router.get("/features/materializations", dependencies=[READ])
def list_materializations(request: Request, store: StoreDep, feature_view: str | None = None,
                          online_store: str | None = None, max_results: int = 100) -> Response:
    return entities(request, "materializations",
                    store.list_feature_materializations(feature_view, online_store, max_results))


@router.get("/features/views", dependencies=[READ])
def list_views(request: Request, store: StoreDep) -> Response:
    from shipyard.features._catalog import describe_views

    return entities(request, "feature_views", describe_views(store))


@router.get("/features/views/{name}", dependencies=[READ])
def get_view(request: Request, name: str, store: StoreDep) -> Response:
    from shipyard.features._catalog import describe_view
    from shipyard.store._wire import to_wire

    view, versions, runs = describe_view(store, name)
    return ok({"feature_view": to_wire(view), "versions": to_wire(versions), "materializations": to_wire(runs)})


@router.put("/features/views/{name}/schedule", dependencies=[ADMIN])
def schedule_view(request: Request, name: str, body: ScheduleBody, store: StoreDep) -> Response:
    from shipyard.features._schedule import SCHEDULE_KIND, set_materialization_schedule

    if body.schedule is not None:
        from shipyard.pipelines._schedule import Schedule

        Schedule.parse(body.schedule)  # refused here, not at the scheduler's next tick
    set_materialization_schedule(store, name, body.schedule, online_store=body.online_store)
    return entity(request, store.get_feature_definition(SCHEDULE_KIND, name))


@router.post("/features/online", dependencies=[READ])
def online_features(request: Request, body: OnlineLookup, store: StoreDep) -> Response:
    # ``found`` is for a serving replica: it tells a missing entity (a 404 or the defaults) from a
    # found one whose features are null, which the values alone cannot
    values, found = _features(request, store)._online_lookup(body.entity_rows, body.features,
                                                             body.full_feature_names)
    return ok({"features": values, **({"found": found} if body.found else {})})


@router.post("/features/materialize", dependencies=[ADMIN])
def materialize(request: Request, body: Materialize, store: StoreDep) -> Response:
    fs = _features(request, store, shared=False)
    try:
        records = fs.materialize(body.views, end=body.end, full=body.full)
    finally:
        fs.close()
    return entities(request, "materializations", records)

