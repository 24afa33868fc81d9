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

Segments are named by the logger's *generation*: each write closes the current one, and every
segment of it is ``<replica_id>-<sequence>`` in its deployment's and date's folder. Where they go is
the sink's business (:mod:`shipyard.serving._ingest`): the folder or bucket itself, or a shipyard
server when the root is its artifact URL (``http(s)://host/api/v1/artifacts/prediction-logs``),
which needs only a writer token. A name already there with the same rows is a retry and is skipped.

With ``wal_dir``, ``append`` also writes the rows to a write-ahead file of the current generation
before it returns (:mod:`shipyard.serving._wal`); a generation's file is deleted once all its rows
are in the log, and the files a killed process left behind are shipped by the next logger that
starts on the same folder, under their generation's names, so nothing answered is lost and nothing
is written twice.
"""

from __future__ import annotations

import atexit
import contextlib
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

from shipyard.errors import InvalidInput
from shipyard.serving._ingest import SegmentTaken, Sink, make_sink
from shipyard.serving._predlog_schema import RecordBlock, day_of, records_to_table, unify_schemas
from shipyard.serving._wal import Orphan, WriteAheadLog, decode_entry, encode_entry, find_orphans, stem

__all__ = ["PredictionLogger", "default_replica_id"]

logger = logging.getLogger(__name__)
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
    #: Closed generations (write-ahead files) waiting to be written, beyond which the open one grows.
    max_open_files = 64

    def __init__(self, root: str, *, replica_id: str | None = None, max_rows: int = 10_000,
                 max_seconds: float = 2.0, wal_dir: str | os.PathLike[str] | None = None, wal_fsync: bool = False,
                 sink: Sink | None = None) -> None:
        if max_rows < 1 or not max_seconds > 0:
            raise InvalidInput(f"max_rows must be >= 1 and max_seconds > 0, got {max_rows} and {max_seconds}")
        if replica_id is not None and (not replica_id or _SAFE.search(replica_id) or replica_id[0] in "._"):
            raise InvalidInput(f"replica_id {replica_id!r} may contain only letters, digits, '_', '.', '-' "
                               "and must not start with '.' or '_'")
        self.root = str(root)
        self.max_rows = max_rows
        self.max_seconds = max_seconds
        self.wal_dir = None if wal_dir is None else os.fspath(wal_dir)
        self.wal_fsync = wal_fsync
        self._explicit_id = replica_id
        self._sink = sink if sink is not None else make_sink(self.root)
        self.rows_written = 0
        self.segments_written = 0
        self.dropped_rows = 0
        self.recovered_rows = 0  # rows of killed processes' write-ahead files this logger shipped
        self._wal: WriteAheadLog | None = None
        _warm_up()
        self._start(replica_id or default_replica_id(), adopt=True)
        ref = weakref.ref(self)
        self._atexit: Callable[[], None] = lambda: _close_if_alive(ref)
        atexit.register(self._atexit)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=lambda ref=weakref.ref(self): _restart_in_child(ref))

    def _start(self, replica_id: str, *, adopt: bool) -> None:
        self.replica_id = replica_id
        # append() takes only an RLock on its way (a signal handler that calls close() in the middle
        # of an append() in the main thread re-enters it instead of deadlocking): the write-ahead
        # frame and the buffered entry go in together, so a generation's file holds exactly the rows
        # buffered under its key.
        self._pending: deque[tuple[float, str, list[Any], str]] = deque()
        self._lock = threading.RLock()
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
        self._closed = False
        self._wal_failed_at = 0.0
        # Closed generations not yet all in the log -> what releases their write-ahead file.
        self._batches: dict[str, Callable[[], None] | None] = {}
        self._adopted: list[Orphan] = []  # their files stay locked until shipped (or this logger closes)
        # Generations are numbered from the clock in ms, so a replica restarted with a fixed id never
        # reuses a segment id, not even one whose file compaction has since replaced and removed
        # (readers skip a segment id a compacted file covers).
        seq = time.time_ns() // 1_000_000
        if self.wal_dir is not None:
            self._wal = WriteAheadLog(self.wal_dir, replica_id, fsync=self.wal_fsync, first_seq=seq)
            seq = self._wal.seq
        self._seq = seq
        self._open_key = stem(replica_id, seq)
        self._open_rows = 0
        if adopt and self.wal_dir is not None:
            self._adopt(self.wal_dir)
        self._thread = threading.Thread(target=self._run, name=f"shipyard-predlog-{replica_id}", daemon=True)
        self._thread.start()

    def _adopt(self, folder: str) -> None:
        """Buffer the rows of the write-ahead files that dead processes left in ``folder``, under
        their own generations' names (written at the first flush, like any closed generation)."""
        for orphan in find_orphans(folder):
            try:
                entries = [decode_entry(payload) for payload in orphan.frames()]
            except Exception:  # a file this version cannot read: kept for a person to look at
                logger.exception("prediction log: cannot read the write-ahead file %s; it is left in place",
                                 orphan.path)
                orphan.unlock()
                continue
            rows = 0
            now = time.monotonic() - self.max_seconds  # answered long ago: written at the first cycle
            self._adopted.append(orphan)
            for deployment, records in entries:
                self._pending.append((now, deployment, records, orphan.stem))
                rows += _count(records)
            self._appended += rows
            self.recovered_rows += rows
            self._batches[orphan.stem] = orphan.release
            logger.warning("prediction log: shipping %d row(s) from %s, answered by a process that stopped before "
                           "writing them", rows, orphan.path)

    # -- the contract ----------------------------------------------------------------------------

    def append(self, deployment: str, records: list[dict[str, Any]] | RecordBlock) -> None:
        """Buffer records of one deployment; thread-safe, never waits on I/O (except after close).

        With a write-ahead folder the rows are also in its file (one ``write``) when this returns."""
        if not records:
            return
        # A RecordBlock (columns from the serving app) is kept whole; a list of dicts is copied.
        rows = [records] if isinstance(records, RecordBlock) else list(records)
        count = len(records)
        wal = self._wal
        data = self._encode(deployment, rows) if wal is not None else None
        with self._lock:
            if data is not None:
                try:
                    wal.write(data)  # type: ignore[union-attr]
                except OSError as exc:
                    self._wal_error(exc)
            self._pending.append((time.monotonic(), deployment, rows, self._open_key))
            self._open_rows += count
        self._appended += count
        if self._appended - self._taken + self._converted_rows >= self.max_rows or (
                not self._convert_asked and (len(self._pending) >= self.convert_entries
                                             or self._appended - self._taken >= self.convert_rows)):
            self._convert_asked = True
            with self._wake:
                self._wake.notify()
        if self._closed:  # no background writer any more: write now rather than lose the rows
            self.flush()

    def _encode(self, deployment: str, rows: list[Any]) -> bytes | None:
        try:
            return encode_entry(deployment, rows)
        except (TypeError, ValueError) as exc:  # still logged from memory; only kill -9 safety is lost
            self._wal_error(exc)
            return None

    def _wal_error(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._wal_failed_at > 60:  # one line a minute, not one per request
            self._wal_failed_at = now
            logger.error("prediction log: writing the write-ahead file under %s failed (%s: %s); rows are still "
                         "logged from memory, but a kill -9 would lose them", self.wal_dir, type(exc).__name__, exc)

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
            while True:
                closed = self._close_generation()
                self._convert(None, closed_only=True)
                self._write_converted()
                if closed:  # else the backlog that kept the generation open is written now: again
                    break

    def close(self) -> None:
        """Flush and stop the background writer. Idempotent; safe to call from a signal handler.

        With a write-ahead folder, rows that cannot be written now (the log store is down) stay in
        its files for the next logger on that folder to ship, and close() only logs it."""
        if not self._closed:
            self._closed = True
            atexit.unregister(self._atexit)
            with self._wake:
                self._wake.notify_all()
        try:
            self.flush()
        except Exception:
            if self._wal is None:
                raise
            logger.warning("prediction log: %d row(s) could not be written now; they stay in the write-ahead "
                           "files under %s and are shipped by the next replica started on that folder",
                           self.buffered_rows, self.wal_dir, exc_info=True)
        finally:
            if self._thread is not threading.current_thread():
                # Bounded: if a signal handler interrupted append() while it held the wake lock, the
                # writer cannot take it back until the handler returns; the rows are written already.
                self._thread.join(timeout=1.0)
            if self._wal is not None and self._thread is not threading.current_thread():
                with self._io_lock, self._lock:
                    self._wal.close()  # unwritten generations' files stay for the next logger
                    self._wal = None
                    for orphan in self._adopted:
                        orphan.unlock()

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
                    if due:
                        self._close_generation()
                    self._convert(self.convert_entries, closed_only=due)
                    if due:
                        self._write_converted()
            except Exception:
                logger.exception("prediction log: writing segments under %s failed; rows stay buffered and "
                                 "are retried in %.1f s", self.root, self.max_seconds)
                with self._wake:
                    if not self._closed:
                        self._wake.wait(self.max_seconds)

    def _close_generation(self) -> bool:
        """Close the open generation (its write-ahead file too): what it holds is written next, under
        its name; later appends belong to the next one. Called under ``_io_lock``.

        While ``max_open_files`` closed generations wait to be written (the log store is down), the
        open one stays open and grows instead, so an outage holds a bounded number of files open;
        returns False then (and True when it closed one, or there was nothing to close)."""
        with self._lock:
            if not self._open_rows:
                return True
            if self._wal is not None and len(self._batches) >= self.max_open_files:
                return False
            release = None
            if self._wal is not None:
                wal, closed = self._wal, self._wal.rotate()
                release = lambda: wal.release(closed)  # noqa: E731 - bound now: the WAL may be replaced
                self._seq = self._wal.seq
            else:
                self._seq += 1
            self._batches[self._open_key] = release
            self._open_key = stem(self.replica_id, self._seq)
            self._open_rows = 0
            return True

    def _convert(self, piece_entries: int | None, *, closed_only: bool = False) -> None:
        """Turn pending entries into Arrow tables, ``piece_entries`` entries at a time (None: all at
        once); with ``closed_only``, only those of closed generations. Called under ``_io_lock``.

        The background thread converts as rows arrive, a few hundred at a time, instead of all of a
        segment's rows when it is written: one conversion holds the GIL for its whole length, and a
        request that arrives meanwhile waits for it, so small pieces keep the log out of the serving
        process's tail latency (a segment of a few thousand one-row blocks took 20-60 ms). A piece
        never mixes generations."""
        while self._pending:
            entries: list[Any] = []
            taken = 0
            key = None
            while piece_entries is None or len(entries) < piece_entries:
                try:
                    entry = self._pending[0]  # only this thread (under _io_lock) takes entries
                except IndexError:
                    break
                if (closed_only and entry[3] == self._open_key) or (key is not None and entry[3] != key):
                    break
                self._pending.popleft()
                key = entry[3]
                entries.append(entry)
                taken += _count(entry[2])
            if not entries:
                break
            self._taken += taken
            by_deployment: dict[str, list[Any]] = {}
            for _, deployment, rows, _key in entries:
                by_deployment.setdefault(deployment, []).extend(rows)
            pieces = []
            for deployment, rows in by_deployment.items():
                for _, day, group in self._by_day(deployment, rows):
                    table = self._table(deployment, group)
                    if table is not None:
                        pieces.append(_Piece(entries[0][0], deployment, day, table, entries[0][3]))
            self._converted = self._converted + pieces
            self._converted_rows += sum(p.table.num_rows for p in pieces)
            if self._pending:
                time.sleep(0)  # more to do: let the event loop thread run between pieces

    def _write_converted(self) -> None:
        """Write the converted pieces of closed generations, one segment per generation, deployment
        and day, and release the write-ahead files of the generations all written. Called under
        ``_io_lock``.

        On a storage error the unwritten pieces stay (the oldest dropped beyond ``max_buffered_rows``)
        and the error is raised."""
        groups: dict[tuple[str, str, int], list[_Piece]] = {}
        for piece in self._converted:
            if piece.key != self._open_key:
                groups.setdefault((piece.key, piece.deployment, piece.day), []).append(piece)
        try:
            for (key, deployment, _day), pieces in groups.items():
                for suffix, table in _segments(pieces):
                    self._put(deployment, key + suffix, table)
                written = set(map(id, pieces))
                self._converted = [p for p in self._converted if id(p) not in written]
                self._converted_rows -= sum(p.table.num_rows for p in pieces)
        except BaseException:
            self._trim()
            raise
        finally:
            self._release_written()

    def _put(self, deployment: str, name: str, table: Any) -> None:
        """One segment through the sink; a name an earlier process of this replica id took (other
        rows in it) gets a suffix, while a name that holds these very rows was written before."""
        for attempt in range(1000):
            try:
                if self._sink.write(deployment, name if not attempt else f"{name}-{attempt}", table):
                    self.segments_written += 1
                    self.rows_written += table.num_rows
                return
            except SegmentTaken:
                continue
        raise SegmentTaken(f"prediction log: 1000 segments named {name}-N exist already")

    def _release_written(self) -> None:
        """Delete the write-ahead files of closed generations with no row left to write."""
        left = {p.key for p in self._converted} | {entry[3] for entry in list(self._pending)}
        for key in [k for k in self._batches if k not in left]:
            release = self._batches.pop(key)
            if release is not None:
                try:
                    release()
                except OSError:
                    logger.exception("prediction log: could not delete the write-ahead file of %s", key)

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

    def _trim(self) -> None:
        """Keep at most ``max_buffered_rows`` unwritten rows: the oldest converted ones go first."""
        excess = self._converted_rows + (self._appended - self._taken) - self.max_buffered_rows
        kept = list(self._converted)
        while excess > 0 and kept:
            piece = kept[0]
            rows = piece.table.num_rows
            if rows > excess:
                kept[0] = _Piece(piece.oldest, piece.deployment, piece.day, piece.table.slice(excess), piece.key)
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
    """Converted rows of one deployment and day of generation ``key``, waiting to be written;
    ``oldest``: when the first of them was appended (monotonic)."""

    __slots__ = ("day", "deployment", "key", "oldest", "table")

    def __init__(self, oldest: float, deployment: str, day: int, table: Any, key: str) -> None:
        self.oldest, self.deployment, self.day, self.table, self.key = oldest, deployment, day, table, key


def _segments(pieces: list[_Piece]) -> list[tuple[str, Any]]:
    """The pieces of one segment as one table; pieces typed a column differently (a model change
    within a generation) are cast to the schema the reader would unify them to. ``[(suffix, table)]``:
    one table, or (should even that fail) one per piece with a suffix of its own."""
    tables = [p.table for p in pieces]
    try:
        return [("", _concat(tables))]
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    schema = unify_schemas(t.schema for t in tables)
    try:
        return [("", _concat([_conform(t, schema) for t in tables]))]
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return [(f"-p{i}", t) for i, t in enumerate(tables)]


def _conform(table: Any, schema: pa.Schema) -> Any:
    columns = []
    for field in schema:
        if field.name in table.column_names:
            columns.append(table[field.name].cast(field.type))
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _concat(tables: list[Any]) -> Any:
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="permissive").combine_chunks()


def _restart_in_child(ref: weakref.ReferenceType[PredictionLogger]) -> None:
    """A forked child gets a fresh replica id, buffer and thread: the parent still owns its rows."""
    target = ref()
    if target is not None and not target._closed:
        explicit = target._explicit_id
        if target._wal is not None:
            target._wal.forget_in_child()
        target._start(f"{explicit}-{os.getpid()}" if explicit else default_replica_id(), adopt=False)


def _count(rows: list[Any]) -> int:
    """Rows in a buffered list of record dicts and RecordBlocks."""
    return sum(len(row) if isinstance(row, RecordBlock) else 1 for row in rows)
