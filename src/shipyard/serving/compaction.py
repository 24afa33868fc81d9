"""Compaction of the prediction log: many small segments -> one file per deployment and hour, then day.

    report = compact_prediction_log("s3://bucket/prediction-logs")

Each replica writes a segment every couple of seconds under load (tens of thousands a day), and
a read pays per file. A run, per ``deployment=/date=`` folder:

1. lists the folder and resolves it as a reader does (``_log_index``): the files that hold each
   row once;
2. removes files replaced more than ``grace_s`` ago (segments first, then replaced hour files),
   and compacted files that lost a race;
3. merges: a closed day (``settle_s`` past its end) into one ``d`` file, otherwise each hour with
   two files or more into one ``h`` file (an hour file plus new segments makes a new hour file).

No row is lost or read twice while replicas write and readers read: the merged file is written
in full under a temporary name, then published at once (a rename, or one object-store put),
listing its inputs in its footer; readers that see both skip the inputs; the inputs stay until a
later run, ``grace_s`` on, so a reader that listed before the publication still finds them. A
lock file keeps two compactors apart (``_log_lock``); if two ever race anyway (an expired lock),
the file published first wins and the other is ignored by readers and removed (``_merge``).
"""

from __future__ import annotations

import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from shipyard.errors import InvalidInput
from shipyard.serving._log_index import DayFolder, day_folder, list_day, resolve
from shipyard.serving._log_lock import LogLock
from shipyard.serving._predlog_schema import conform, unify_schemas
from shipyard.serving._segment_files import SegmentFiles
from shipyard.serving._segment_names import COVERS_KEY, LogFile, compacted_name

if TYPE_CHECKING:
    from shipyard.serving._log_index import Resolved

__all__ = ["CompactedFile", "CompactionReport", "compact_prediction_log", "log_root_of"]

logger = logging.getLogger(__name__)
_HOUR_MS = 3_600_000
_DAY_MS = 86_400_000
_BATCH_ROWS = 262_144  # rows sorted and written together: memory stays bounded for a day's merge
_ROW_GROUP = 16_384  # row groups small enough that timestamp statistics prune a day file's reads (last N rows)


@dataclass(frozen=True)
class CompactedFile:
    """One file a run wrote: its folder (``deployment=<name>/date=<day>``), level (``h``/``d``),
    name, how many files it replaced and its rows."""

    folder: str
    level: str
    name: str
    inputs: int
    rows: int


@dataclass
class CompactionReport:
    """What a run did: folders looked at, files written (``written``), files deleted, and
    ``skipped`` (why nothing ran, e.g. another compactor holds the lock) or None."""

    folders: int = 0
    written: list[CompactedFile] = field(default_factory=list)
    deleted: int = 0
    skipped: str | None = None

    @property
    def files_merged(self) -> int:
        return sum(f.inputs for f in self.written)


def compact_prediction_log(root: str | None = None, deployment: str | None = None, *, grace_s: float = 600.0,
                           settle_s: float = 300.0, now_ms: int | None = None, lock_ttl_s: float = 300.0,
                           ) -> CompactionReport:
    """Compact the log under ``root`` (default ``<artifact root>/prediction-logs``), every deployment
    or one. ``grace_s``: how long replaced files stay for readers that listed before; ``settle_s``:
    how long after its end a day is merged into one file; ``now_ms`` (tests): the time that decides
    which days are closed. Returns a report; when another compactor holds the lock, a report with
    ``skipped`` set. Raises InvalidInput for a negative duration."""
    if grace_s < 0 or settle_s < 0:
        raise InvalidInput(f"grace_s and settle_s must be >= 0, got {grace_s} and {settle_s}")
    if root is None:
        from shipyard.config import resolve_settings

        root = resolve_settings().artifact_uri.rstrip("/") + "/prediction-logs"
    files = SegmentFiles(root)
    report = CompactionReport()
    lock = LogLock(files, ttl_s=lock_ttl_s, settle_s=0.0 if files.is_local else 1.0)
    if not lock.acquire():
        report.skipped = f"another compactor holds the lock ({lock.held_by})"
        return report
    try:
        from urllib.parse import quote

        wanted = None if deployment is None else f"deployment={quote(deployment, safe='')}"
        for base in files.list_names(""):
            if not base.startswith("deployment=") or (wanted is not None and base != wanted):
                continue
            for name in files.list_names(base):
                folder = day_folder(base, name)
                if folder is None:
                    continue
                report.folders += 1
                _compact_folder(files, folder, report, grace_s=grace_s, settle_s=settle_s, now_ms=now_ms)
                lock.refresh()
    finally:
        lock.release()
    return report


