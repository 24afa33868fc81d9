"""The prediction log's Parquet schema: records -> Arrow tables, and segments' schemas -> one schema.

This module is the format both sides agree on: the logger writes what ``records_to_table`` builds,
and the reader (and monitoring) unify segments with ``unify_schemas``.

Fixed columns, in this order::

    request_id string, timestamp timestamp[ms, UTC], deployment string, revision int32,
    model string, version int32, shadow bool, prediction float64|string,
    probabilities list<float64> (null when the model has none), latency_ms float64, error string

``error`` is null for an answered row; for a row the model failed on (the app answered 500, or a
shadow copy raised) it is ``"ExceptionType: message"`` (at most ``MAX_ERROR_CHARS`` characters),
with ``prediction`` and ``probabilities`` null and the features the model was given. Input the app
rejected (a 4xx) is never logged. ``error`` came with format version 2; a version-1 segment has no
such column and reads back with ``error`` null (``unify_schemas`` fills any missing fixed column).

then one ``feature.<name>`` column per input feature (first-seen order), typed from its values:
bool, int64, float64 (ints and floats mixed) or string; a column that mixes other types, or
holds lists/dicts, becomes string (JSON for containers); a missing feature is null.

``prediction`` (and the reader's ``label``) is float64 when every value is a number or a bool
(True -> 1.0), so a prediction and its label compare and feed metrics directly; otherwise it is
string, with non-string values written as JSON (``true``, ``1``, ``2.5``). Segments of one
deployment may differ (a model changed): a column typed differently in two segments is unified as
int64 + float64 -> float64, anything else -> string; a column missing from a segment reads as null.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from numbers import Real
from typing import Any
from urllib.parse import quote

import orjson
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "FEATURE_PREFIX",
    "FIXED_SCHEMA",
    "FORMAT_VERSION",
    "MAX_ERROR_CHARS",
    "TIMESTAMP",
    "RecordBlock",
    "blocks_to_table",
    "day_of",
    "error_text",
    "partition_dir",
    "records_to_table",
    "scalar_column",
    "unify_schemas",
]

# 2: the ``error`` column (version-1 segments lack it; see the module doc). Stored in each
# segment's metadata under b"shipyard.prediction_log".
FORMAT_VERSION = "2"
#: The longest ``error`` text kept: a traceback-sized message in every failed row would bloat the log.
MAX_ERROR_CHARS = 500
FEATURE_PREFIX = "feature."
TIMESTAMP = pa.timestamp("ms", tz="UTC")
FIXED_SCHEMA = pa.schema([
    ("request_id", pa.string()),
    ("timestamp", TIMESTAMP),
    ("deployment", pa.string()),
    ("revision", pa.int32()),
    ("model", pa.string()),
    ("version", pa.int32()),
    ("shadow", pa.bool_()),
    ("prediction", pa.float64()),
    ("probabilities", pa.list_(pa.float64())),
    ("latency_ms", pa.float64()),
    ("error", pa.string()),
])
_METADATA = {b"shipyard.prediction_log": FORMAT_VERSION.encode()}
_FEATURE_TYPES = (pa.bool_(), pa.int64(), pa.float64(), pa.string())
_DAY_MS = 86_400_000
_PROBABILITIES = pa.list_(pa.float64())


def partition_dir(deployment: str, day: str) -> str:
    """``deployment=<name>/date=YYYY-MM-DD``; the name is URI-escaped as pyarrow's hive partitioning expects."""
    return f"deployment={quote(deployment, safe='')}/date={day}"


