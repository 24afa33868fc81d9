"""Checks on feedback: the request id was answered by this deployment, the label fits the model.

Where a request id is looked up, and why (several replicas serve one deployment, and feedback may
reach another replica than the one that answered, or arrive after a restart):

1. this replica's recent ids (:class:`ServedIds`: the last ``feedback_recent_ids`` ids it answered,
   per deployment, in memory): covers what it answered and has not written to the log yet;
2. the prediction log, which every replica writes under the same root: covers every replica and
   every restart, once the answering replica has written its segment (within the logger's
   ``max_seconds``, 2 s by default). Request ids are UUIDv7: they carry the millisecond the request
   arrived, which is also the row's timestamp in the log, so the lookup opens one date folder and
   reads only the row groups of that millisecond (by their statistics), not the whole log.

An id found in neither is a 404: forged, from another deployment, or answered by another replica
less than ``max_seconds`` ago (the client retries). A replica serving without a prediction log
checks its own recent ids only (so with several replicas, run them with the log).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from shipyard.models._signature import TensorSpec

__all__ = ["ServedIds", "check_label", "find_in_log", "label_kind", "served_at_ms"]

_HEX = frozenset("0123456789abcdef")
_FUTURE_MS = 60_000  # clock skew between replicas tolerated for an id's time


def label_kind(outputs: TensorSpec | None) -> str:
    """What a label must be for a model with these outputs: ``int``, ``float``, ``bool``, ``str``
    or ``scalar`` (any of them; a model whose output type was not recorded)."""
    if outputs is None or len(outputs.shape) != 1:
        return "scalar"
    kind = outputs.type
    if kind == "bool":
        return "bool"
    if kind == "string":
        return "str"
    if kind.startswith(("int", "uint")):
        return "int"
    if kind.startswith("float"):
        return "float"
    return "scalar"


def check_label(request_id: str, label: Any, kind: str) -> None:
    """Raise InvalidInput unless ``label`` is one value of ``kind`` (see :func:`label_kind`)."""
    ok: bool
    if isinstance(label, bool):
        ok = kind in ("bool", "scalar")
    elif isinstance(label, int):
        ok = kind in ("int", "float", "scalar")
    elif isinstance(label, float):
        ok = (kind in ("float", "scalar") or (kind == "int" and label.is_integer())) and label == label
    elif isinstance(label, str):
        ok = kind in ("str", "scalar")
    else:
        ok = False
    if not ok:
        want = {"int": "an integer (a class)", "float": "a number", "bool": "true or false", "str": "a string",
                "scalar": "one number, string or boolean"}[kind]
        shown = repr(label) if len(repr(label)) <= 40 else repr(label)[:37] + "..."
        raise InvalidInput(f"label for request {request_id!r} must be {want}, like the model's prediction; "
                           f"got {type(label).__name__} {shown}")


def served_at_ms(request_id: str) -> int:
    """The millisecond a UUIDv7 request id was issued at; InvalidInput for anything else."""
    if len(request_id) == 32 and _HEX.issuperset(request_id) and request_id[12] == "4":
        raise InvalidInput(f"request id {request_id!r} is a UUIDv4, issued before request ids carried their time: "
                           "send its feedback through the platform API (POST /api/v1/deployments/{name}/feedback, "
                           "with a writer token), which does not check ids")
    if len(request_id) != 32 or not _HEX.issuperset(request_id) or request_id[12] != "7":
        raise InvalidInput(f"{request_id[:64]!r} is not a request id this service issued (32 hex digits, UUIDv7)")
    return int(request_id[:12], 16)


class ServedIds:
    """The ids this replica answered lately, per deployment, each with the label kind of the model
    that answered it; the oldest are forgotten past ``capacity`` ids per deployment."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(0, capacity)
        self._ids: dict[str, dict[str, str]] = {}

    def add(self, deployment: str, ids: Sequence[str], kind: str) -> None:
        if not self.capacity:
            return
        known = self._ids.get(deployment)
        if known is None:
            known = self._ids[deployment] = {}
        if len(ids) == 1:
            known[ids[0]] = kind
        else:
            known.update(dict.fromkeys(ids, kind))
        if len(known) > self.capacity + self.capacity // 8:  # forget in chunks: amortized O(1) per id
            for key in list(itertools.islice(known, len(known) - self.capacity)):
                del known[key]

    def get(self, deployment: str, request_id: str) -> str | None:
        known = self._ids.get(deployment)
        return None if known is None else known.get(request_id)


def find_in_log(root: str, deployment: str, request_ids: Sequence[str]) -> dict[str, tuple[str, int]]:
    """``{request_id: (model, version)}`` of the ids the prediction log under ``root`` holds for
    ``deployment`` (rows of failed requests count: they were answered, with an error)."""
    from shipyard.serving._ingest import server_of
    from shipyard.serving._predlog_schema import day_of
    from shipyard.serving._segment_files import SegmentFiles

    server = server_of(root)
    if server is not None:  # a log kept by a shipyard server: it looks them up
        from shipyard.serving._via_server import find_via_server

        return find_via_server(server, deployment, request_ids)
    files = SegmentFiles(root)
    by_day: dict[int, list[tuple[int, str]]] = {}
    for rid in request_ids:
        ms = served_at_ms(rid)
        by_day.setdefault(day_of(ms), []).append((ms, rid))
    found: dict[str, tuple[str, int]] = {}
    for items in by_day.values():
        for attempt in range(3):  # a file compaction removed under a slow lookup: list again
            try:
                found.update(_lookup(files, deployment, items))
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise
    return found


def _lookup(files: Any, deployment: str, items: list[tuple[int, str]]) -> dict[str, tuple[str, int]]:
    """The ids of ``items`` (time, id) in the files whose time range (from their names) holds their times."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    from shipyard.serving._predlog_schema import FIXED_SCHEMA, TIMESTAMP
    from shipyard.serving.reader import select_files

    stamps = [ms for ms, _ in items]
    rels, _ = select_files(files, deployment, min(stamps), max(stamps) + 1)
    found: dict[str, tuple[str, int]] = {}
    if not rels:
        return found
    ts = ds.field("timestamp")
    condition = ((ts >= pa.scalar(min(stamps), TIMESTAMP)) & (ts <= pa.scalar(max(stamps), TIMESTAMP))
                 & pc.field("request_id").isin(pa.array([rid for _, rid in items], pa.string())))
    dataset = ds.dataset([files.full(r) for r in rels], schema=FIXED_SCHEMA, format="parquet",
                         filesystem=files.arrow_filesystem())
    table = dataset.to_table(columns=["request_id", "model", "version"], filter=condition)
    for rid, model, version in zip(*(table[c].to_pylist() for c in ("request_id", "model", "version")), strict=True):
        found[rid] = (model, int(version))
    return found


def unknown_ids(deployment: str, missing: Sequence[str]) -> NotFound:
    now = int(time.time() * 1000)
    future = [rid for rid in missing if served_at_ms(rid) > now + _FUTURE_MS]
    shown = ", ".join(repr(r) for r in missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    why = " (its time lies in the future)" if future else ""
    return NotFound(f"request id {shown} was not answered by deployment {deployment!r}{why}: send feedback for "
                    "the request_ids a predict answer returned; an answer from another replica is found once that "
                    "replica has written its prediction log (a few seconds), so retry then")
