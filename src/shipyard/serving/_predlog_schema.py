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

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "FEATURE_PREFIX",
    "FIXED_SCHEMA",
    "FORMAT_VERSION",
    "MAX_ERROR_CHARS",
    "REPEATING_COLUMNS",
    "TIMESTAMP",
    "RecordBlock",
    "blocks_to_table",
    "conform",
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
#: The columns whose values repeat from row to row: the only ones a segment dictionary-encodes.
REPEATING_COLUMNS = frozenset({"deployment", "model", "revision", "version", "shadow", "error", "prediction"})
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
    """The rows of one answered request or batch in columns, as the serving app hands them over.

    The same rows as a list of record dicts, but building a dict per row and converting the dicts
    back to columns at flush time cost about 35 µs a row: at a few thousand requests a second, a
    third of a serving process's throughput. A block only holds references to the arrays the model
    saw and answered; at flush time the blocks of a segment are stacked with NumPy and converted to
    Arrow column by column (:func:`blocks_to_table`). The serving app hands over one block per
    predict call, for all the requests that call answered, so a batch costs the log one block.

    ``features`` is a 2-D array whose columns are named by ``feature_names``, or a dict of 1-D arrays.
    ``timestamp_ms`` and ``latency_ms`` are one number for every row, or a 1-D array with one per
    row (the requests of a batch started at different times). A failed request is a block with
    ``predictions=None`` and ``error`` set (one text for its rows).
    """

    __slots__ = ("deployment", "error", "feature_names", "features", "latency_ms", "model", "predictions",
                 "probabilities", "request_ids", "revision", "shadow", "timestamp_ms", "version")

    def __init__(self, *, request_ids: list[str], timestamp_ms: int | np.ndarray, deployment: str, revision: int,
                 model: str, version: int, shadow: bool, features: Any, feature_names: list[str] | None = None,
                 predictions: Any, probabilities: Any = None, latency_ms: float | np.ndarray = 0.0,
                 error: str | None = None) -> None:
        self.request_ids, self.deployment = request_ids, deployment
        self.timestamp_ms = _per_row(timestamp_ms, np.int64, len(request_ids), "timestamp_ms")
        self.latency_ms = _per_row(latency_ms, np.float64, len(request_ids), "latency_ms")
        self.revision, self.model, self.version, self.shadow = revision, model, version, shadow
        self.features, self.feature_names = features, feature_names
        self.predictions, self.probabilities = predictions, probabilities
        self.error = error

    def __len__(self) -> int:
        return len(self.request_ids)

    def columns(self) -> dict[str, Any]:
        if isinstance(self.features, dict):
            return self.features
        names = self.feature_names or [str(i) for i in range(self.features.shape[1])]
        return {name: self.features[:, i] for i, name in enumerate(names)}

    def by_day(self) -> list[tuple[int, RecordBlock]]:
        """``[(day, rows of that UTC day)]``: the block itself unless its rows span midnight."""
        stamps = self.timestamp_ms
        if not isinstance(stamps, np.ndarray):
            return [(day_of(stamps), self)]
        days = stamps // _DAY_MS
        first = int(days[0])
        if (days == first).all():
            return [(first, self)]
        return [(int(day), self.take(np.flatnonzero(days == day))) for day in np.unique(days)]

    def take(self, rows: np.ndarray) -> RecordBlock:
        """A block of the rows at these positions (in this order)."""
        def pick(values: Any) -> Any:
            return None if values is None else np.asarray(values)[rows]

        features = ({k: np.asarray(v)[rows] for k, v in self.features.items()} if isinstance(self.features, dict)
                    else self.features[rows])
        return RecordBlock(request_ids=[self.request_ids[i] for i in rows.tolist()],
                           timestamp_ms=_pick_row(self.timestamp_ms, rows), deployment=self.deployment,
                           revision=self.revision, model=self.model, version=self.version, shadow=self.shadow,
                           features=features, feature_names=self.feature_names, predictions=pick(self.predictions),
                           probabilities=pick(self.probabilities), latency_ms=_pick_row(self.latency_ms, rows),
                           error=self.error)

    def _signature(self) -> tuple[Any, ...]:
        """Blocks with equal signatures stack into one set of arrays.

        Feature names count by identity: the blocks of one served model share one list, and two
        groups with equal names only make two tables; a per-block tuple of 20 names, and dtype
        strings, cost three times the rest of a one-row block's conversion."""
        features, preds, proba = self.features, self.predictions, self.probabilities
        if (type(features) is np.ndarray and (preds is None or type(preds) is np.ndarray)
                and (proba is None or type(proba) is np.ndarray)):  # what the serving app hands over
            return (id(self.feature_names), features.dtype, features.shape[1:],
                    None if preds is None else preds.dtype, None if proba is None else proba.shape[1:])
        if isinstance(features, dict):
            feats: Any = tuple((k, np.asarray(v).dtype.str) for k, v in features.items())
        else:
            feats = (tuple(self.feature_names or ()), features.dtype.str, features.shape[1])
        width = None if proba is None else int(np.shape(proba)[-1])
        # failed blocks (no predictions) form groups of their own, so a group never mixes the two
        kind = None if preds is None else np.asarray(preds).dtype.kind in "biuf"
        return feats, kind, width

    def records(self) -> list[dict[str, Any]]:
        """The same rows as record dicts (the general, slower path)."""
        cols = {name: _as_list(values) for name, values in self.columns().items()}
        preds = _as_list(self.predictions) if self.predictions is not None else [None] * len(self)
        proba = _as_list(self.probabilities) if self.probabilities is not None else [None] * len(self)
        stamps = _as_list(self.timestamp_ms) if isinstance(self.timestamp_ms, np.ndarray) else None
        latency = _as_list(self.latency_ms) if isinstance(self.latency_ms, np.ndarray) else None
        return [{"request_id": rid, "timestamp_ms": self.timestamp_ms if stamps is None else stamps[i],
                 "deployment": self.deployment, "revision": self.revision, "model": self.model,
                 "version": self.version, "shadow": self.shadow,
                 "features": {name: values[i] for name, values in cols.items()}, "prediction": preds[i],
                 "probabilities": proba[i], "latency_ms": self.latency_ms if latency is None else latency[i],
                 "error": self.error}
                for i, rid in enumerate(self.request_ids)]


