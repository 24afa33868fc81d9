"""The artifact repository interface and the path rules every implementation enforces.

An artifact path is relative, uses ``/``, and has no ``..``, empty or absolute parts: whatever a user
passes, nothing is written outside the repository's root. A bad path is an
:class:`~shipyard.errors.InvalidInput`, never a write.

A full disk (``ENOSPC``, or a quota's ``EDQUOT``) is a :class:`~shipyard.errors.StorageFull`, raised
after the partial write was removed (:func:`storage_errors`), so it reaches an HTTP client as a 507
with a message rather than a 500.
"""

from __future__ import annotations

import errno
import io
import posixpath
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from shipyard.errors import InvalidInput, StorageFull

__all__ = ["ArtifactRepository", "FileInfo", "safe_relpath", "storage_errors"]

_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


@contextmanager
def storage_errors(where: str) -> Iterator[None]:
    """Turn a full disk or quota inside the block into :class:`StorageFull` naming ``where``
    (other OS errors pass through unchanged). The caller removes its partial write first."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _FULL:
            raise StorageFull(f"no space left on the device that holds {where} ({exc.strerror}); nothing was "
                              "kept: free space (or raise the quota) and try again") from exc
        raise


@dataclass(frozen=True, slots=True)
class FileInfo:
    path: str  # relative to the repository root, "/"-separated
    is_dir: bool
    size: int | None = None


def safe_relpath(path: str | None, *, allow_root: bool = True) -> str:
    """Normalise an artifact path, refusing anything that could leave the root."""
    if path is None or path in ("", "."):
        if allow_root:
            return ""
        raise InvalidInput("an artifact path is required")
    if not isinstance(path, str):
        raise InvalidInput(f"artifact path must be a string, got {type(path).__name__}")
    if "\x00" in path or "\\" in path:
        raise InvalidInput(f"artifact path {path!r} contains a NUL or a backslash")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise InvalidInput(f"artifact path {path!r} must be relative")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise InvalidInput(f"artifact path {path!r} must not contain '..'")
    return posixpath.join(*parts) if parts else ""


class ArtifactRepository(ABC):
    """Files under one root (a run's artifacts, a model version, a prediction-log partition)."""

    root: str

    @abstractmethod
    def log_file(self, local_file: str | Path, artifact_path: str | None = None) -> str:
        """Copy a local file under ``artifact_path`` (a directory); returns its relative path."""

    @abstractmethod
    def log_bytes(self, data: bytes, path: str) -> str:
        """Write ``data`` to ``path`` atomically; returns the relative path."""

    def log_dir(self, local_dir: str | Path, artifact_path: str | None = None, *, last: str | None = None) -> None:
        """Copy a local directory tree under ``artifact_path``.

        ``last`` (a path relative to ``local_dir``) is written after every other file, so a reader
        that finds it finds the whole tree: models name their manifest, which makes a model whose
        upload broke off (a full disk, a lost connection) one without a manifest, never one with
        missing files. When a write fails, the files this call wrote are removed where the
        repository can remove files (:meth:`_discard`) and the error is raised.
        """
        base = Path(local_dir)
        if not base.is_dir():
            raise InvalidInput(f"{str(local_dir)!r} is not a directory")
        prefix = safe_relpath(artifact_path)
        files = sorted(p for p in base.rglob("*") if p.is_file())
        if last is not None:
            files.sort(key=lambda p: p.relative_to(base).as_posix() == safe_relpath(last))
        written: list[str] = []
        try:
            for file in files:
                rel = file.parent.relative_to(base).as_posix()
                written.append(self.log_file(file, posixpath.join(prefix, rel) if rel != "." else prefix))
        except BaseException:
            self._discard(written)
            raise

    def _discard(self, paths: list[str]) -> None:
        """Remove files a failed :meth:`log_dir` wrote (best effort; a no-op where files cannot be
        removed, e.g. through a server, which is why ``last`` exists)."""
        return None

    @abstractmethod
    def list(self, path: str | None = None) -> list[FileInfo]:
        """Direct children of ``path`` (sorted); an empty list for a missing directory."""

    @abstractmethod
    def read_bytes(self, path: str) -> bytes:
        """Raises NotFound for a missing file."""

    @abstractmethod
    def download(self, path: str | None, dst: str | Path) -> Path:
        """Copy a file or a directory tree to the local ``dst`` directory; returns the local path."""

    @abstractmethod
    def exists(self, path: str) -> bool: ...

    @abstractmethod
    def local_path(self, path: str | None = None) -> Path | None:
        """The file's own local path when the repository is on the local file system, else None."""

    def info(self, path: str | None) -> FileInfo | None:
        """What is at ``path`` (a file or a directory), or None when nothing is."""
        rel = safe_relpath(path)
        if not rel:
            return FileInfo("", True)
        parent = posixpath.dirname(rel)
        return next((f for f in self.list(parent or None) if f.path == rel), None)

    def open(self, path: str) -> BinaryIO:
        """The file for reading (a stream where the repository can, so large files are not held in
        memory). Raises NotFound for a missing file."""
        return io.BytesIO(self.read_bytes(path))
