"""``/api/v1/deployments/{name}/prediction-log``: the prediction log through the server.

What lets serving replicas, monitors and schedulers run with a URL and a token only (the database
and bucket credentials stay on the server):

- ``PUT .../prediction-log/segments/{segment_id}`` (writer): one segment a replica flushed, as an
  Arrow IPC stream, written under the server's artifact root in the layout replicas writing
  directly use (:func:`~shipyard.serving._ingest.put_segment`), so readers and compaction see no
  difference. The segment id is the idempotency key: a retry finds its rows there and writes nothing.
- ``GET .../prediction-log`` (reader): rows of a time window or the last N, optionally of one model
  version, with feedback labels joined, as an Arrow IPC stream;
- ``POST .../prediction-log/lookup`` (reader): which of these request ids the log holds, and which
  model version answered each (a replica checking feedback for an answer another replica gave).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from shipyard.errors import InvalidInput, StoreUnavailable
from shipyard.server.api import schemas as w
from shipyard.server.api._common import ERRORS, StoreDep, ok
from shipyard.server.auth import READ, WRITE

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["MAX_LOOKUP_IDS", "router"]

router = APIRouter(tags=["prediction log"], responses=ERRORS)
MAX_LOOKUP_IDS = 10_000
_ARROW = "application/vnd.apache.arrow.stream"
_ARROW_BODY = {_ARROW: {"schema": {"type": "string", "format": "binary"}}}
_SEGMENT_BODY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


class SegmentWritten(w.Wire):
    segment_id: str
    rows: int
    written: bool


class LookupBody(w.Wire):
    request_ids: list[str]


class Answered(w.Wire):
    model: str
    version: int


class LookupAnswer(w.Wire):
    found: dict[str, Answered]


def _root(request: Request) -> str:
    from shipyard.serving.server import PREDICTION_LOG_DIR

    return f"{request.app.state.store.artifact_root.rstrip('/')}/{PREDICTION_LOG_DIR}"


def _check_name(name: str) -> str:
    """A deployment name whose log folder can exist (``deployment=<quoted name>``, one path component)."""
    from urllib.parse import quote

    if not name or len(quote(name, safe="")) > 240:
        raise InvalidInput(f"deployment name {name[:80]!r} is empty or too long for a prediction-log folder")
    return name


def _put(root: str, name: str, segment_id: str, body: bytes) -> tuple[int, bool]:
    from shipyard.serving._ingest import put_segment, table_from_ipc
    from shipyard.serving._segment_files import SegmentFiles

    table = table_from_ipc(body, name)
    try:
        return table.num_rows, put_segment(SegmentFiles(root), name, segment_id, table)
    except OSError as exc:
        if exc.errno in (errno.ENAMETOOLONG, errno.EINVAL, errno.EILSEQ):
            raise InvalidInput(f"deployment name {name[:80]!r} is not a usable folder name") from exc
        raise StoreUnavailable(f"the prediction log's store failed: {exc.strerror or type(exc).__name__}") from exc


@router.put("/deployments/{name}/prediction-log/segments/{segment_id}", dependencies=[WRITE],
            response_model=SegmentWritten, openapi_extra={"requestBody": {
                "required": True, "content": _SEGMENT_BODY,
                "description": f"An Arrow IPC stream of the segment's rows (sent as {_ARROW} or octet-stream)"}})
async def put_prediction_segment(request: Request, name: str, segment_id: str) -> Response:
    from shipyard.serving._ingest import check_segment_id

    check_segment_id(segment_id)
    _check_name(name)
    body = await request.body()
    rows, written = await run_in_threadpool(_put, _root(request), name, segment_id, body)
    return ok({"segment_id": segment_id, "rows": rows, "written": written})


def _time(value: str | None) -> Any:
    """ms since the epoch (digits) or an ISO time, as the reader takes them."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    return int(text) if text.lstrip("-").isdigit() else text


@router.get("/deployments/{name}/prediction-log", dependencies=[READ], response_class=Response,
            responses={200: {"content": _ARROW_BODY, "description": "The rows, sorted by time"}})
def read_prediction_rows(request: Request, store: StoreDep, name: str, start: str | None = None,
                         end: str | None = None, last_rows: int | None = None, model: str | None = None,
                         version: int | None = None, feedback: bool = True) -> Response:
    """Rows with ``start <= timestamp < end`` (ms since the epoch or ISO times; open when left out),
    the newest ``last_rows`` of them when given; then only ``model`` / ``version`` when given."""
    import pyarrow.compute as pc

    from shipyard.serving._ingest import table_to_ipc
    from shipyard.serving.reader import read_prediction_log

    _check_name(name)
    table: pa.Table = read_prediction_log(name, _time(start), _time(end), last_rows=last_rows,
                                          with_feedback=feedback, root=_root(request), store=store)
    if model is not None:
        table = table.filter(pc.equal(table["model"], model))
    if version is not None:
        table = table.filter(pc.equal(table["version"], version))
    return Response(table_to_ipc(table), media_type=_ARROW)


@router.post("/deployments/{name}/prediction-log/lookup", dependencies=[READ], response_model=LookupAnswer)
def lookup_predictions(request: Request, name: str, body: LookupBody) -> Response:
    from shipyard.serving._feedback import find_in_log

    _check_name(name)
    if len(body.request_ids) > MAX_LOOKUP_IDS:
        raise InvalidInput(f"at most {MAX_LOOKUP_IDS} request ids per lookup, got {len(body.request_ids)}")
    found = find_in_log(_root(request), name, body.request_ids)
    return ok({"found": {rid: {"model": model, "version": version} for rid, (model, version) in found.items()}})