def log_root_of(artifact_root: str) -> str | None:
    """``<artifact root>/prediction-logs`` when this process can reach it as files (a folder or an
    object store); None when the root is a server's (``http(s)://``, ``shipyard-artifacts:``): the
    log then belongs to the server, which compacts it itself."""
    root = f"{artifact_root.rstrip('/')}/prediction-logs"
    return None if root.startswith(("http://", "https://", "shipyard-artifacts:")) else root


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _compact_folder(files: SegmentFiles, folder: DayFolder, report: CompactionReport, *, grace_s: float,
                    settle_s: float, now_ms: int | None) -> None:
    listed = _now_ms()
    infos = list_day(files, folder)
    resolved = resolve(files, folder, infos)
    report.deleted += _collect(files, folder, infos, resolved, listed - int(grace_s * 1000))
    read = resolved.read
    now = listed if now_ms is None else now_ms
    if (folder.day + 1) * _DAY_MS + int(settle_s * 1000) <= now:
        groups = [("d", read)] if len(read) > 1 else []
    else:
        by_hour: dict[int, list[LogFile]] = {}
        for info in read:
            by_hour.setdefault(info.lo // _HOUR_MS, []).append(info)
        groups = [("h", group) for _, group in sorted(by_hour.items()) if len(group) > 1]
    for level, group in groups:
        made = _merge(files, folder, group, level, grace_s=grace_s)
        if made is not None:
            report.written.append(made)


def _collect(files: SegmentFiles, folder: DayFolder, infos: list[LogFile], resolved: Resolved,
             cutoff_ms: int) -> int:
    """Delete what accepted files created at or before ``cutoff_ms`` replaced, leaves first, and the
    compacted files that lost a race; returns how many files went. (At, not only before: with no
    grace period a run that lists in the millisecond the previous run published must still collect.)"""
    created = {f.id: f.created for f in resolved.accepted}
    old = {f.id for f in infos if (claimer := resolved.claimed.get(f.id)) is not None and created[claimer] <= cutoff_ms}
    visible = {f.id for f in infos}
    deleted = 0
    # Segments first, then compacted files whose own inputs are all gone: a replaced hour file
    # must not vanish while a segment it replaced is still visible (that segment would then be
    # read beside the day file holding its rows).
    for info in sorted((f for f in infos if f.id in old), key=lambda f: (f.compacted, f.created)):
        if info.compacted and any(c in visible for c in resolved.covers.get(info.id, [])):
            continue
        files.delete(f"{folder.rel}/{info.name}")
        visible.discard(info.id)
        deleted += 1
    for info in resolved.rejected:
        if info.created <= cutoff_ms:
            files.delete(f"{folder.rel}/{info.name}")
            deleted += 1
    return deleted


def _merge(files: SegmentFiles, folder: DayFolder, inputs: list[LogFile], level: str, *, grace_s: float = 600.0,
           created: int | None = None) -> CompactedFile | None:
    """Write the rows of ``inputs`` as one compacted file (sorted by time within each batch of
    ``_BATCH_ROWS``), publish it, and describe it (None when it was withdrawn, see below).

    ``created`` (in the name; default: the time the upload starts) orders compacted files, the
    earlier winning a race, so a file published after a rival is the one ignored and acceptance
    never flips once a file is visible. An upload longer than half the grace period could let a
    rival's cleaner act before this file appeared: such a file is withdrawn at once (its inputs are
    still there; the next run tries again).

    Segments are small: each is fetched whole in one request (in parallel: an object store answers
    each in milliseconds) and kept in memory, at most an hour of them. Compacted inputs (the hour
    files of a day) can be large: they are streamed a row group at a time."""
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    inputs = sorted(inputs, key=lambda f: (f.lo, f.name))
    small = [f for f in inputs if not f.compacted]
    large = [files.full(f"{folder.rel}/{f.name}") for f in inputs if f.compacted]
    filesystem = files.arrow_filesystem()
    with ThreadPoolExecutor(max_workers=16) as pool:
        tables = list(pool.map(lambda f: files.read_table(f"{folder.rel}/{f.name}"), small))
        streamed = list(ds.dataset(large, format="parquet", filesystem=filesystem).get_fragments()) if large else []
        schemas = [t.schema for t in tables] + list(pool.map(lambda fragment: fragment.physical_schema, streamed))
    schema = unify_schemas(schemas)
    metadata = {**(schema.metadata or {}), COVERS_KEY: orjson.dumps([f.id for f in inputs])}
    schema = schema.with_metadata(metadata)
    token = secrets.token_hex(4)
    tmp = files.local_temp(f"{folder.rel}/{level}~{token}.parquet")
    stats = _Stats()
    try:
        with pq.ParquetWriter(tmp, schema) as writer:
            buffered: list[pa.Table] = []
            size = 0

            def add(table: pa.Table) -> None:
                nonlocal size
                if table.num_rows:
                    stats.add(table)
                    buffered.append(conform(table, schema))
                    size += table.num_rows
                if size >= _BATCH_ROWS or (table is _END and buffered):
                    merged = pa.concat_tables(buffered).sort_by([("timestamp", "ascending"),
                                                                 ("request_id", "ascending")])
                    writer.write_table(merged, row_group_size=_ROW_GROUP)
                    buffered.clear()
                    size = 0

            for table in tables:
                add(table)
            tables.clear()
            for fragment in streamed:
                for batch in fragment.to_batches(schema=schema):
                    add(pa.Table.from_batches([batch]))
            add(_END)
        lo = stats.lo if stats.lo is not None else min(f.lo for f in inputs)  # only empty inputs: their span
        hi = stats.hi if stats.hi is not None else max(f.hi for f in inputs)
        stamp = _now_ms() if created is None else created
        name = compacted_name(level, lo, hi, stats.rows, stamp, token)
        files.put_local_file(tmp, f"{folder.rel}/{name}")
    finally:
        Path(tmp).unlink(missing_ok=True)
    if created is None and grace_s and _now_ms() - stamp > grace_s * 500:
        files.delete(f"{folder.rel}/{name}")
        logger.warning("prediction log: %s took longer than half the grace period (%.0f s) to upload and was "
                       "withdrawn; raise the grace period for files this large", name, grace_s)
        return None
    logger.info("prediction log: %s: %d files -> %s (%d rows)", folder.rel, len(inputs), name, stats.rows)
    return CompactedFile(folder.rel, level, name, len(inputs), stats.rows)


_END = pa.table({"end": pa.array([], pa.int8())})  # add()'s "no more input" marker


class _Stats:
    """First and last timestamp and row count of what was merged."""

    def __init__(self) -> None:
        self.lo: int | None = None
        self.hi: int | None = None
        self.rows = 0

    def add(self, table: pa.Table) -> None:
        stamps = pc.min_max(table["timestamp"].cast(pa.int64()))
        first, last = stamps["min"].as_py(), stamps["max"].as_py()
        if first is not None:
            self.lo = first if self.lo is None else min(self.lo, first)
            self.hi = last if self.hi is None else max(self.hi, last)
        self.rows += table.num_rows