def _per_row(value: Any, dtype: Any, rows: int, name: str) -> Any:
    """A number as int/float, or a per-row array as a 1-D array of ``dtype`` with ``rows`` values."""
    if isinstance(value, (np.ndarray, list, tuple)):
        array = np.asarray(value, dtype=dtype)
        if array.shape != (rows,):
            raise ValueError(f"{name} has {array.shape} values for {rows} rows")
        return array
    return int(value) if dtype is np.int64 else float(value)


def _pick_row(value: Any, rows: np.ndarray) -> Any:
    return value[rows] if isinstance(value, np.ndarray) else value


def blocks_to_table(blocks: Sequence[RecordBlock]) -> pa.Table:
    """One table for many blocks: each group of like blocks stacked, then converted column by column."""
    groups: dict[tuple[Any, ...], list[RecordBlock]] = {}
    for block in blocks:
        key = block._signature()
        group = groups.get(key)
        if group is None:
            groups[key] = [block]
        else:
            group.append(block)
    tables = [_stacked_table(group) for group in groups.values()]
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
    if table.schema.field("prediction").type == pa.null():  # only failed rows: the documented type
        table = table.set_column(table.schema.get_field_index("prediction"), "prediction",
                                 table["prediction"].cast(pa.float64()))
    return table.replace_schema_metadata(_METADATA)


def _rows_of(values: list[Any], counts: Any, singles: bool, dtype: Any) -> np.ndarray:
    """One value per block -> one per row (each block's value repeated for its rows)."""
    array = np.asarray(values, dtype=dtype)
    return array if singles else np.repeat(array, counts)


def _stacked(values: list[Any], counts: Any, singles: bool, dtype: Any) -> np.ndarray:
    """A per-block number or per-row array -> one value per row."""
    if not any(type(v) is np.ndarray for v in values):
        return _rows_of(values, counts, singles, dtype)
    return np.concatenate([np.asarray(v, dtype=dtype) if type(v) is np.ndarray else np.full(n, v, dtype=dtype)
                           for v, n in zip(values, counts.tolist(), strict=True)])


def _concat(arrays: list[Any], counts: list[int], width: bool) -> np.ndarray:
    """Per-block predictions (``width`` False: n values) or probabilities (n x k) stacked; each block
    is reshaped only when the plain concatenation does not come out in that shape."""
    n = sum(counts)
    try:
        joined = np.concatenate(arrays)
        if joined.shape[0] == n and joined.ndim == (2 if width else 1):
            return joined
    except ValueError:
        pass
    shape = (lambda rows: (rows, -1)) if width else (lambda rows: (rows,))
    return np.concatenate([np.asarray(a).reshape(shape(rows)) for a, rows in zip(arrays, counts, strict=True)])


