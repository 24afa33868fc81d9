"""The platform's HTTP API as one FastAPI app: ``create_app(store)``.

Layout of the app (the web UI, :mod:`shipyard.server.ui`, is mounted beside the API under ``/``
unless ``ui=False``; it authenticates by session cookie and sets ``request.state.principal``, see
:mod:`shipyard.server.auth`):

- ``/api/v1/...``: every Store operation and the artifacts (see :mod:`shipyard.server.api`);
- ``/openapi.json`` and ``/docs``: the spec and its browsable page;
- ``/health``: 200 when the store answers; ``/metrics``: Prometheus text, the server's request
  counters followed by the monitors' gauges (:func:`shipyard.monitoring.render_metrics`).

The app holds everything it needs in ``app.state`` (store, authenticator, artifact repository), so
two apps in one process never share anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from starlette.responses import PlainTextResponse, Response

from shipyard.artifacts import get_artifact_repository
from shipyard.errors import InvalidInput, NotFound
from shipyard.server._errors import install_error_handlers
from shipyard.server._middleware import BodyLimit, CrossSiteGuard, RequestMetrics, ServerMetrics
from shipyard.server.api import PREFIX, routers
from shipyard.server.api._common import ERRORS, Locations, ok
from shipyard.server.auth import READ, Authenticator
from shipyard.server.mlflow import ARTIFACTS_PREFIX, unserved_router
from shipyard.server.mlflow import routers as mlflow_routers

if TYPE_CHECKING:
    from shipyard.store.base import Store
    from shipyard.store.sql.tokens import TokenStore

__all__ = ["DEFAULT_MAX_ARTIFACT_BYTES", "DEFAULT_MAX_REQUEST_BYTES", "create_app"]

DEFAULT_MAX_ARTIFACT_BYTES = 4 << 30  # 4 GiB per uploaded file
DEFAULT_MAX_REQUEST_BYTES = 64 << 20  # 64 MiB per JSON request body

_DESCRIPTION = """The shipyard platform API: experiments, runs, models, deployments, pipelines, monitors,
automation and artifacts, over the same store the SDK uses.

Errors answer `{"error_code", "message"}` with the status of the error. With auth on, send
`Authorization: Bearer <token>` (tokens: `shipyard tokens create`)."""


def create_app(
    store: Store,
    *,
    auth: bool = False,
    tokens: TokenStore | None = None,
    max_artifact_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    extra_metrics: Callable[[], bytes | str] | None = None,
    extra_routers: Sequence[APIRouter] = (),
    ui: bool = True,
    proxy_artifacts: bool = True,
    online_store: str | None = None,
) -> FastAPI:
    """The API over ``store``. With ``auth``, tokens are checked against ``tokens`` (by default the
    ``api_tokens`` table of ``store``, which must then be a SQL store). With ``ui``, the web UI's pages
    (:mod:`shipyard.server.ui`) are served at the root beside the API; ``extra_routers`` are mounted
    there too. With ``proxy_artifacts`` (the default) clients read and write artifacts through
    ``/api/v1/artifacts`` whatever the root is; without it, an object-store root is handed to clients
    to use directly (they then need its credentials). ``online_store`` is the feature store's online
    store that ``/api/v1/features`` reads and materializes into (default: ``SHIPYARD_ONLINE_STORE``,
    else ``online_features.db`` under the shipyard home)."""
    from shipyard import __version__

    authenticator = None
    if auth:
        if tokens is None:
            tokens = _token_store(store)
        authenticator = Authenticator(tokens)
    app = FastAPI(title="shipyard", version=__version__, description=_DESCRIPTION, docs_url=None,
                  redoc_url=None, openapi_url="/openapi.json")
    metrics = ServerMetrics()
    app.state.store = store
    app.state.authenticator = authenticator
    app.state.locations = Locations(store.artifact_root, proxy=proxy_artifacts)
    app.state.artifacts = get_artifact_repository(store.artifact_root)
    app.state.max_artifact_bytes = max_artifact_bytes
    app.state.online_store = online_store
    app.state.metrics = metrics
    install_error_handlers(app)
    for router in routers():
        app.include_router(router, prefix=PREFIX)
    if ui:
        from shipyard.server.ui import router as ui_router

        app.include_router(ui_router())
    for router in [*mlflow_routers(), unserved_router()]:  # the MLflow clients' face, on the same store
        app.include_router(router)
    for router in extra_routers:
        app.include_router(router)
    _add_service_routes(app, store, extra_metrics)
    _add_docs(app)
    app.add_middleware(BodyLimit, max_bytes=max_request_bytes, exempt=(f"{PREFIX}/artifacts/", ARTIFACTS_PREFIX))
    app.add_middleware(CrossSiteGuard)
    app.add_middleware(RequestMetrics, metrics=metrics, prefix=PREFIX)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


_SWAGGER = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}


def _add_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI from files shipped in the package (FastAPI's default loads it from a CDN,
    which a machine without network cannot reach)."""
    from pathlib import Path

    from fastapi.openapi.docs import get_swagger_ui_html

    folder = Path(__file__).parent / "api" / "swagger"

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="shipyard API",
                                   swagger_js_url="/docs/swagger-ui-bundle.js", swagger_css_url="/docs/swagger-ui.css",
                                   swagger_favicon_url="/static/favicon.svg")

    @app.get("/docs/{name}", include_in_schema=False)
    def docs_file(name: str) -> Response:
        if name not in _SWAGGER:
            raise NotFound(f"no file {name!r} under /docs")
        return Response((folder / name).read_bytes(), media_type=_SWAGGER[name],
                        headers={"Cache-Control": "public, max-age=86400"})


def _token_store(store: Store) -> TokenStore:
    from shipyard.store.sql import SqlStore
    from shipyard.store.sql.tokens import TokenStore

    if not isinstance(store, SqlStore):
        raise InvalidInput("auth needs the server to run on a SQL store (sqlite:// or postgresql://)")
    return TokenStore(store)


def _add_service_routes(app: FastAPI, store: Store, extra_metrics: Callable[[], bytes | str] | None) -> None:
    from shipyard import __version__

    @app.get("/health", tags=["service"], responses={503: ERRORS[503]})
    def health() -> Response:
        store.search_experiments(max_results=1)  # StoreUnavailable answers 503
        return ok({"status": "ok", "version": __version__})

    @app.get(f"{PREFIX}/server-info", tags=["service"], dependencies=[READ], responses=ERRORS)
    def server_info(request: Request) -> Response:
        locations: Locations = request.app.state.locations
        return ok({"version": __version__, "auth": request.app.state.authenticator is not None,
                   "artifact_root": "shipyard-artifacts:/" if locations.proxied else locations.root,
                   "artifacts_proxied": locations.proxied,
                   "max_artifact_bytes": request.app.state.max_artifact_bytes})

    @app.get("/metrics", tags=["service"], response_class=PlainTextResponse, dependencies=[READ],
             responses={401: ERRORS[401], 403: ERRORS[403], 503: ERRORS[503]})
    def prometheus(request: Request) -> Response:
        from shipyard.monitoring import render_metrics

        parts = [request.app.state.metrics.render(), render_metrics(store)]
        if extra_metrics is not None:
            extra = extra_metrics()
            parts.append(extra.encode() if isinstance(extra, str) else extra)
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(b"".join(parts), media_type=CONTENT_TYPE_LATEST)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's spec, with its 422 schema replaced by the error body every error really has."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    error_ref = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses", {})
            if "422" in responses:
                responses["422"] = {"description": "The request does not validate", "content": error_ref}
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    app.openapi_schema = schema
    return schema
