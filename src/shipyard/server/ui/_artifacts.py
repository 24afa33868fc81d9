"""A run's artifacts: a folder browser and previews of images, text, JSON and the head of CSV files.

Every path goes through :func:`shipyard.artifacts.safe_relpath` (and the repository's own checks),
so nothing outside the run's artifact root can be read. Previews read a bounded prefix of the file;
raw files (images, downloads) are served up to :data:`MAX_RAW_BYTES` with a sandboxing CSP, so an
SVG or HTML artifact opened on its own runs no script with the UI's origin.
"""

from __future__ import annotations

import csv
import io
import posixpath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson
from fastapi import Request
from starlette.responses import Response

from shipyard.artifacts import get_artifact_repository, safe_relpath
from shipyard.errors import InvalidInput, NotFound
from shipyard.server.ui._session import ViewerDep
from shipyard.server.ui._web import make_router, render

if TYPE_CHECKING:
    from shipyard.artifacts import ArtifactRepository, FileInfo

__all__ = ["listing", "router"]

TEXT_BYTES = 64 << 10  # shown of a text file
JSON_BYTES = 1 << 20  # pretty-printed whole up to this size, else shown as text
CSV_BYTES = 256 << 10
CSV_ROWS = 50
MAX_RAW_BYTES = 20 << 20
IMAGES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
          ".webp": "image/webp", ".svg": "image/svg+xml", ".bmp": "image/bmp"}
TEXT = {".txt", ".log", ".md", ".py", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".sh", ".sql", ".xml", ".html",
        ".js", ".css", ".r", ".ipynb", ".out", ".err", ".rst", ".tex", ""}


def _repo(request: Request, run_id: str) -> ArtifactRepository:
    run = request.app.state.store.get_run(run_id)
    return get_artifact_repository(run.info.artifact_uri)


def listing(repo: ArtifactRepository, path: str) -> list[FileInfo]:
    """Folders first, then files, each by name."""
    return sorted(repo.list(path or None), key=lambda f: (not f.is_dir, f.path))


def _head(repo: ArtifactRepository, path: str, limit: int) -> bytes:
    with repo.open(path) as fh:
        return fh.read(limit + 1)


def _suffix(path: str) -> str:
    return posixpath.splitext(path)[1].lower()


def _preview(repo: ArtifactRepository, path: str, size: int | None) -> dict[str, Any]:
    suffix = _suffix(path)
    if suffix in IMAGES:
        if size is not None and size > MAX_RAW_BYTES:
            return {"kind": "none", "reason": f"an image of {size:,} bytes is too large to show"}
        return {"kind": "image"}
    if suffix == ".json" and (size or 0) <= JSON_BYTES:
        data = _head(repo, path, JSON_BYTES)
        try:
            pretty = orjson.dumps(orjson.loads(data), option=orjson.OPT_INDENT_2).decode()
            return {"kind": "text", "text": pretty[:TEXT_BYTES], "truncated": len(pretty) > TEXT_BYTES}
        except orjson.JSONDecodeError as exc:
            return {"kind": "text", "text": data[:TEXT_BYTES].decode("utf-8", "replace"), "truncated": False,
                    "note": f"not valid JSON: {exc}"}
    if suffix in (".csv", ".tsv"):
        data = _head(repo, path, CSV_BYTES)
        truncated = len(data) > CSV_BYTES
        text = data[:CSV_BYTES].decode("utf-8", "replace")
        if truncated:
            text = text[: text.rfind("\n") + 1] or text  # whole lines only
        rows = []
        for i, row in enumerate(csv.reader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ",")):
            if i > CSV_ROWS:
                break
            rows.append(row)
        return {"kind": "table", "header": rows[0] if rows else [], "rows": rows[1:CSV_ROWS + 1],
                "truncated": truncated or len(rows) > CSV_ROWS}
    data = _head(repo, path, TEXT_BYTES)
    try:
        text = data[:TEXT_BYTES].decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < TEXT_BYTES - 4 or suffix not in TEXT:  # not a character cut at the limit
            return {"kind": "none", "reason": "a binary file"}
        text = data[: exc.start].decode("utf-8")
    if "\x00" in text:
        return {"kind": "none", "reason": "a binary file"}
    return {"kind": "text", "text": text, "truncated": len(data) > TEXT_BYTES}


router = make_router()


@router.get("/runs/{run_id}/artifacts")
def artifacts(request: Request, run_id: str, who: ViewerDep, path: str = "") -> Response:
    rel = safe_relpath(path)
    repo = _repo(request, run_id)
    parent = posixpath.dirname(rel) if rel else None
    return render(request, "_artifacts.html", run_id=run_id, path=rel, parent=parent, files=listing(repo, rel))


@router.get("/runs/{run_id}/artifacts/preview")
def preview(request: Request, run_id: str, who: ViewerDep, path: str = "") -> Response:
    rel = safe_relpath(path, allow_root=False)
    repo = _repo(request, run_id)
    info = repo.info(rel)
    if info is None or info.is_dir:
        raise NotFound(f"no artifact file {rel!r} in run {run_id}")
    return render(request, "_preview.html", run_id=run_id, path=rel, size=info.size,
                  preview=_preview(repo, rel, info.size))


@router.get("/runs/{run_id}/artifacts/raw")
def raw(request: Request, run_id: str, who: ViewerDep, path: str = "") -> Response:
    rel = safe_relpath(path, allow_root=False)
    repo = _repo(request, run_id)
    info = repo.info(rel)
    if info is None or info.is_dir:
        raise NotFound(f"no artifact file {rel!r} in run {run_id}")
    data = _head(repo, rel, MAX_RAW_BYTES)
    if len(data) > MAX_RAW_BYTES:
        raise InvalidInput(f"{rel} is larger than {MAX_RAW_BYTES >> 20} MiB: download it with "
                           f"`shipyard artifacts download` or the API instead")
    media = IMAGES.get(_suffix(rel))
    name = quote(posixpath.basename(rel), safe="")
    headers = {"Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'",
               "Content-Disposition": f"{'inline' if media else 'attachment'}; filename*=UTF-8''{name}"}
    return Response(data, media_type=media or "application/octet-stream", headers=headers)
