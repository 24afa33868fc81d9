"""Reading the prediction log back: one deployment, one time window, joined with feedback.

    table = read_prediction_log("churn-api", "2024-05-01", "2024-06-01")
    df = table.to_pandas()

Why it reads this way: the date folders are pruned from the window before any file is opened (a
month is ~30 folder listings, not a scan of the whole log); inside a folder, the files are chosen
from one listing by their names, which carry each file's first and last timestamp and row count
(``_segment_names``), with compacted files standing in for the segments they replaced
(``_log_index``), so a read opens the files its window needs, however many segments the log
holds. Segments (small) are fetched whole, one request each, in parallel; compacted files are
scanned by pyarrow.dataset, whose row-group statistics skip what is outside the window. Every
table is unified to one schema from all the files' schemas, so segments written before and after a
model change (different features, a prediction that turned from numbers to strings) read as one
table. Feedback labels are attached by request id; a row without feedback has null ``label`` and
``feedback_timestamp``; a shadow row shares its request's id, so it gets the same label. The
schema is documented in ``_predlog_schema``; segments written before the ``error`` column read
back with ``error`` null.

``last_rows=N`` is for monitors that look at the latest traffic ("the last 1,000 predictions"):
date folders are visited newest first, files counted newest first from their names, and reading
stops once N rows are certain, so the cost follows N, not the log's age (see ``_newest``).
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from shipyard.errors import InvalidInput, NotFound
from shipyard.serving._log_index import DayFolder, day_folder, list_day, resolve
from shipyard.serving._predlog_schema import (
    FIXED_SCHEMA,
    TIMESTAMP,
    conform,
    day_of,
    scalar_column,
    unify_schemas,
)
from shipyard.serving._segment_files import SegmentFiles
from shipyard.serving._segment_names import LogFile, parse_name

if TYPE_CHECKING:
    from shipyard.store.base import Store

__all__ = ["read_prediction_log"]

TimeLike = dt.datetime | dt.date | str | int | float | None
_ATTEMPTS = 3  # listings tried when compaction removes a file under a slow read
_IDS_PER_CALL = 100_000  # request ids per feedback query: bounded request bodies for a REST store


def to_ms(value: TimeLike, what: str = "time") -> int | None:
    """ms since the epoch from a datetime (naive = UTC), a date, an ISO string or a number of ms."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidInput(f"{what} must be a datetime, an ISO string or ms since the epoch, got {value!r}")
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInput(f"{what} {value!r} is not an ISO date or time (e.g. 2024-05-01T12:00:00Z)") from None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return int(value.timestamp() * 1000)
    if isinstance(value, dt.date):
        return int(dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp() * 1000)
    raise InvalidInput(f"{what} must be a datetime, an ISO string or ms since the epoch, got {value!r}")


def read_prediction_log(deployment: str, start: TimeLike = None, end: TimeLike = None, *,
                        last_rows: int | None = None, with_feedback: bool = True, root: str | None = None,
                        store: Store | None = None) -> pa.Table:
    """Rows of ``deployment`` with ``start <= timestamp < end`` (None = open), sorted by timestamp.

    ``last_rows=N`` keeps only the newest N rows of that window (still sorted oldest first; ties
    on the timestamp broken by request id), reading date folders from the newest back only until
    N rows are found. ``root`` defaults to ``<artifact root>/prediction-logs`` and ``store`` to the
    configured store, as the SDK resolves them; a root that is a shipyard server's artifact URL
    (``http(s)://host/api/v1/artifacts/prediction-logs``) is read through that server. With
    ``with_feedback``, columns ``label`` (float64 when every label is a number, else string) and
    ``feedback_timestamp`` are added. Raises
    NotFound when the store knows no such deployment and the log holds no rows of it, and
    InvalidInput for a bad time or a ``last_rows`` that is not a positive integer.
    """
    start_ms, end_ms = to_ms(start, "start"), to_ms(end, "end")
    if last_rows is not None and (isinstance(last_rows, bool) or not isinstance(last_rows, int) or last_rows < 1):
        raise InvalidInput(f"last_rows must be a positive integer, got {last_rows!r}")
    if root is None:
        from shipyard.config import resolve_settings

        root = resolve_settings().artifact_uri.rstrip("/") + "/prediction-logs"
    from shipyard.serving._ingest import server_of

    server = server_of(root)
    if server is not None:  # a log kept by a shipyard server: it reads and joins (see _via_server)
        from shipyard.serving._via_server import read_via_server

        return read_via_server(server, deployment, start_ms, end_ms, last_rows, with_feedback, store)
    files = SegmentFiles(root)
    table, found = _read_segments(files, deployment, start_ms, end_ms, last_rows)
    if not with_feedback:
        return table
    if store is None:
        from shipyard.config import resolve_settings
        from shipyard.store import open_store

        settings = resolve_settings()
        owned = open_store(settings.store_uri, settings.artifact_uri)
        try:
            return _join_feedback(table, owned, deployment, found)
        finally:
            owned.close()
    return _join_feedback(table, store, deployment, found)


