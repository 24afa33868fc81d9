"""Where the prediction logger's segments go: a folder/bucket it writes itself, or a shipyard server.

A *sink* takes one segment (the rows of one deployment and one flush, named ``<replica>-<seq>``)
and puts it in the log. Both kinds write it the same way, with :func:`put_segment`, which a server
also calls for what replicas send it (``PUT /api/v1/deployments/{name}/prediction-log/segments/{id}``):

- the rows are split by UTC date and written to ``deployment=<name>/date=<day>/<id>~<first>-<last>-<rows>.parquet``,
  the layout the reader and the compactor know;
- a segment name that is already there with the same request ids is a retry (an answer that never
  arrived, a write-ahead file shipped again after a kill -9): nothing is written, so no row is
  stored twice; with other request ids it is a name taken by an earlier process of the same replica
  id, and :class:`SegmentTaken` tells the logger to pick another name.

The server sink sends one request per segment: the table as an Arrow IPC stream (zstd-compressed),
with the writer token of ``SHIPYARD_TRACKING_TOKEN``; the server needs no row-by-row JSON and the
replica no database or bucket credentials.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shipyard.errors import Conflict, InvalidInput
from shipyard.serving._predlog_schema import FEATURE_PREFIX, FIXED_SCHEMA, TIMESTAMP, partition_dir
from shipyard.serving._segment_files import SegmentFiles
from shipyard.serving._segment_names import segment_file_name

if TYPE_CHECKING:
    import httpx

__all__ = ["ARROW_STREAM", "FolderSink", "SegmentTaken", "ServerSink", "Sink", "check_segment_id", "make_sink",
           "put_segment", "server_of", "table_from_ipc", "table_to_ipc"]

ARROW_STREAM = "application/vnd.apache.arrow.stream"
_SEGMENT_ID = re.compile(r"^[A-Za-z0-9][\w.\-]{0,199}$")
_DAY_MS = 86_400_000
_SERVER_ROOT = re.compile(r"^(?P<server>https?://[^?#]*?)/api/v1/artifacts(?P<rest>/[^?#]*)?$")


class SegmentTaken(Conflict):
    """A segment of that name holds other rows (an earlier process with the same replica id)."""


class Sink(Protocol):
    def write(self, deployment: str, segment_id: str, table: pa.Table) -> bool:
        """Put the segment in the log; False when it was there already (a retry). SegmentTaken when
        the name holds other rows; any other error leaves the rows with the caller."""


def check_segment_id(segment_id: str) -> str:
    if not _SEGMENT_ID.match(segment_id) or ".." in segment_id:
        raise InvalidInput(f"segment id {segment_id[:80]!r} must be 1 to 200 letters, digits, '_', '.', '-', "
                           "starting with a letter or digit")
    return segment_id


def server_of(root: str) -> str | None:
    """The server URL when ``root`` is a prediction log reached through a shipyard server
    (``http(s)://host/api/v1/artifacts/prediction-logs``), else None."""
    match = _SERVER_ROOT.match(root.rstrip("/"))
    if match is None:
        return None
    rest = (match["rest"] or "").strip("/")
    if rest != "prediction-logs":
        raise InvalidInput(f"a prediction log kept by a shipyard server is {match['server']}/api/v1/artifacts/"
                           f"prediction-logs, not …/{rest}")
    return match["server"]


def _same_rows(files: SegmentFiles, rel: str, table: pa.Table) -> bool:
    import pyarrow.parquet as pq

    there = pq.read_table(files.full(rel), columns=["request_id"], filesystem=files.arrow_filesystem())
    return sorted(there["request_id"].to_pylist()) == sorted(table["request_id"].to_pylist())  # type: ignore[type-var]


def put_segment(files: SegmentFiles, deployment: str, segment_id: str, table: pa.Table) -> bool:
    """Write ``table`` as segment ``segment_id`` of ``deployment`` (one file per UTC date of its rows).

    Returns False when every file was there already with the same rows (a retry); raises
    SegmentTaken when one holds other rows. Each file appears whole or not at all."""
    check_segment_id(segment_id)
    if not table.num_rows:
        return False
    stamps = pc.cast(table["timestamp"], pa.int64()).to_numpy(zero_copy_only=False)
    days = np.floor_divide(stamps, _DAY_MS)  # floor, as day_of: a time before 1970 is on its own day
    distinct = sorted(set(days.tolist()))
    written = False
    for day in distinct:
        part = table.filter(pa.array(days == day)) if len(distinct) > 1 else table
        name = (dt.date(1970, 1, 1) + dt.timedelta(days=int(day))).isoformat()
        folder = partition_dir(deployment, name)
        part_stamps = stamps[days == day] if len(distinct) > 1 else stamps
        # The name carries the rows' time range and count, so readers pick files from a listing.
        rel = f"{folder}/{segment_file_name(segment_id, int(part_stamps.min()), int(part_stamps.max()), part.num_rows)}"
        taken = _taken(files, folder, segment_id)
        if taken is not None:
            if taken == rel.rsplit("/", 1)[1] and _same_rows(files, rel, part):
                continue
            raise SegmentTaken(f"prediction-log segment {segment_id!r} of {deployment!r} on {name} holds other rows")
        files.write_table(rel, part)
        written = True
    return written


def _taken(files: SegmentFiles, folder: str, segment_id: str) -> str | None:
    """The name of the file segment ``segment_id`` already has in ``folder``, if any."""
    for file_name in files.list_names(folder):
        if file_name.startswith(f"{segment_id}~") or file_name == f"{segment_id}.parquet":
            return file_name
    return None


def table_to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()  # type: ignore[no-any-return]


def table_from_ipc(body: bytes, deployment: str) -> pa.Table:
    """The segment a replica sent, checked against the log's schema; InvalidInput when it is not one.

    The fixed columns must be there with their types (``prediction`` float64 or string, ``error``
    optional: an older replica), every other column is a ``feature.`` column of a scalar type, and
    every row belongs to ``deployment``."""
    try:
        with pa.ipc.open_stream(pa.py_buffer(body)) as reader:
            table = reader.read_all()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, ValueError) as exc:
        raise InvalidInput(f"the body is not an Arrow IPC stream ({ARROW_STREAM}): {exc}") from None
    names = set(table.column_names)
    for field in FIXED_SCHEMA:
        if field.name not in names:
            if field.name == "error":
                table = table.append_column("error", pa.nulls(table.num_rows, pa.string()))
                continue
            raise InvalidInput(f"the segment has no column {field.name!r} (columns: {', '.join(table.column_names)})")
        found = table.schema.field(field.name).type
        if field.name == "prediction":
            ok = found in (pa.float64(), pa.string(), pa.null())
        elif field.name == "timestamp":
            ok = found == TIMESTAMP
        elif field.name == "probabilities":
            ok = found == pa.null() or (pa.types.is_list(found) and found.value_type == pa.float64())
        else:
            ok = found in (field.type, pa.null())
        if not ok:
            raise InvalidInput(f"column {field.name!r} of the segment is {found}, not {field.type}")
    for name in names - set(FIXED_SCHEMA.names):
        if not name.startswith(FEATURE_PREFIX) or len(name) == len(FEATURE_PREFIX):
            raise InvalidInput(f"column {name[:80]!r} is neither a column of the log nor a 'feature.' column")
        kind = table.schema.field(name).type
        if kind not in (pa.bool_(), pa.int64(), pa.float64(), pa.string(), pa.null()):
            raise InvalidInput(f"feature column {name[:80]!r} is {kind}: bool, int64, float64 or string only")
    if table.num_rows and (table["request_id"].null_count or table["timestamp"].null_count):
        raise InvalidInput("every row of a segment needs a request_id and a timestamp")
    deployments = set(pc.unique(table["deployment"]).to_pylist()) if table.num_rows else set()
    if deployments - {deployment}:
        raise InvalidInput(f"the segment holds rows of other deployments than {deployment!r}")
    return table


