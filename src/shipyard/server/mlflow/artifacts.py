"""``/api/2.0/mlflow-artifacts/artifacts``: MLflow's artifact proxy over the server's artifact root.

``mlflow-artifacts:/<path>`` (what this server answers as a run's, experiment's or logged model's
artifact location when the root is on its disk) names ``<root>/<path>``, the same file shipyard's
``/api/v1/artifacts/<path>`` serves: uploads and downloads share its code (atomic streamed writes,
size limit, path checks, the read-only rule for logged models' files).
"""

from __future__ import annotations

import posixpath
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from shipyard.artifacts import safe_relpath
from shipyard.server.api import artifacts as shipyard_artifacts
from shipyard.server.api._common import ERRORS
from shipyard.server.auth import READ, WRITE
from shipyard.server.mlflow._proto import MlflowRoute, ok
from shipyard.server.mlflow.models import check_model_files_writable

__all__ = ["PREFIX", "router"]

PREFIX = "/api/2.0/mlflow-artifacts"
router = APIRouter(prefix=PREFIX, tags=["mlflow"], route_class=MlflowRoute, responses=ERRORS)


def _listing(request: Request, path: str) -> dict[str, Any]:
    rel = safe_relpath(path)
    repo = request.app.state.artifacts
    with shipyard_artifacts._file_errors(rel):
        found = repo.info(rel or None)
        if found is None or not found.is_dir:
            return {}  # MLflow answers a file or a missing path with no listing
        files = repo.list(rel or None)
    out = []
    for f in files:
        item: dict[str, Any] = {"path": posixpath.basename(f.path), "is_dir": f.is_dir}
        if not f.is_dir and f.size is not None:
            item["file_size"] = f.size
        out.append(item)
    return {"files": out} if out else {}


@router.get("/artifacts", dependencies=[READ], summary="MLflow ListArtifacts (proxied)")
async def list_artifacts(request: Request, path: str = "") -> Response:
    return ok(await run_in_threadpool(_listing, request, path))


@router.get("/artifacts/{path:path}", dependencies=[READ], response_class=Response,
            summary="MLflow DownloadArtifact (proxied)")
async def download_artifact(request: Request, path: str) -> Response:
    return await run_in_threadpool(shipyard_artifacts.download_artifact, request, path)


@router.put("/artifacts/{path:path}", dependencies=[WRITE], summary="MLflow UploadArtifact (proxied)",
            openapi_extra={"requestBody": {"required": True, "content": shipyard_artifacts._BINARY}})
async def upload_artifact(request: Request, path: str) -> Response:
    await run_in_threadpool(check_model_files_writable, request, safe_relpath(path, allow_root=False))
    answer = await shipyard_artifacts.upload_artifact(request, path)
    return ok() if answer.status_code == 200 else answer
