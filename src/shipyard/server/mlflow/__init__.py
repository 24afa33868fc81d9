"""MLflow's REST API as one more face of the server: unmodified MLflow clients
(``MLFLOW_TRACKING_URI=http://<shipyard server>``) track, log models and use the registry on the same
store shipyard's SDK, CLI and UI use.

- ``/api/2.0/mlflow/...``: experiments, runs, metrics, datasets (:mod:`.tracking`), MLflow 3's
  logged models (:mod:`.models`), the registry with aliases and old clients' stages (:mod:`.registry`);
- ``/api/2.0/mlflow-artifacts/artifacts/...``: the artifact proxy (:mod:`.artifacts`).

Roles apply by effect as on ``/api/v1`` (:mod:`shipyard.server.roles`); ``MLFLOW_TRACKING_TOKEN`` is a
shipyard token. Errors answer MLflow's ``{"error_code", "message"}`` with MLflow's statuses.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from shipyard.server._errors import error_response

__all__ = ["ARTIFACTS_PREFIX", "TESTED_VERSIONS", "routers", "unserved_router"]

ARTIFACTS_PREFIX = "/api/2.0/mlflow-artifacts/"
#: MLflow client versions the compatibility test runs (tests/server/mlflow/).
TESTED_VERSIONS = ("3.17.2",)


def routers() -> list[APIRouter]:
    from shipyard.server.mlflow import artifacts, models, registry, tracking

    return [tracking.router, models.router, registry.router, artifacts.router]


def unserved_router() -> APIRouter:
    """MLflow endpoints shipyard does not serve (traces, prompts, the other GenAI APIs) answer 404
    ``ENDPOINT_NOT_FOUND``, as an MLflow server does: the code the client's fallbacks look for.
    Mounted after :func:`routers` (it matches every path under MLflow's prefixes)."""
    router = APIRouter(include_in_schema=False)

    async def not_found(request: Request, rest: str) -> Response:
        return error_response(404, "ENDPOINT_NOT_FOUND", f"shipyard does not serve the MLflow endpoint "
                              f"{request.method} {request.url.path[:200]} (docs/server.md, 'MLflow clients')")

    for prefix in ("/api/2.0/mlflow/", "/api/3.0/mlflow/", "/api/2.0/mlflow-artifacts/"):
        router.add_api_route(prefix + "{rest:path}", not_found,
                             methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    return router