class FolderSink:
    """Segments written straight to the log's folder or bucket (the writer holds its credentials)."""

    def __init__(self, root: str) -> None:
        self.files = SegmentFiles(root)

    def write(self, deployment: str, segment_id: str, table: pa.Table) -> bool:
        return put_segment(self.files, deployment, segment_id, table)


class ServerSink:
    """Segments sent to a shipyard server, which writes them under its own artifact root.

    ``retry_s``: how long one write rides out an unreachable server before it fails (default 5 s,
    or ``SHIPYARD_HTTP_RETRY_S`` when shorter); the logger keeps the rows and tries again every
    ``max_seconds`` (see :func:`shipyard._http.send`)."""

    def __init__(self, server: str, *, client: httpx.Client | None = None, retry_s: float | None = None) -> None:
        from shipyard._http import retry_budget

        self.server = server.rstrip("/")
        self._client = client
        self.retry_s = min(5.0, retry_budget()) if retry_s is None else retry_s

    @property
    def http(self) -> httpx.Client:
        from shipyard._http import http_client

        return self._client if self._client is not None else http_client(self.server)

    def write(self, deployment: str, segment_id: str, table: pa.Table) -> bool:
        from shipyard._http import check_response, send

        body = table_to_ipc(table)
        url = (f"{self.server}/api/v1/deployments/{quote(deployment, safe='')}/prediction-log/segments/"
               f"{quote(segment_id, safe='')}")
        headers = {"Content-Type": ARROW_STREAM}
        try:
            answer = check_response(send(lambda: self.http.put(url, content=body, headers=headers), self.server,
                                         self.retry_s))
        except Conflict as exc:
            raise SegmentTaken(str(exc)) from None
        return bool(answer.json().get("written"))


def make_sink(root: str) -> Sink:
    """The sink for a log root: a server when it is a server's artifact URL, else the folder itself."""
    server = server_of(root)
    return ServerSink(server) if server is not None else FolderSink(root)

