"""A real small disk for full-disk tests: a size-limited tmpfs mounted for the test (needs root, as
CI has; elsewhere the tests that need it skip and say why)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = ["fill", "small_disk"]


@contextmanager
def small_disk(path: Path, size_kb: int = 1024) -> Iterator[Path]:
    """A tmpfs of ``size_kb`` KiB mounted at ``path`` for the block's duration."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0755", "tmpfs", str(path)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"a full-disk test needs a small tmpfs, and mounting one failed (root is needed): "
                    f"{done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def fill(path: Path, leave_kb: int) -> None:
    """Fill the file system holding ``path`` until about ``leave_kb`` KiB are free."""
    stat = os.statvfs(path)
    free = stat.f_bavail * stat.f_frsize
    (path / ".filler").write_bytes(b"\0" * max(0, free - leave_kb * 1024))


def files_under(path: Path) -> list[str]:
    """Every file and folder under ``path`` except the filler, relative, sorted."""
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.name != ".filler")