def _read_segments(files: SegmentFiles, deployment: str, start_ms: int | None, end_ms: int | None,
                   last_rows: int | None = None) -> tuple[pa.Table, bool]:
    """The window's rows (the newest ``last_rows`` of them when given), and whether the log has a
    folder for this deployment at all.

    A file that compaction removed between the listing and the read (a reader slower than the
    compactor's grace period) sends the read back to a fresh listing, a few times at most."""
    for attempt in range(_ATTEMPTS):
        try:
            return _read_once(files, deployment, start_ms, end_ms, last_rows)
        except FileNotFoundError:
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def select_files(files: SegmentFiles, deployment: str, start_ms: int | None, end_ms: int | None,
                 last_rows: int | None = None) -> tuple[list[str], bool]:
    """Paths (relative to the root) of the files that hold the window's rows (its newest
    ``last_rows``), each row once; and whether the deployment has a folder. Files are chosen from
    the folder listings and names (time range and row count) and the footers of the few compacted
    files in the window: see ``_log_index``."""
    rels, found, _ = _select(files, deployment, start_ms, end_ms, last_rows)
    return rels, found


def _select(files: SegmentFiles, deployment: str, start_ms: int | None, end_ms: int | None,
            last_rows: int | None) -> tuple[list[str], bool, int | None]:
    """``select_files``, and for ``last_rows`` a time before which none of the newest rows lie (or None)."""
    base = f"deployment={quote(deployment, safe='')}"
    names = files.list_names(base)
    first = None if start_ms is None else day_of(start_ms)
    last = None if end_ms is None else day_of(end_ms - 1)
    days = []  # the date folders inside the window, oldest first
    for name in names:
        folder = day_folder(base, name)
        if folder is not None and not (first is not None and folder.day < first) and not (
                last is not None and folder.day > last):
            days.append(folder)
    days.sort(key=lambda f: f.day)
    picked: list[str] = []
    wanted = last_rows
    floor = None
    for folder in reversed(days):  # newest first, so the last N rows stop early
        chosen = resolve(files, folder, list_day(files, folder), start_ms, end_ms).read
        if wanted is not None:
            chosen, found, floor = _newest(files, folder, chosen, wanted, start_ms, end_ms)
            wanted -= found
        picked = [f"{folder.rel}/{f.name}" for f in sorted(chosen, key=lambda f: f.name)] + picked
        if wanted is not None and wanted <= 0:
            break
    return picked, bool(names), floor


def _newest(files: SegmentFiles, folder: DayFolder, chosen: list[LogFile], wanted: int, start_ms: int | None,
            end_ms: int | None) -> tuple[list[LogFile], int, int | None]:
    """The files that can hold the newest ``wanted`` rows of the window, how many of its rows they
    hold at least, and the time L before which none of those rows lie (None when there are fewer).

    Pieces (a segment, or a row group of a compacted file) are counted newest last-timestamp first
    until ``wanted`` rows are found; L is the oldest first-timestamp among them: N rows at or after
    L exist, so the newest N cannot lie before it, and only files whose range reaches L are read
    (and in a compacted file, only its row groups that do). Counts come from the names and, for a
    compacted file, its footer's row-group statistics; a segment straddling the window's edge or
    without a count in its name is counted from its own statistics."""
    import pyarrow.dataset as ds

    pieces: list[tuple[int, int, int]] = []  # (first, last, rows in the window) of each piece
    for info in chosen:
        if info.compacted:
            pieces += _row_groups(files, f"{folder.rel}/{info.name}", start_ms, end_ms)
        elif info.inside(start_ms, end_ms):
            pieces.append((info.lo, info.hi, info.rows or 0))
        else:
            path = files.full(f"{folder.rel}/{info.name}")
            rows = ds.dataset([path], format="parquet", filesystem=files.arrow_filesystem()).count_rows(
                filter=_window(start_ms, end_ms))
            pieces.append((info.lo, info.hi, rows))
    total, floor = 0, None
    for lo, _, rows in sorted(pieces, key=lambda p: p[1], reverse=True):
        total += rows
        floor = lo if floor is None else min(floor, lo)
        if total >= wanted:
            return [f for f in chosen if f.hi >= floor], total, floor
    return chosen, total, None


def _row_groups(files: SegmentFiles, rel: str, start_ms: int | None, end_ms: int | None) -> list[tuple[int, int, int]]:
    """(first, last, rows) of each row group of a compacted file from its footer; a row group that
    is not wholly inside the window counts no rows (it is still read when it reaches the floor)."""
    import pyarrow.parquet as pq

    meta = pq.read_metadata(files.full(rel), filesystem=files.arrow_filesystem())
    column = meta.schema.to_arrow_schema().get_field_index("timestamp")
    out = []
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        stats = group.column(column).statistics
        if stats is None or not stats.has_min_max:
            return [(0, 2**62, 0)]  # no statistics: the file counts as one piece of unknown rows
        lo, hi = _stat_ms(stats.min), _stat_ms(stats.max)
        inside = (start_ms is None or lo >= start_ms) and (end_ms is None or hi < end_ms)
        out.append((lo, hi, group.num_rows if inside else 0))
    return out


def _stat_ms(value: Any) -> int:
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    return int(value)