def _stacked_table(blocks: list[RecordBlock]) -> pa.Table:
    counts_list = [len(b.request_ids) for b in blocks]
    n = sum(counts_list)
    counts = np.asarray(counts_list, dtype=np.int64)
    singles = n == len(blocks)  # one row per block: nothing to repeat

    def per_row(attr: str, dtype: Any) -> np.ndarray:
        return _rows_of([getattr(b, attr) for b in blocks], counts, singles, dtype)

    def text(attr: str) -> pa.Array:
        values = [getattr(b, attr) for b in blocks]
        first = values[0]
        if all(v == first for v in values):  # one deployment, one model: the usual group
            return pa.repeat(pa.scalar(first, pa.string()), n)
        return pa.array(_rows_of(values, counts, singles, object), pa.string())

    prediction: pa.Array
    if blocks[0].predictions is None:  # failed rows: null-typed, so it joins a string or float group alike
        prediction = pa.nulls(n)
    else:
        preds = _concat([b.predictions for b in blocks], counts_list, width=False)
        prediction = (pa.array(preds.astype(np.float64, copy=False)) if preds.dtype.kind in "biuf"
                      else scalar_column(preds.tolist()))
    if blocks[0].probabilities is None:
        probabilities = pa.nulls(n, _PROBABILITIES)
    else:
        proba = _concat([b.probabilities for b in blocks], counts_list, width=True).astype(np.float64, copy=False)
        offsets = pa.array(np.arange(0, proba.size + 1, max(proba.shape[1], 1), dtype=np.int32))
        probabilities = pa.ListArray.from_arrays(offsets, pa.array(np.ascontiguousarray(proba).reshape(-1)))
    columns = [
        pa.array([rid for b in blocks for rid in b.request_ids], pa.string()),
        pa.array(_stacked([b.timestamp_ms for b in blocks], counts, singles, np.int64)).view(TIMESTAMP),
        text("deployment"),
        pa.array(per_row("revision", np.int32)),
        text("model"),
        pa.array(per_row("version", np.int32)),
        pa.array(per_row("shadow", np.bool_)),
        prediction,
        probabilities,
        pa.array(_stacked([b.latency_ms for b in blocks], counts, singles, np.float64)),
        text("error"),
    ]
    names = list(FIXED_SCHEMA.names)
    features = blocks[0].features
    if isinstance(features, dict):
        stacked = {k: np.concatenate([np.asarray(b.features[k]) for b in blocks]) for k in features}
        for name, values in stacked.items():
            names.append(FEATURE_PREFIX + str(name))
            columns.append(_feature_array(values))
    else:
        matrix = np.concatenate([b.features for b in blocks])
        feature_names = [FEATURE_PREFIX + str(name) for name in blocks[0].columns()]
        names.extend(feature_names)
        if matrix.dtype.kind in "fiub" and matrix.ndim == 2:
            # one Arrow array for the whole matrix, column-major, sliced per feature: a conversion
            # per column costs more than the rest of a small table
            flat = _feature_array(np.ascontiguousarray(matrix.T).reshape(-1))
            columns.extend(flat.slice(i * n, n) for i in range(len(feature_names)))
        else:
            columns.extend(_feature_array(matrix[:, i]) for i in range(len(feature_names)))
    return pa.Table.from_arrays(columns, names=names).replace_schema_metadata(_METADATA)


def _feature_array(values: np.ndarray) -> pa.Array:
    """A feature column from a 1-D array: float64 (NaN -> null), int64, bool, else by its values."""
    kind = values.dtype.kind
    if kind == "f":
        return pa.array(values.astype(np.float64, copy=False), from_pandas=True)
    if kind in "iu":
        return pa.array(values.astype(np.int64, copy=False))
    if kind == "b":
        return pa.array(values)
    return feature_column(values.tolist())


def _as_list(values: Any) -> list[Any]:
    return values.tolist() if hasattr(values, "tolist") else list(values)


def records_to_table(records: Sequence[dict[str, Any] | RecordBlock], deployment: str) -> pa.Table:
    """One segment's table. Raises KeyError/ValueError/TypeError for a malformed record.

    Converted a few hundred rows at a time: one Arrow conversion holds the GIL throughout, and the
    logger runs it in a background thread of the serving process, so a flush of thousands of rows
    in one call would stall request handling for tens of milliseconds (the p99 at low load).
    """
    blocks = [r for r in records if isinstance(r, RecordBlock)]
    rows = [r for r in records if not isinstance(r, RecordBlock)]
    if blocks:
        try:
            parts = [blocks_to_table(blocks)] + ([records_to_table(rows, deployment)] if rows else [])
            return pa.concat_tables(parts, promote_options="permissive").replace_schema_metadata(_METADATA)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # typed differently: one conversion of all rows
            rows += [row for block in blocks for row in block.records()]
    if len(rows) > _CHUNK_ROWS:
        parts = []
        for start in range(0, len(rows), _CHUNK_ROWS):
            parts.append(_convert(rows[start:start + _CHUNK_ROWS], deployment))
            time.sleep(0)  # let the event loop thread run between chunks
        try:
            return pa.concat_tables(parts, promote_options="permissive").replace_schema_metadata(_METADATA)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass  # chunks typed a column differently (say int and text): convert all together
    return _convert(rows, deployment)


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


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` in a schema from ``unify_schemas``: columns cast (int -> float, anything -> string),
    missing ones null, as a dataset read with that schema gives them."""
    columns = []
    for f in schema:
        if f.name in table.column_names:
            column = table[f.name]
            columns.append(column if column.type == f.type else column.cast(f.type))
        else:
            columns.append(pa.nulls(table.num_rows, f.type))
    return pa.Table.from_arrays(columns, schema=schema)