def error_text(exc: BaseException) -> str:
    """``"ExceptionType: message"`` of a failed prediction, cut to ``MAX_ERROR_CHARS``."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS - 3] + "..."


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    try:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    except TypeError:
        return str(value)


def _strings(values: Sequence[Any]) -> pa.Array:
    return pa.array([_text(v) for v in values], type=pa.string())


def scalar_column(values: Sequence[Any]) -> pa.Array:
    """float64 when every value is a number or bool (None -> null), else string (JSON for non-strings)."""
    if all(v is None or isinstance(v, Real) for v in values):  # bool and numpy numbers are Real too
        try:
            return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
        except (TypeError, ValueError, OverflowError):
            pass
    return _strings(values)


def feature_column(values: Sequence[Any]) -> pa.Array:
    """The narrowest of bool / int64 / float64 / string that holds every value (see the module doc)."""
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        if all(v is None or (isinstance(v, Real) and not isinstance(v, bool)) for v in values):
            try:  # ints too large for int64 mixed with floats
                return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
            except (TypeError, ValueError, OverflowError):
                pass
        return _strings(values)
    if array.type in _FEATURE_TYPES or array.type == pa.null():
        return array
    if pa.types.is_integer(array.type):
        return array.cast(pa.int64())
    if pa.types.is_floating(array.type):
        return array.cast(pa.float64())
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return array.cast(pa.string())
    return _strings(values)


def _probabilities(values: Sequence[Any]) -> pa.Array:
    try:
        return pa.array([None if v is None else [float(p) for p in v] for v in values], type=pa.list_(pa.float64()))
    except (TypeError, ValueError):
        raise ValueError("probabilities must be a list of numbers or None") from None


_CHUNK_ROWS = 256


class RecordBlock:
    """The rows of one answered request (or batch) in columns, as the serving app hands them over.

    The same rows as a list of record dicts, but building a dict per row and converting the dicts
    back to columns at flush time cost about 35 µs a row: at a few thousand requests a second, a
    third of a serving process's throughput. A block only holds references to the arrays the model
    saw and answered; at flush time the blocks of a segment are stacked with NumPy and converted to
    Arrow column by column (:func:`blocks_to_table`).

    ``features`` is a 2-D array whose columns are named by ``feature_names``, or a dict of 1-D arrays.
    A failed request is a block with ``predictions=None`` and ``error`` set (one text for its rows).
    """

    __slots__ = ("deployment", "error", "feature_names", "features", "latency_ms", "model", "predictions",
                 "probabilities", "request_ids", "revision", "shadow", "timestamp_ms", "version")

    def __init__(self, *, request_ids: list[str], timestamp_ms: int, deployment: str, revision: int, model: str,
                 version: int, shadow: bool, features: Any, feature_names: list[str] | None = None,
                 predictions: Any, probabilities: Any = None, latency_ms: float = 0.0,
                 error: str | None = None) -> None:
        self.request_ids, self.timestamp_ms, self.deployment = request_ids, int(timestamp_ms), deployment
        self.revision, self.model, self.version, self.shadow = revision, model, version, shadow
        self.features, self.feature_names = features, feature_names
        self.predictions, self.probabilities, self.latency_ms = predictions, probabilities, latency_ms
        self.error = error

    def __len__(self) -> int:
        return len(self.request_ids)

    def columns(self) -> dict[str, Any]:
        if isinstance(self.features, dict):
            return self.features
        names = self.feature_names or [str(i) for i in range(self.features.shape[1])]
        return {name: self.features[:, i] for i, name in enumerate(names)}

    def _signature(self) -> tuple[Any, ...]:
        """Blocks with equal signatures stack into one set of arrays."""
        import numpy as np

        if isinstance(self.features, dict):
            feats: Any = tuple((k, np.asarray(v).dtype.str) for k, v in self.features.items())
        else:
            feats = (tuple(self.feature_names or ()), self.features.dtype.str, self.features.shape[1])
        width = None if self.probabilities is None else int(np.shape(self.probabilities)[-1])
        # failed blocks (no predictions) form groups of their own, so a group never mixes the two
        kind = None if self.predictions is None else np.asarray(self.predictions).dtype.kind in "biuf"
        return feats, kind, width

    def records(self) -> list[dict[str, Any]]:
        """The same rows as record dicts (the general, slower path)."""
        cols = {name: _as_list(values) for name, values in self.columns().items()}
        preds = _as_list(self.predictions) if self.predictions is not None else [None] * len(self)
        proba = _as_list(self.probabilities) if self.probabilities is not None else [None] * len(self)
        return [{"request_id": rid, "timestamp_ms": self.timestamp_ms, "deployment": self.deployment,
                 "revision": self.revision, "model": self.model, "version": self.version, "shadow": self.shadow,
                 "features": {name: values[i] for name, values in cols.items()}, "prediction": preds[i],
                 "probabilities": proba[i], "latency_ms": self.latency_ms, "error": self.error}
                for i, rid in enumerate(self.request_ids)]


def blocks_to_table(blocks: Sequence[RecordBlock]) -> pa.Table:
    """One table for many blocks: each group of like blocks stacked, then converted column by column."""
    groups: dict[tuple[Any, ...], list[RecordBlock]] = {}
    for block in blocks:
        groups.setdefault(block._signature(), []).append(block)
    tables = [_stacked_table(group) for group in groups.values()]
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
    if table.schema.field("prediction").type == pa.null():  # only failed rows: the documented type
        table = table.set_column(table.schema.get_field_index("prediction"), "prediction",
                                 table["prediction"].cast(pa.float64()))
    return table.replace_schema_metadata(_METADATA)


def _stacked_table(blocks: list[RecordBlock]) -> pa.Table:
    import numpy as np

    counts = np.fromiter((len(b) for b in blocks), dtype=np.int64, count=len(blocks))
    n = int(counts.sum())

    def per_row(values: list[Any], dtype: Any) -> Any:
        return np.repeat(np.asarray(values, dtype=dtype), counts)

    prediction: pa.Array
    if blocks[0].predictions is None:  # failed rows: null-typed, so it joins a string or float group alike
        prediction = pa.nulls(n)
    else:
        preds = np.concatenate([np.asarray(b.predictions).reshape(len(b)) for b in blocks])
        prediction = (pa.array(preds.astype(np.float64, copy=False)) if preds.dtype.kind in "biuf"
                      else scalar_column(preds.tolist()))
    if blocks[0].probabilities is None:
        probabilities = pa.nulls(n, _PROBABILITIES)
    else:
        proba = np.concatenate([np.asarray(b.probabilities, dtype=np.float64).reshape(len(b), -1) for b in blocks])
        offsets = pa.array(np.arange(0, proba.size + 1, max(proba.shape[1], 1), dtype=np.int32))
        probabilities = pa.ListArray.from_arrays(offsets, pa.array(np.ascontiguousarray(proba).reshape(-1)))
    columns = [
        pa.array([rid for b in blocks for rid in b.request_ids], pa.string()),
        pa.array(per_row([b.timestamp_ms for b in blocks], np.int64)).cast(TIMESTAMP),
        pa.array(per_row([b.deployment for b in blocks], object), pa.string()),
        pa.array(per_row([b.revision for b in blocks], np.int32)),
        pa.array(per_row([b.model for b in blocks], object), pa.string()),
        pa.array(per_row([b.version for b in blocks], np.int32)),
        pa.array(per_row([bool(b.shadow) for b in blocks], np.bool_)),
        prediction,
        probabilities,
        pa.array(per_row([float(b.latency_ms) for b in blocks], np.float64)),
        (pa.nulls(n, pa.string()) if all(b.error is None for b in blocks)
         else pa.array(per_row([b.error for b in blocks], object), pa.string())),
    ]
    names = list(FIXED_SCHEMA.names)
    stacked: dict[str, Any]
    if isinstance(blocks[0].features, dict):
        stacked = {k: np.concatenate([np.asarray(b.features[k]) for b in blocks]) for k in blocks[0].features}
    else:
        matrix = np.concatenate([b.features for b in blocks])
        stacked = {name: matrix[:, i] for i, name in enumerate(blocks[0].columns())}
    for name, values in stacked.items():
        kind = values.dtype.kind
        if kind == "f":
            column = pa.array(values.astype(np.float64, copy=False), from_pandas=True)
        elif kind in "iu":
            column = pa.array(values.astype(np.int64, copy=False))
        elif kind == "b":
            column = pa.array(values)
        else:
            column = feature_column(values.tolist())
        names.append(FEATURE_PREFIX + str(name))
        columns.append(column)
    return pa.Table.from_arrays(columns, names=names).replace_schema_metadata(_METADATA)


def _as_list(values: Any) -> list[Any]:
    return values.tolist() if hasattr(values, "tolist") else list(values)


def records_to_table(records: Sequence[dict[str, Any]], deployment: str) -> pa.Table:
    """One segment's table. Raises KeyError/ValueError/TypeError for a malformed record.

    Converted a few hundred rows at a time: one Arrow conversion holds the GIL throughout, and the
    logger runs it in a background thread of the serving process, so a flush of thousands of rows
    in one call would stall request handling for tens of milliseconds (the p99 at low load).
    """
    blocks = [r for r in records if isinstance(r, RecordBlock)]
    if blocks:
        dicts = [r for r in records if not isinstance(r, RecordBlock)]
        try:
            parts = [blocks_to_table(blocks)] + ([records_to_table(dicts, deployment)] if dicts else [])
            return pa.concat_tables(parts, promote_options="permissive").replace_schema_metadata(_METADATA)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # typed differently: one conversion of all rows
            records = dicts + [row for block in blocks for row in block.records()]
    if len(records) > _CHUNK_ROWS:
        parts = []
        for start in range(0, len(records), _CHUNK_ROWS):
            parts.append(_convert(records[start:start + _CHUNK_ROWS], deployment))
            time.sleep(0)  # let the event loop thread run between chunks
        try:
            return pa.concat_tables(parts, promote_options="permissive").replace_schema_metadata(_METADATA)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass  # chunks typed a column differently (say int and text): convert all together
    return _convert(records, deployment)


def _convert(records: Sequence[dict[str, Any]], deployment: str) -> pa.Table:
    try:
        table = _records_to_table_fast(records, deployment)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        table = None
    if table is None:
        table = _records_to_table_slow(records, deployment)
    return table.replace_schema_metadata(_METADATA)


def _records_to_table_fast(records: Sequence[dict[str, Any]], deployment: str) -> pa.Table | None:
    """Arrow converts the records as structs in C++, several times faster than column by column in
    Python; None (or an Arrow error) when a column needs the per-value rules of the slow path."""
    rows = pa.array(records)
    if not pa.types.is_struct(rows.type):
        return None
    kinds = {rows.type.field(i).name: rows.type.field(i).type for i in range(rows.type.num_fields)}
    for required in ("request_id", "timestamp_ms"):
        if required not in kinds or rows.field(required).null_count:
            raise KeyError(required)
    if not pa.types.is_integer(kinds["timestamp_ms"]):
        return None

    def column(name: str, type_: pa.DataType) -> pa.Array:
        return rows.field(name).cast(type_) if name in kinds else pa.nulls(len(rows), type_)

    prediction = column("prediction", pa.null()) if "prediction" not in kinds else rows.field("prediction")
    if pa.types.is_integer(prediction.type) or pa.types.is_floating(prediction.type) or prediction.type in (
            pa.bool_(), pa.null()):
        prediction = prediction.cast(pa.float64())
    elif prediction.type != pa.string():
        return None
    if kinds.get("error", pa.null()) not in (pa.string(), pa.null()):
        return None  # the slow path writes a non-string error as JSON text
    columns = [
        column("request_id", pa.string()),
        rows.field("timestamp_ms").cast(pa.int64()).cast(TIMESTAMP),
        pc.fill_null(column("deployment", pa.string()), deployment),
        column("revision", pa.int32()),
        column("model", pa.string()),
        column("version", pa.int32()),
        pc.fill_null(column("shadow", pa.bool_()), False),
        prediction,
        column("probabilities", _PROBABILITIES),
        column("latency_ms", pa.float64()),
        column("error", pa.string()),
    ]
    names = list(FIXED_SCHEMA.names)
    features = rows.field("features") if "features" in kinds else None
    if features is not None and pa.types.is_struct(features.type):
        for i in range(features.type.num_fields):
            child = features.field(i)
            if child.type not in _FEATURE_TYPES and child.type != pa.null():
                return None
            names.append(FEATURE_PREFIX + features.type.field(i).name)
            columns.append(child)
    elif features is not None and features.type != pa.null():
        return None
    return pa.Table.from_arrays(columns, names=names)


def _records_to_table_slow(records: Sequence[dict[str, Any]], deployment: str) -> pa.Table:
    """Column by column with the per-value rules of the module doc (mixed types -> string)."""
    features: dict[str, None] = {}
    for record in records:
        row = record.get("features")
        if row:
            features.update(dict.fromkeys(row))
    ids = [r["request_id"] for r in records]
    if any(i is None for i in ids):
        raise ValueError("request_id must not be None")
    columns: list[pa.Array] = [
        pa.array(ids, type=pa.string()),
        pa.array([int(r["timestamp_ms"]) for r in records], type=pa.int64()).cast(TIMESTAMP),
        pa.array([r.get("deployment") or deployment for r in records], type=pa.string()),
        pa.array([r.get("revision") for r in records], type=pa.int32()),
        pa.array([r.get("model") for r in records], type=pa.string()),
        pa.array([r.get("version") for r in records], type=pa.int32()),
        pa.array([bool(r.get("shadow", False)) for r in records], type=pa.bool_()),
        scalar_column([r.get("prediction") for r in records]),
        _probabilities([r.get("probabilities") for r in records]),
        pa.array([r.get("latency_ms") for r in records], type=pa.float64()),
        _strings([r.get("error") for r in records]),
    ]
    names = list(FIXED_SCHEMA.names)
    empty: dict[str, Any] = {}
    feature_rows = [r.get("features") or empty for r in records]
    for name in features:
        names.append(FEATURE_PREFIX + str(name))
        columns.append(feature_column([f.get(name) for f in feature_rows]))
    return pa.Table.from_arrays(columns, names=names)


def day_of(timestamp_ms: int) -> int:
    """Days since the epoch (UTC) of a time in ms; the partition key."""
    return int(timestamp_ms) // _DAY_MS


def _unify_type(types: set[pa.DataType]) -> pa.DataType:
    # Parquet names a list's child "element", Arrow "item": the same type, told apart by hash.
    types = {_PROBABILITIES if pa.types.is_list(t) else t for t in types}
    types.discard(pa.null())
    if not types:
        return pa.null()
    if len(types) == 1:
        return types.pop()
    if types <= {pa.int64(), pa.int32(), pa.float64()}:
        return pa.float64()
    return pa.string()


def unify_schemas(schemas: Iterable[pa.Schema]) -> pa.Schema:
    """One schema for segments with different feature sets or types (see the module doc)."""
    order: dict[str, set[pa.DataType]] = {name: set() for name in FIXED_SCHEMA.names}
    for schema in schemas:
        for field in schema:
            order.setdefault(field.name, set()).add(field.type)
    fields = []
    for name, types in order.items():
        unified = _unify_type(types)
        if unified == pa.null() and name in FIXED_SCHEMA.names:
            unified = FIXED_SCHEMA.field(name).type
        fields.append(pa.field(name, unified))
    return pa.schema(fields, metadata=_METADATA)