def _read_once(files: SegmentFiles, deployment: str, start_ms: int | None, end_ms: int | None,
               last_rows: int | None) -> tuple[pa.Table, bool]:
    """One read of the files ``select_files`` picks: on an object store, segments (small, the
    newest traffic) fetched whole, one request each and in parallel; compacted files (and every
    file on a local disk) through a dataset scan whose row-group statistics skip what lies outside
    the window."""
    import pyarrow.dataset as ds

    rels, found, floor = _select(files, deployment, start_ms, end_ms, last_rows)
    if not rels:
        return FIXED_SCHEMA.empty_table(), found
    # On an object store a segment is one GET whole (a dataset scan asks for size, footer and
    # columns apart); on a local disk the dataset scan (C++ threads) is the faster way for all.
    scanned = {r: files.is_local or ((info := parse_name(r.rsplit("/", 1)[-1], 0)) is not None and info.compacted)
             for r in rels}
    scans = [r for r in rels if scanned[r]]
    segments = [r for r in rels if not scanned[r]]  # fetched whole
    filesystem = files.arrow_filesystem()
    # the newest N rows lie at or after the floor: row groups before it are skipped
    condition = _window(start_ms if floor is None or (start_ms is not None and start_ms > floor) else floor, end_ms)
    with ThreadPoolExecutor(max_workers=16) as pool:
        tables = list(pool.map(files.read_table, segments))
        large = ds.dataset([files.full(r) for r in scans], format="parquet", filesystem=filesystem)
        schemas = [t.schema for t in tables] + list(pool.map(lambda f: f.physical_schema, large.get_fragments()))
    schema = unify_schemas(schemas)
    parts = [conform(t, schema) for t in tables]
    if condition is not None:
        parts = [t.filter(condition) for t in parts]
    if scans:
        dataset = ds.dataset([files.full(r) for r in scans], schema=schema, format="parquet",
                             filesystem=filesystem)
        parts.append(dataset.to_table(filter=condition))
    table = pa.concat_tables(parts) if parts else schema.empty_table()
    table = table.sort_by([("timestamp", "ascending"), ("request_id", "ascending")])
    if last_rows is not None and table.num_rows > last_rows:
        table = table.slice(table.num_rows - last_rows)
    return table, True


def _window(start_ms: int | None, end_ms: int | None) -> Any:
    """The dataset filter ``start <= timestamp < end`` (None when the window is open both ways)."""
    import pyarrow.dataset as ds

    ts = ds.field("timestamp")
    condition = None
    if start_ms is not None:
        condition = ts >= pa.scalar(start_ms, TIMESTAMP)
    if end_ms is not None:
        upper = ts < pa.scalar(end_ms, TIMESTAMP)
        condition = upper if condition is None else condition & upper
    return condition


def _join_feedback(table: pa.Table, store: Any, deployment: str, found: bool) -> pa.Table:
    """Left join of labels by request id (unique per deployment in the store) without a hash join,
    which Arrow does not support next to list columns such as ``probabilities``.

    The labels asked for are the window's own (by request id, never all the deployment's feedback),
    so the cost follows the window. A SQL store hands them over as plain rows with the label still
    JSON text: one parse for all of them, no object per label."""
    ids = (pc.unique(table["request_id"]) if table.num_rows else pa.array([], pa.string())).to_pylist()
    rows_of = getattr(store, "get_feedback_rows", None)
    keys: list[str] = []
    values: list[Any] = []
    stamps: list[int] = []
    try:
        for lo in range(0, max(len(ids), 1), _IDS_PER_CALL):  # no ids still asks: does the deployment exist?
            part = ids[lo:lo + _IDS_PER_CALL]
            if rows_of is not None:
                rows = rows_of(deployment, request_ids=part)
                if rows:
                    key_part, texts, time_part = zip(*rows, strict=True)
                    keys += key_part
                    stamps += time_part
                    values += orjson.loads(b"[" + ",".join(texts).encode() + b"]")
            else:
                for f in store.get_feedback(deployment, request_ids=part):
                    keys.append(f.request_id)
                    values.append(f.label)
                    stamps.append(int(f.timestamp))
    except NotFound:
        if not found:
            raise NotFound(f"deployment {deployment!r} has no prediction log and the store does not know it") from None
        keys, values, stamps = [], [], []  # a deleted deployment: its log outlives it
    key_array = pa.array(keys, type=pa.string())
    labels = _label_column(values)
    times = pa.array(stamps, type=pa.int64()).cast(TIMESTAMP)
    if table.num_rows:
        index = pc.index_in(table["request_id"], value_set=key_array)
        labels, times = labels.take(index), times.take(index)
    else:
        labels, times = labels[:0], times[:0]
    return table.append_column("label", labels).append_column("feedback_timestamp", times)


def _label_column(values: list[Any]) -> pa.Array:
    """``scalar_column`` of the labels, with Arrow's own conversion first for the usual all-number case."""
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        return scalar_column(values)
    if pa.types.is_integer(array.type) or pa.types.is_floating(array.type) or pa.types.is_boolean(array.type):
        return array.cast(pa.float64())
    return scalar_column(values)
