"""Artifacts on any fsspec file system (``s3://``, ``gs://``, ``memory://``, ...).

Object stores make each put atomic on their own; for other file systems a temporary name is
written first and moved in place. Listings are never cached (several processes share a root).
"""

from __future__ import annotations

import contextlib
import posixpath
import uuid
from pathlib import Path
from typing import Any, BinaryIO

from shipyard.artifacts.base import ArtifactRepository, FileInfo, safe_relpath, storage_errors
from shipyard.errors import NotFound

__all__ = ["FsspecArtifactRepository"]

_OBJECT_STORES = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory"}


class FsspecArtifactRepository(ArtifactRepository):
    def __init__(self, root: str, **storage_options: Any) -> None:
        import fsspec

        self.root = root.rstrip("/")
        # No cached listings: other processes (another server replica, a replica's prediction log, a
        # client with --no-serve-artifacts) write under the same root, and a stale listing would
        # answer "not found" for a file that is there.
        storage_options.setdefault("use_listings_cache", False)
        self._fs, self._base = fsspec.core.url_to_fs(self.root, **storage_options)
        protocols = self._fs.protocol if isinstance(self._fs.protocol, tuple) else (self._fs.protocol,)
        self._atomic_put = bool(set(protocols) & _OBJECT_STORES)

    def _full(self, path: str | None) -> str:
        rel = safe_relpath(path)
        return posixpath.join(self._base, rel) if rel else self._base

    def _put(self, target: str, put: Any) -> None:
        parent = posixpath.dirname(target)
        with storage_errors(self.root):
            self._fs.makedirs(parent, exist_ok=True)
            if self._atomic_put:
                put(target)
                return
            tmp = posixpath.join(parent, f".{uuid.uuid4().hex}.tmp")
            try:
                put(tmp)
                self._fs.mv(tmp, target)
            except BaseException:
                with contextlib.suppress(Exception):
                    if self._fs.exists(tmp):
                        self._fs.rm_file(tmp)
                raise

    def _discard(self, paths: list[str]) -> None:
        for rel in paths:
            with contextlib.suppress(Exception):
                self._fs.rm_file(self._full(rel))

    def log_file(self, local_file: str | Path, artifact_path: str | None = None) -> str:
        source = Path(local_file)
        if not source.is_file():
            raise NotFound(f"local file {str(local_file)!r} does not exist")
        rel = safe_relpath(posixpath.join(safe_relpath(artifact_path), source.name))
        self._put(self._full(rel), lambda target: self._fs.put_file(str(source), target))
        return rel

    def log_bytes(self, data: bytes, path: str) -> str:
        rel = safe_relpath(path, allow_root=False)
        self._put(self._full(rel), lambda target: self._fs.pipe_file(target, data))
        return rel

    def list(self, path: str | None = None) -> list[FileInfo]:
        full = self._full(path)
        if not self._fs.isdir(full):
            return []
        prefix = safe_relpath(path)
        out = []
        for entry in self._fs.ls(full, detail=True):
            name = posixpath.basename(entry["name"].rstrip("/"))
            if name.endswith(".tmp") and name.startswith("."):
                continue
            is_dir = entry.get("type") == "directory"
            out.append(FileInfo(f"{prefix}/{name}" if prefix else name, is_dir, None if is_dir else entry.get("size")))
        return sorted(out, key=lambda f: f.path)

    def read_bytes(self, path: str) -> bytes:
        full = self._full(safe_relpath(path, allow_root=False))
        if not self._fs.isfile(full):
            raise NotFound(f"artifact {path!r} not found under {self.root}")
        return bytes(self._fs.cat_file(full))

    def download(self, path: str | None, dst: str | Path) -> Path:
        full = self._full(path)
        target = Path(dst) / posixpath.basename(full) if path else Path(dst)
        if self._fs.isdir(full):
            target.mkdir(parents=True, exist_ok=True)
            for entry in self._fs.find(full):
                rel = posixpath.relpath(entry, full)
                local = target / rel
                local.parent.mkdir(parents=True, exist_ok=True)
                self._fs.get_file(entry, str(local))
        elif self._fs.isfile(full):
            target.parent.mkdir(parents=True, exist_ok=True)
            self._fs.get_file(full, str(target))
        else:
            raise NotFound(f"artifact {path!r} not found under {self.root}")
        return target

    def open(self, path: str) -> BinaryIO:
        full = self._full(safe_relpath(path, allow_root=False))
        if not self._fs.isfile(full):
            raise NotFound(f"artifact {path!r} not found under {self.root}")
        return self._fs.open(full, "rb")  # type: ignore[no-any-return]

    def exists(self, path: str) -> bool:
        return bool(self._fs.exists(self._full(path)))

    def local_path(self, path: str | None = None) -> Path | None:
        return None
