"""One compactor at a time per prediction log: a lock file at the log's root.

Compaction is safe for readers and writers on its own (``_log_index``); the lock keeps two
compactors (a scheduler's job and ``shipyard deployments compact-log`` by hand) from merging the
same segments twice, which would be harmless for readers (the later file is ignored) but wasted
work. Locally the lock is an exclusive create; an object store has no such call everywhere, so
the lock is written, then read back after a pause longer than a put takes: of two racing
compactors, the one whose write landed last sees its own lock and goes on, the other sees the
other's and stops. A lock expires (a compactor killed mid-run) after ``ttl_s`` unless refreshed.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from shipyard.serving._segment_files import SegmentFiles

__all__ = ["LOCK_NAME", "LogLock"]

LOCK_NAME = "_compaction.lock"  # '_': never listed as a deployment


class LogLock:
    def __init__(self, files: SegmentFiles, *, ttl_s: float = 300.0, settle_s: float = 1.0) -> None:
        self.files, self.ttl_s, self.settle_s = files, ttl_s, settle_s
        self.owner = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        self.held_by: str | None = None  # who holds it when acquire() fails

    def _now(self) -> int:
        return time.time_ns() // 1_000_000

    def _content(self) -> bytes:
        return orjson.dumps({"owner": self.owner, "expires_ms": self._now() + int(self.ttl_s * 1000)})

    def _current(self) -> dict[str, object] | None:
        raw = self.files.read_bytes(LOCK_NAME)
        if raw is None:
            return None
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None  # a torn or foreign file: treated as expired
        return value if isinstance(value, dict) else None

    def _live_other(self, current: dict[str, object] | None) -> bool:
        if current is None or current.get("owner") == self.owner:
            return False
        expires = current.get("expires_ms")
        return isinstance(expires, int) and expires > self._now()

    def acquire(self) -> bool:
        """True when this compactor holds the lock; False (``held_by`` set) when another does."""
        current = self._current()
        if self._live_other(current):
            self.held_by = str(current.get("owner")) if current else None
            return False
        if self.files.is_local:
            path = self.files.full(LOCK_NAME)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if current is not None:  # expired or unreadable: take it over
                self.files.delete(LOCK_NAME)
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:  # another compactor took it between our read and our create
                current = self._current()
                self.held_by = str(current.get("owner")) if current else None
                return False
            with os.fdopen(fd, "wb") as out:
                out.write(self._content())
            return True
        self.files.write_bytes(LOCK_NAME, self._content())
        time.sleep(self.settle_s)
        current = self._current()
        if current is None or current.get("owner") != self.owner:
            self.held_by = str(current.get("owner")) if current else None
            return False
        return True

    def refresh(self) -> None:
        """Push the expiry on (called between folders of a long run)."""
        self.files.write_bytes(LOCK_NAME, self._content())

    def release(self) -> None:
        current = self._current()
        if current is not None and current.get("owner") == self.owner:
            self.files.delete(LOCK_NAME)
