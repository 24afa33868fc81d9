"""Artifacts through a shipyard server: ``http(s)://host:port/api/v1/artifacts/<path>``.

What a remote client uses when the server keeps its artifacts on its own disk: every file goes up
with a streamed ``PUT`` and comes down with a streamed ``GET`` (never whole in memory), listings
come from ``GET /api/v1/artifacts?path=...``. The server checks every path and the size limit; the
token is the one of the REST store (``SHIPYARD_TRACKING_TOKEN``). Every request, uploads and
downloads included, rides out a server restart like the REST store's (see :func:`shipyard._http.send`):
an upload is sent again from the start of its file, a download restarts into an emptied target.
"""

from __future__ import annotations

import posixpath
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote

from shipyard._http import check_response, http_client, send
from shipyard.artifacts.base import ArtifactRepository, FileInfo, safe_relpath
from shipyard.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    import httpx

__all__ = ["ENDPOINT", "ServerArtifactRepository"]

ENDPOINT = "/api/v1/artifacts"
_CHUNK = 1 << 20


class ServerArtifactRepository(ArtifactRepository):
    """The files under ``root`` (a URL of the server's artifact endpoint, possibly with a path)."""

    def __init__(self, root: str, client: httpx.Client | None = None, *, retry_s: float | None = None) -> None:
        base, sep, rest = root.rstrip("/").partition(ENDPOINT)
        if not sep or (rest and not rest.startswith("/")):
            raise InvalidInput(f"{root!r} is not a shipyard server artifact URL (…{ENDPOINT}/<path>)")
        self.root = root.rstrip("/")
        self.server = base
        self.prefix = safe_relpath(rest.lstrip("/"))
        self._client = client
        self.retry_s = retry_s  # None: SHIPYARD_HTTP_RETRY_S or its default

    @property
    def http(self) -> httpx.Client:
        return self._client if self._client is not None else http_client(self.server)

    def _rel(self, path: str | None) -> str:
        rel = safe_relpath(path)
        return posixpath.join(self.prefix, rel) if self.prefix and rel else (self.prefix or rel)

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return check_response(send(lambda: self.http.request(method, url, **kwargs), self.server, self.retry_s))

    def _listing(self, path: str | None) -> dict[str, Any]:
        return self._request("GET", f"{self.server}{ENDPOINT}", params={"path": self._rel(path)}).json()  # type: ignore[no-any-return]

    # -- writes
    def _put(self, rel: str, source: Path | bytes) -> None:
        url = f"{self.server}{ENDPOINT}/{quote(self._rel(rel), safe='/')}"
        headers = {"Content-Type": "application/octet-stream"}

        def upload() -> httpx.Response:
            if isinstance(source, bytes):
                return self.http.request("PUT", url, content=source, headers=headers)
            with source.open("rb") as fh:  # each try streams the file from its start
                return self.http.request("PUT", url, content=fh, headers=headers)

        check_response(send(upload, self.server, self.retry_s))

    def log_file(self, local_file: str | Path, artifact_path: str | None = None) -> str:
        source = Path(local_file)
        if not source.is_file():
            raise NotFound(f"local file {str(local_file)!r} does not exist")
        rel = safe_relpath(posixpath.join(safe_relpath(artifact_path), source.name))
        self._put(rel, source)
        return rel

    def log_bytes(self, data: bytes, path: str) -> str:
        rel = safe_relpath(path, allow_root=False)
        self._put(rel, bytes(data))
        return rel

    # -- reads
    def list(self, path: str | None = None) -> list[FileInfo]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        return [FileInfo(f["path"][strip:], f["is_dir"], f.get("size")) for f in self._listing(path)["files"]]

    def info(self, path: str | None) -> FileInfo | None:
        found = self._listing(path)
        if not found["exists"]:
            return None
        return FileInfo(safe_relpath(path), found["is_dir"], found.get("size"))

    def exists(self, path: str) -> bool:
        return bool(self._listing(path)["exists"])

    def _stream_to(self, rel: str, out: BinaryIO) -> None:
        url = f"{self.server}{ENDPOINT}/{quote(self._rel(rel), safe='/')}"

        def download() -> httpx.Response:
            out.seek(0)
            out.truncate()  # a try cut off halfway starts over
            with self.http.stream("GET", url) as response:
                if response.status_code >= 400:
                    response.read()
                    return response
                for chunk in response.iter_bytes(_CHUNK):
                    out.write(chunk)
            return response

        check_response(send(download, self.server, self.retry_s))

    def read_bytes(self, path: str) -> bytes:
        rel = safe_relpath(path, allow_root=False)
        return self._request("GET", f"{self.server}{ENDPOINT}/{quote(self._rel(rel), safe='/')}").content

    def open(self, path: str) -> BinaryIO:
        spool = tempfile.SpooledTemporaryFile(max_size=_CHUNK * 8)  # noqa: SIM115 - the caller closes it
        self._stream_to(safe_relpath(path, allow_root=False), spool)  # type: ignore[arg-type]
        spool.seek(0)
        return spool  # type: ignore[return-value]

    def download(self, path: str | None, dst: str | Path) -> Path:
        rel = safe_relpath(path)
        found = self.info(rel or None)
        if found is None:
            raise NotFound(f"artifact {path!r} not found under {self.root}")
        target = Path(dst) / posixpath.basename(rel) if rel else Path(dst)
        if not found.is_dir:
            self._fetch(rel, target)
            return target
        target.mkdir(parents=True, exist_ok=True)
        pending = [rel]
        while pending:
            folder = pending.pop()
            for entry in self.list(folder or None):
                local = target / posixpath.relpath(entry.path, rel or ".")
                if entry.is_dir:
                    local.mkdir(parents=True, exist_ok=True)
                    pending.append(entry.path)
                else:
                    self._fetch(entry.path, local)
        return target

    def _fetch(self, rel: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.part")
        try:
            with partial.open("wb") as out:
                self._stream_to(rel, out)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)

    def local_path(self, path: str | None = None) -> Path | None:
        return None
