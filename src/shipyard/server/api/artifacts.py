"""``/api/v1/artifacts``: files under the server's artifact root, for clients that cannot reach it.

``GET /artifacts?path=DIR`` lists a directory, ``GET /artifacts/PATH`` streams a file and
``PUT /artifacts/PATH`` stores the request body as a file (streamed to disk, atomically, at most
``max_artifact_bytes``). Paths are relative to the root and checked by
:func:`~shipyard.artifacts.safe_relpath`: nothing outside the root can be named. The API speaks of
these files as ``shipyard-artifacts:/PATH`` (see :class:`~shipyard.server.api._common.Locations`).
"""

from __future__ import annotations

import errno
import os
import posixpath
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, Response, StreamingResponse

from shipyard.artifacts import safe_relpath
from shipyard.errors import Conflict, InvalidInput, NotFound, StorageFull, StoreUnavailable
from shipyard.server._errors import error_response
from shipyard.server.api import schemas as w
from shipyard.server.api._common import ERRORS, ok
from shipyard.server.api._readonly import check_writable
from shipyard.server.auth import READ, WRITE
from shipyard.store._wire import to_wire

if TYPE_CHECKING:
    from shipyard.artifacts import ArtifactRepository

__all__ = ["router"]

router = APIRouter(tags=["artifacts"], responses=ERRORS)
_CHUNK = 1 << 20
_BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


class ArtifactListing(w.Wire):
    path: str
    exists: bool
    is_dir: bool
    size: w.Int64 | None = None
    files: list[w.FileInfo]


def _repo(request: Request) -> ArtifactRepository:
    return request.app.state.artifacts  # type: ignore[no-any-return]


@contextmanager
def _file_errors(path: str) -> Iterator[None]:
    """OS errors about the path the caller named are their input's fault; the rest are the store's."""
    try:
        yield
    except (NotADirectoryError, IsADirectoryError, FileExistsError) as exc:
        raise Conflict(f"artifact path {path!r} clashes with an existing file or directory") from exc
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageFull(f"no space left on the device that holds the artifact store ({exc.strerror}); "
                              "nothing was kept: free space (or raise the quota) and try again") from exc
        if exc.errno in (errno.ENAMETOOLONG, errno.EINVAL, errno.EILSEQ):
            raise InvalidInput(f"artifact path {path[:80]!r} is not a usable file name") from exc
        raise StoreUnavailable(f"the artifact store failed: {exc.strerror or type(exc).__name__}") from exc


@router.get("/artifacts", dependencies=[READ], response_model=ArtifactListing)
def list_artifacts(request: Request, path: str = "") -> Response:
    rel = safe_relpath(path)
    repo = _repo(request)
    with _file_errors(rel):
        found = repo.info(rel or None)
        files = repo.list(rel or None) if found is not None and found.is_dir else []
    return ok({"path": rel, "exists": found is not None, "is_dir": bool(found and found.is_dir),
               "size": found.size if found is not None else None, "files": to_wire(files)})


@router.get("/artifacts/{path:path}", dependencies=[READ], response_class=Response,
            responses={200: {"content": _BINARY, "description": "The file's bytes"}})
def download_artifact(request: Request, path: str) -> Response:
    rel = safe_relpath(path, allow_root=False)
    repo = _repo(request)
    with _file_errors(rel):
        local = repo.local_path(rel)
        if local is not None:
            if local.is_dir():
                raise InvalidInput(f"artifact {rel!r} is a directory: list it with GET /api/v1/artifacts?path={rel}")
            if not local.is_file():
                raise NotFound(f"artifact {rel!r} not found")
            return FileResponse(local, media_type="application/octet-stream")
        stream = repo.open(rel)

    def chunks() -> Iterator[bytes]:
        with stream:
            while chunk := stream.read(_CHUNK):
                yield chunk

    return StreamingResponse(chunks(), media_type="application/octet-stream")


@router.put("/artifacts/{path:path}", dependencies=[WRITE],
            openapi_extra={"requestBody": {"required": True, "content": _BINARY}})
async def upload_artifact(request: Request, path: str) -> Response:
    rel = safe_relpath(path, allow_root=False)
    await run_in_threadpool(check_writable, request, rel)  # logged models and the task cache: admins only
    limit: int = request.app.state.max_artifact_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return _too_large(limit)
    repo = _repo(request)
    with _file_errors(rel):
        local = await run_in_threadpool(repo.local_path, rel)
        if local is not None and await run_in_threadpool(local.is_dir):
            raise Conflict(f"artifact path {rel!r} is a directory")
        # Straight into the target directory when the root is local (one write, then a rename);
        # through a temporary file and the repository otherwise.
        folder = local.parent if local is not None else Path(tempfile.mkdtemp(prefix="shipyard-upload-"))
        await run_in_threadpool(folder.mkdir, parents=True, exist_ok=True)
        fd, tmp = await run_in_threadpool(tempfile.mkstemp, dir=folder, prefix=".upload-", suffix=".tmp")
    size = 0
    try:
        with _file_errors(rel), os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    return _too_large(limit)
                await run_in_threadpool(out.write, chunk)
        with _file_errors(rel):
            if local is not None:
                await run_in_threadpool(os.replace, tmp, local)
            else:
                named = os.path.join(folder, posixpath.basename(rel))
                await run_in_threadpool(os.replace, tmp, named)
                await run_in_threadpool(repo.log_file, named, posixpath.dirname(rel) or None)
    finally:
        await run_in_threadpool(_cleanup, tmp, None if local is not None else folder)
    return ok({"path": rel, "size": size})


def _cleanup(tmp: str, folder: Any) -> None:
    Path(tmp).unlink(missing_ok=True)
    if folder is not None:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def _too_large(limit: int) -> Response:
    return error_response(413, "INVALID_PARAMETER_VALUE", f"artifact too large (the limit is {limit} bytes)")
