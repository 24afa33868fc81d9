"""Artifacts in a local folder; every write goes to a temporary file first and is renamed in place.

A directory logged to a path that does not exist yet is copied into a hidden temporary sibling and
renamed into place in one step, so it appears whole or not at all (a model is never half there).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import BinaryIO

from shipyard.artifacts.base import ArtifactRepository, FileInfo, safe_relpath, storage_errors
from shipyard.errors import InvalidInput, NotFound

__all__ = ["LocalArtifactRepository"]


class LocalArtifactRepository(ArtifactRepository):
    def __init__(self, root: str | Path) -> None:
        self.root = str(Path(root).absolute())
        self._root = Path(self.root)

    def _resolve(self, path: str | None) -> Path:
        rel = safe_relpath(path)
        full = (self._root / rel) if rel else self._root
        # Symlinks inside the root could still point outside it: check the real location too.
        real_root = os.path.realpath(self._root)
        if os.path.commonpath([os.path.realpath(full), real_root]) != real_root:
            raise InvalidInput(f"artifact path {path!r} resolves outside the artifact root")
        return full

    def _write_atomic(self, target: Path, writer) -> None:  # type: ignore[no-untyped-def]
        with storage_errors(self.root):
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    writer(fh)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    def log_dir(self, local_dir: str | Path, artifact_path: str | None = None, *, last: str | None = None) -> None:
        """As :meth:`ArtifactRepository.log_dir`; a new directory appears whole, by one rename."""
        base = Path(local_dir)
        rel = safe_relpath(artifact_path)
        target = self._resolve(rel) if rel else None
        if target is None or target.exists() or not base.is_dir():
            super().log_dir(local_dir, artifact_path, last=last)  # merged into what is there, ``last`` last
            return
        tmp = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.tmp"  # hidden from list()
        try:
            with storage_errors(self.root):
                target.parent.mkdir(parents=True, exist_ok=True)
                _copy_tree(base, tmp)
                try:
                    os.rename(tmp, target)
                except OSError:
                    if not target.exists():
                        raise
                    super().log_dir(local_dir, artifact_path, last=last)  # another writer made it meanwhile
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _discard(self, paths: list[str]) -> None:
        for rel in paths:
            with contextlib.suppress(OSError, InvalidInput):
                self._resolve(rel).unlink(missing_ok=True)

    def log_file(self, local_file: str | Path, artifact_path: str | None = None) -> str:
        source = Path(local_file)
        if not source.is_file():
            raise NotFound(f"local file {str(local_file)!r} does not exist")
        rel = safe_relpath(posixpath.join(safe_relpath(artifact_path), source.name))
        with source.open("rb") as src:
            self._write_atomic(self._resolve(rel), lambda fh: shutil.copyfileobj(src, fh, 1 << 20))
        return rel

    def log_bytes(self, data: bytes, path: str) -> str:
        rel = safe_relpath(path, allow_root=False)
        self._write_atomic(self._resolve(rel), lambda fh: fh.write(data))
        return rel

    def list(self, path: str | None = None) -> list[FileInfo]:
        base = self._resolve(path)
        if not base.is_dir():
            return []
        prefix = safe_relpath(path)
        out = []
        for child in sorted(base.iterdir()):
            if child.name.startswith(".") and child.name.endswith(".tmp"):
                continue
            rel = f"{prefix}/{child.name}" if prefix else child.name
            out.append(FileInfo(rel, child.is_dir(), None if child.is_dir() else child.stat().st_size))
        return out

    def read_bytes(self, path: str) -> bytes:
        full = self._resolve(safe_relpath(path, allow_root=False))
        if not full.is_file():
            raise NotFound(f"artifact {path!r} not found under {self.root}")
        return full.read_bytes()

    def download(self, path: str | None, dst: str | Path) -> Path:
        source = self._resolve(path)
        target = Path(dst) / source.name if path else Path(dst)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        elif source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        else:
            raise NotFound(f"artifact {path!r} not found under {self.root}")
        return target

    def info(self, path: str | None) -> FileInfo | None:
        full = self._resolve(path)
        if full.is_dir():
            return FileInfo(safe_relpath(path), True)
        if full.is_file():
            return FileInfo(safe_relpath(path), False, full.stat().st_size)
        return None

    def open(self, path: str) -> BinaryIO:
        full = self._resolve(safe_relpath(path, allow_root=False))
        if not full.is_file():
            raise NotFound(f"artifact {path!r} not found under {self.root}")
        return full.open("rb")

    def exists(self, path: str) -> bool:
        return self._resolve(path).exists()

    def local_path(self, path: str | None = None) -> Path | None:
        return self._resolve(path)


def _copy_tree(src: Path, dst: Path) -> None:
    """Copy a tree; unlike ``shutil.copytree`` (which gathers them into ``shutil.Error``), the
    first OS error is raised as it is, so a full disk keeps its errno."""
    dst.mkdir()
    for item in sorted(src.rglob("*")):
        target = dst / item.relative_to(src)
        if item.is_dir():
            target.mkdir(exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(item, target)
