"""The prediction logger: every answered row, buffered in memory, written as Parquet segments.

Layout under the root (a local folder or an fsspec URL)::

    <root>/deployment=<name>/date=YYYY-MM-DD/<replica_id>-<sequence>~<first>-<last>-<rows>.parquet

(the name carries the rows' first and last timestamp and their count, so readers pick files from
a listing: ``_segment_names``; compaction later merges segments: ``compaction``)

Why this shape: serving must never wait on storage, and replicas must never wait on each other.
So ``append`` is one deque append; a background thread turns the buffer into Arrow tables as rows
arrive, in small pieces (every ``convert_entries`` appends or ``convert_rows`` rows: one conversion
holds the GIL, and the serving event loop waits behind it), and writes whole segments when
``max_rows`` rows are buffered or the oldest buffered row is ``max_seconds`` old. Each replica
writes files named by its own ``replica_id``, so no two writers touch one file and no locking
between them is needed; the date partition (UTC, from each row's time) lets a reader skip whole
days. ``flush()``/``close()`` write synchronously, and an atexit hook closes the logger, so a normal
exit or a SIGTERM handler that calls ``close()`` loses no buffered row. The schema is documented in
``_predlog_schema``.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import logging
import os
import re
import secrets
import socket
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from shipyard.errors import InvalidInput
from shipyard.serving._predlog_schema import RecordBlock, day_of, partition_dir, records_to_table
from shipyard.serving._segment_files import SegmentFiles
from shipyard.serving._segment_names import segment_name

__all__ = ["PredictionLogger", "default_replica_id"]

logger = logging.getLogger(__name__)
_EPOCH = dt.date(1970, 1, 1)
_SAFE = re.compile(r"[^\w.\-]")


def default_replica_id() -> str:
    """hostname-pid-random: unique per process, readable in a file listing."""
    host = _SAFE.sub("_", socket.gethostname()) or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


def _warm_up() -> None:
    """Convert and serialize one row now, so every lazy import (pyarrow's pandas shim, the Parquet
    writer) happens at start: at interpreter exit, when atexit runs close(), an import that
    registers its own exit hook (pandas pulls in concurrent.futures) fails and the rows would be lost."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sample = {"request_id": "warm-up", "timestamp_ms": 0, "features": {"x": 1.0}, "prediction": "a"}
    pq.write_table(records_to_table([sample], "warm-up"), pa.BufferOutputStream())


def _close_if_alive(ref: weakref.ReferenceType[PredictionLogger]) -> None:
    target = ref()
    if target is not None:
        target.close()


