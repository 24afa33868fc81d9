"""Asynchronous, batched metric logging: ``log_metric`` appends to memory, a thread writes batches.

``log_metric`` in a tight loop must not cost a database round trip per call (MLflow: 7 SQL statements
and a commit per call, about 2.3 ms). Here a call appends a tuple under a lock (about a microsecond);
a background thread writes everything pending in one transaction per run every ``interval`` seconds,
or at once when ``max_pending`` points are waiting. ``flush()`` blocks until every point logged before
it is in the database and re-raises a write error, so ``end_run`` (which flushes) never reports
success for lost points. An ``atexit`` hook flushes at interpreter exit.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections import defaultdict
from typing import TYPE_CHECKING

from shipyard.entities import Metric

if TYPE_CHECKING:
    from shipyard.store.base import TrackingStore

__all__ = ["MetricBatcher"]

logger = logging.getLogger(__name__)
_live: weakref.WeakSet[MetricBatcher] = weakref.WeakSet()


class MetricBatcher:
    def __init__(self, store: TrackingStore, *, interval: float = 0.5, max_pending: int = 20_000) -> None:
        self._store = store
        self._interval = interval
        self._max_pending = max_pending
        self._cond = threading.Condition()
        self._pending: defaultdict[str, list[Metric]] = defaultdict(list)
        self._count = 0  # points waiting
        self._enqueued = 0  # sequence number of the last point appended
        self._written = 0  # sequence number up to which points are durable (or failed)
        self._errors: dict[str, BaseException] = {}
        self._thread: threading.Thread | None = None
        self._closed = False
        self._flush_wanted = False
        _live.add(self)

    def add(self, run_id: str, metrics: list[Metric]) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("the metric batcher is closed")
            self._pending[run_id].extend(metrics)
            self._count += len(metrics)
            self._enqueued += len(metrics)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="shipyard-metrics", daemon=True)
                self._thread.start()
            if self._count >= self._max_pending:
                self._cond.notify_all()

    def flush(self, run_id: str | None = None) -> None:
        """Wait until every point added so far is written; raise the first write error, if any."""
        with self._cond:
            target = self._enqueued
            self._flush_wanted = True
            self._cond.notify_all()
            while self._written < target:
                self._cond.wait()
            error = self._errors.pop(run_id, None) if run_id else None
            if run_id is None and self._errors:
                error = self._errors.pop(next(iter(self._errors)))
        if error is not None:
            raise error

    def _run(self) -> None:
        while True:
            with self._cond:
                deadline: float | None = None
                while True:
                    if self._closed and self._count == 0:
                        return
                    if self._count >= self._max_pending or self._flush_wanted or self._closed:
                        break
                    if self._count == 0:
                        deadline = None
                        self._cond.wait()
                        continue
                    now = time.monotonic()
                    deadline = deadline or now + self._interval
                    if now >= deadline:
                        break
                    self._cond.wait(deadline - now)
                batch, self._pending = self._pending, defaultdict(list)
                upto, self._count, self._flush_wanted = self._enqueued, 0, False
            for run_id, metrics in batch.items():
                try:
                    self._store.log_batch(run_id, metrics=metrics)
                except BaseException as exc:  # kept for flush() to raise in the caller's thread
                    logger.error("could not write %d metric points of run %s: %s", len(metrics), run_id, exc)
                    with self._cond:
                        self._errors.setdefault(run_id, exc)
            with self._cond:
                self._written = upto
                self._cond.notify_all()

    def close(self) -> None:
        self.flush()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)


@atexit.register
def _flush_all_at_exit() -> None:
    for batcher in list(_live):
        try:
            batcher.flush()
        except Exception as exc:
            logger.error("metric points could not be written at exit: %s", exc)