class PredictionLogger:
    """Buffers prediction records and writes them as Parquet segments; see the module doc."""

    #: Rows kept in memory while storage keeps failing; beyond it the oldest are dropped (and counted)
    #: so an outage of the log store cannot take a serving replica down with it.
    max_buffered_rows = 1_000_000
    #: The background thread converts buffered rows to Arrow once this many appends (blocks or
    #: lists of records) or rows wait, in pieces of ``convert_entries`` appends (see ``_convert``).
    convert_entries = 128
    convert_rows = 4096

    def __init__(self, root: str, *, replica_id: str | None = None, max_rows: int = 10_000,
                 max_seconds: float = 2.0) -> None:
        if max_rows < 1 or not max_seconds > 0:
            raise InvalidInput(f"max_rows must be >= 1 and max_seconds > 0, got {max_rows} and {max_seconds}")
        if replica_id is not None and (not replica_id or _SAFE.search(replica_id) or replica_id[0] in "._"):
            raise InvalidInput(f"replica_id {replica_id!r} may contain only letters, digits, '_', '.', '-' "
                               "and must not start with '.' or '_'")
        self.root = str(root)
        self.max_rows = max_rows
        self.max_seconds = max_seconds
        self._explicit_id = replica_id
        self._files = SegmentFiles(self.root)
        self.rows_written = 0
        self.segments_written = 0
        self.dropped_rows = 0
        _warm_up()
        self._start(replica_id or default_replica_id())
        ref = weakref.ref(self)
        self._atexit: Callable[[], None] = lambda: _close_if_alive(ref)
        atexit.register(self._atexit)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=lambda ref=weakref.ref(self): _restart_in_child(ref))

    def _start(self, replica_id: str) -> None:
        self.replica_id = replica_id
        # append() takes no lock on its way: a deque's append/popleft are atomic, so the hot path
        # is one append, and a SIGTERM handler that calls close() in the middle of an append() in
        # the main thread cannot deadlock on a lock that append() holds.
        self._pending: deque[tuple[float, str, list[Any]]] = deque()
        # Rows appended / taken for conversion: approximate (unlocked) counts, each written by one
        # side only, used to wake the writer early.
        self._appended = 0
        self._taken = 0
        self._convert_asked = False
        # Converted, not yet written (only under _io_lock): pieces in append order, and their rows.
        self._converted: list[_Piece] = []
        self._converted_rows = 0
        self._wake = threading.Condition(threading.RLock())
        self._io_lock = threading.RLock()
        self._seq = 0  # see _next_name
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"shipyard-predlog-{replica_id}", daemon=True)
        self._thread.start()

    # -- the contract ----------------------------------------------------------------------------

    def append(self, deployment: str, records: list[dict[str, Any]] | RecordBlock) -> None:
        """Buffer records of one deployment; thread-safe, never waits on I/O (except after close)."""
        if not records:
            return
        # A RecordBlock (columns from the serving app) is kept whole; a list of dicts is copied.
        self._pending.append((time.monotonic(), deployment, [records] if isinstance(records, RecordBlock)
                              else list(records)))
        self._appended += len(records)
        if self._appended - self._taken + self._converted_rows >= self.max_rows or (
                not self._convert_asked and (len(self._pending) >= self.convert_entries
                                             or self._appended - self._taken >= self.convert_rows)):
            self._convert_asked = True
            with self._wake:
                self._wake.notify()
        if self._closed:  # no background writer any more: write now rather than lose the rows
            self.flush()

    @property
    def buffered_rows(self) -> int:
        """Rows appended and not yet written (what a kill -9 of this process would lose)."""
        return max(0, self._appended - self._taken + self._converted_rows)

    @property
    def lag_s(self) -> float:
        """How long the oldest buffered row has waited to be written, in seconds (0 when none)."""
        oldest = self._oldest()
        return 0.0 if oldest is None else max(0.0, time.monotonic() - oldest)

    def flush(self) -> None:
        """Write every row appended so far; when it returns they are in durable segments.

        Raises the storage error if a segment cannot be written (those rows stay buffered)."""
        with self._io_lock:
            self._convert(None)
            self._write_converted()

    def close(self) -> None:
        """Flush and stop the background writer. Idempotent; safe to call from a signal handler."""
        if not self._closed:
            self._closed = True
            atexit.unregister(self._atexit)
            with self._wake:
                self._wake.notify_all()
        self.flush()
        if self._thread is not threading.current_thread():
            # Bounded: if a signal handler interrupted append() while it held the wake lock, the
            # writer cannot take it back until the handler returns; the rows are written already.
            self._thread.join(timeout=1.0)

    def __enter__(self) -> PredictionLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- inside ----------------------------------------------------------------------------------

    def _oldest(self) -> float | None:
        """When the oldest unwritten row was appended (monotonic), or None when none is buffered."""
        converted = self._converted  # read without the lock: a list swapped whole, never emptied in place
        times = [converted[0].oldest] if converted else []
        with contextlib.suppress(IndexError):
            times.append(self._pending[0][0])
        return min(times) if times else None

    def _run(self) -> None:
        while True:
            with self._wake:
                due = False
                while not self._closed:
                    pending_rows = self._appended - self._taken
                    oldest = self._oldest()
                    wait = self.max_seconds if oldest is None else oldest + self.max_seconds - time.monotonic()
                    due = wait <= 0 or pending_rows + self._converted_rows >= self.max_rows
                    if due or len(self._pending) >= self.convert_entries or pending_rows >= self.convert_rows:
                        break
                    self._convert_asked = False
                    self._wake.wait(wait)
                if self._closed:
                    return
            try:
                with self._io_lock:
                    self._convert(self.convert_entries)
                    if due:
                        self._write_converted()
            except Exception:
                logger.exception("prediction log: writing segments under %s failed; rows stay buffered and "
                                 "are retried in %.1f s", self.root, self.max_seconds)
                with self._wake:
                    if not self._closed:
                        self._wake.wait(self.max_seconds)

    def _convert(self, piece_entries: int | None) -> None:
        """Turn every pending entry into Arrow tables, ``piece_entries`` entries at a time (None: all at
        once). Called under ``_io_lock``.

        The background thread converts as rows arrive, a few hundred at a time, instead of all of a
        segment's rows when it is written: one conversion holds the GIL for its whole length, and a
        request that arrives meanwhile waits for it, so small pieces keep the log out of the serving
        process's tail latency (a segment of a few thousand one-row blocks took 20-60 ms)."""
        while self._pending:
            entries: list[Any] = []
            taken = 0
            while piece_entries is None or len(entries) < piece_entries:
                try:
                    entry = self._pending.popleft()
                except IndexError:
                    break
                entries.append(entry)
                taken += _count(entry[2])
            self._taken += taken
            by_deployment: dict[str, list[Any]] = {}
            for _, deployment, rows in entries:
                by_deployment.setdefault(deployment, []).extend(rows)
            pieces = []
            for deployment, rows in by_deployment.items():
                for _, day, group in self._by_day(deployment, rows):
                    table = self._table(deployment, group)
                    if table is not None:
                        pieces.append(_Piece(entries[0][0], deployment, day, table))
            self._converted = self._converted + pieces
            self._converted_rows += sum(p.table.num_rows for p in pieces)
            if self._pending:
                time.sleep(0)  # more to do: let the event loop thread run between pieces

    def _write_converted(self) -> None:
        """Write the converted pieces, one segment per deployment and day. Called under ``_io_lock``.

        On a storage error the unwritten pieces stay (the oldest dropped beyond ``max_buffered_rows``)
        and the error is raised."""
        groups: dict[tuple[str, int], list[_Piece]] = {}
        for piece in self._converted:
            groups.setdefault((piece.deployment, piece.day), []).append(piece)
        try:
            for (deployment, day), pieces in groups.items():
                try:
                    tables = [_concat([p.table for p in pieces])]
                except (pa.ArrowInvalid, pa.ArrowTypeError):  # pieces typed a column differently
                    tables = [p.table for p in pieces]  # a segment each; the reader unifies them
                for table in tables:
                    self._write_segment(deployment, day, table)
                written = set(map(id, pieces))
                self._converted = [p for p in self._converted if id(p) not in written]
                self._converted_rows -= sum(p.table.num_rows for p in pieces)
        except BaseException:
            self._trim()
            raise

    def _by_day(self, deployment: str, rows: list[Any]) -> list[tuple[str, int, list[Any]]]:
        """Rows split by UTC date: a flush that spans midnight writes one segment per date."""
        days: dict[int, list[Any]] = {}
        bad = []
        for row in rows:
            if isinstance(row, RecordBlock):
                parts = row.by_day()  # a batch's rows carry their own times: it may span midnight
            else:
                try:
                    parts = [(day_of(row["timestamp_ms"]), row)]
                except (KeyError, TypeError, ValueError):
                    bad.append(row)
                    continue
            for day, part in parts:
                group = days.get(day)
                if group is None:
                    group = days[day] = []
                group.append(part)
        if bad:
            self._drop(len(bad), f"they have no integer timestamp_ms (deployment {deployment!r})")
        return [(deployment, day, group) for day, group in sorted(days.items())]

    def _write_segment(self, deployment: str, day: int, table: Any) -> None:
        folder = partition_dir(deployment, (_EPOCH + dt.timedelta(days=day)).isoformat())
        self._files.write_table(f"{folder}/{self._next_name(table)}", table)
        self.segments_written += 1
        self.rows_written += table.num_rows

    def _table(self, deployment: str, rows: list[Any]) -> Any:
        try:
            return records_to_table(rows, deployment)
        except (KeyError, TypeError, ValueError, AttributeError):
            pass  # find the malformed rows one by one; the rest are still written
        good, bad, error = [], [], ""
        for row in rows:
            try:
                records_to_table([row], deployment)
                good.append(row)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                bad.append(row)
                error = error or f"{type(exc).__name__}: {exc}"
        if bad:
            self._drop(_count(bad), f"they are malformed (deployment {deployment!r}, first error {error})")
        return records_to_table(good, deployment) if good else None

    def _next_name(self, table: Any) -> str:
        """The segment's name: its id, time range and row count (see ``_segment_names``).

        The sequence number is never below the clock in ms, so a replica restarted with a fixed id
        never reuses an id, even one whose segment compaction has since replaced and removed."""
        self._seq = max(self._seq + 1, time.time_ns() // 1_000_000)
        stamps = pc.min_max(table["timestamp"].cast(pa.int64()))
        return segment_name(self.replica_id, self._seq, stamps["min"].as_py(), stamps["max"].as_py(), table.num_rows)

    def _trim(self) -> None:
        """Keep at most ``max_buffered_rows`` unwritten rows: the oldest converted ones go first."""
        excess = self._converted_rows + (self._appended - self._taken) - self.max_buffered_rows
        kept = list(self._converted)
        while excess > 0 and kept:
            piece = kept[0]
            rows = piece.table.num_rows
            if rows > excess:
                kept[0] = _Piece(piece.oldest, piece.deployment, piece.day, piece.table.slice(excess))
                rows = excess
            else:
                kept.pop(0)
            self._converted_rows -= rows
            self._drop(rows, "the log store keeps failing and the buffer is full")
            excess -= rows
        self._converted = kept

    def _drop(self, rows: int, why: str) -> None:
        self.dropped_rows += rows
        logger.error("prediction log: dropped %d row(s) because %s", rows, why)  # one line per batch


class _Piece:
    """Converted rows of one deployment and day, waiting to be written; ``oldest``: when the
    first of them was appended (monotonic)."""

    __slots__ = ("day", "deployment", "oldest", "table")

    def __init__(self, oldest: float, deployment: str, day: int, table: Any) -> None:
        self.oldest, self.deployment, self.day, self.table = oldest, deployment, day, table


def _concat(tables: list[Any]) -> Any:
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="permissive").combine_chunks()


def _restart_in_child(ref: weakref.ReferenceType[PredictionLogger]) -> None:
    """A forked child gets a fresh replica id, buffer and thread: the parent still owns its rows."""
    target = ref()
    if target is not None and not target._closed:
        explicit = target._explicit_id
        target._start(f"{explicit}-{os.getpid()}" if explicit else default_replica_id())


def _count(rows: list[Any]) -> int:
    """Rows in a buffered list of record dicts and RecordBlocks."""
    return sum(len(row) if isinstance(row, RecordBlock) else 1 for row in rows)
