"""Turning user data (DataFrame, dict of arrays, 2-D array, pyarrow Table) into plain column data.

A numeric column becomes its finite values (float64) plus a missing count (NaN, None and +/-inf count
as missing); a categorical or binary column becomes category counts keyed by the value's string form.
pandas and pyarrow are never imported here: they are recognised by duck typing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._errors import DriftInputError

NUMERIC = "numeric"
CATEGORICAL = "categorical"
BINARY = "binary"
KINDS = (NUMERIC, CATEGORICAL, BINARY)


@dataclass
class NumericData:
    """Finite values of a numeric column, sorted, and how many values were missing."""

    values: np.ndarray
    missing: int
    dtype: str
    kind: str = NUMERIC

    @property
    def count(self) -> int:
        return int(self.values.size)


@dataclass
class CategoricalData:
    """Counts per category (keys are the values' string form) and how many values were missing."""

    counts: dict[str, int]
    missing: int
    dtype: str
    kind: str = CATEGORICAL

    @property
    def count(self) -> int:
        return int(sum(self.counts.values()))


ColumnData = NumericData | CategoricalData


def table_columns(data: Any, columns: list[str] | None = None) -> dict[str, Any]:
    """Name -> raw column (array-like, pandas Series or pyarrow ChunkedArray) for any accepted input."""
    if isinstance(data, dict):
        out = {str(k): v for k, v in data.items()}
    elif hasattr(data, "column_names") and hasattr(data, "column"):  # pyarrow Table
        out = {str(name): data.column(name) for name in data.column_names}
    elif hasattr(data, "columns") and hasattr(data, "dtypes") and hasattr(data, "iloc"):  # pandas DataFrame
        out = {str(name): data[name] for name in data.columns}
    else:
        arr = np.asarray(data)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise DriftInputError(f"expected a table or a 2-D array, got an array of shape {arr.shape}")
        if columns is not None and len(columns) == arr.shape[1]:
            return {str(name): arr[:, i] for i, name in enumerate(columns)}
        out = {f"f{i}": arr[:, i] for i in range(arr.shape[1])}
    if columns is not None:
        missing = [c for c in columns if c not in out]
        if missing:
            raise DriftInputError(f"columns not in the data: {missing}; available: {sorted(out)}")
        out = {c: out[c] for c in columns}
    lengths = {len(v) for v in out.values()}
    if len(lengths) > 1:
        raise DriftInputError(f"columns have different lengths: {sorted(lengths)}")
    return out


def _to_numpy(col: Any) -> np.ndarray:
    if hasattr(col, "combine_chunks") or hasattr(col, "to_pylist"):  # pyarrow
        import pyarrow as pa  # only reached when the user passed pyarrow data

        if pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_boolean(col.type):
            if col.null_count:
                return np.array(col.to_pylist(), dtype=object)
            return np.asarray(col.to_numpy())
        return np.array(col.to_pylist(), dtype=object)
    if hasattr(col, "dtype") and hasattr(col, "to_numpy") and not isinstance(col, np.ndarray):  # pandas
        dt = col.dtype
        if getattr(dt, "kind", "O") in "biuf":
            return col.to_numpy()
        if str(dt) in {"Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64",
                       "Float32", "Float64"}:
            return col.to_numpy(dtype="float64", na_value=np.nan)
        if str(dt) == "boolean":
            return col.to_numpy(dtype=object, na_value=None)
        return col.to_numpy(dtype=object)
    arr = np.asarray(col)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    return arr


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return not np.isfinite(value)
    return type(value).__name__ in {"NAType", "NaTType"}


def _numeric_from_objects(arr: np.ndarray) -> np.ndarray | None:
    """Object array whose non-missing values are all numbers -> float array with NaN; else None."""
    out = np.empty(arr.size, dtype=np.float64)
    for i, v in enumerate(arr.tolist()):
        if _is_missing(v):
            out[i] = np.nan
        elif isinstance(v, bool | int | float | np.number) and not isinstance(v, str):
            out[i] = float(v)
        else:
            return None
    return out


def infer_kind(arr: np.ndarray) -> str:
    """binary: bool, or numbers that are 0 and 1 (both seen); numeric: other numbers; categorical: the rest."""
    if arr.dtype.kind == "b":
        return BINARY
    if arr.dtype.kind in "iuf":
        finite = arr[np.isfinite(arr)] if arr.dtype.kind == "f" else arr
        ones = finite == 1
        if bool(np.all((finite == 0) | ones)) and 0 < int(ones.sum()) < finite.size:
            return BINARY
        return NUMERIC
    return CATEGORICAL


def column_data(raw: Any, kind: str | None = None) -> ColumnData:
    """Turn one raw column into NumericData / CategoricalData; ``kind`` forces the kind (from a reference)."""
    fast = _pandas_counts(raw, kind)
    if fast is not None:
        return fast
    arr = _to_numpy(raw)
    dtype = str(getattr(raw, "dtype", None) or getattr(raw, "type", None) or arr.dtype)
    if kind in (None, NUMERIC) and arr.dtype.kind in "iuf":
        numeric = _sorted_numeric(arr, dtype, kind)
        if numeric is not None:
            return numeric
    if arr.dtype.kind == "O":
        as_num = _numeric_from_objects(arr) if kind != CATEGORICAL else None
        if as_num is not None and (kind is not None or arr.size == 0 or np.isfinite(as_num).any()):
            if kind is None and all(isinstance(v, bool) for v in arr.tolist() if not _is_missing(v)):
                kind = BINARY
            arr = as_num
    if arr.dtype.kind in "USM":
        arr = arr.astype(object)
    kind = kind or infer_kind(arr)
    if kind not in KINDS:
        raise DriftInputError(f"unknown column kind {kind!r}; use one of {KINDS}")
    if kind == NUMERIC:
        if arr.dtype.kind not in "iufb":
            raise DriftInputError(f"column of dtype {dtype} is not numeric but the reference's is")
        values = np.asarray(arr, dtype=np.float64)
        finite = values[np.isfinite(values)]
        finite.sort()
        return NumericData(finite, int(values.size - finite.size), dtype)
    if arr.dtype.kind in "iufb":
        values = np.asarray(arr, dtype=np.float64)
        ok = np.isfinite(values)
        keys, key_counts = np.unique(values[ok], return_counts=True)
        counted = {_num_key(k): int(c) for k, c in zip(keys.tolist(), key_counts.tolist(), strict=True)}
        return CategoricalData(counted, int(values.size - ok.sum()), dtype, kind)
    counter = Counter(arr.tolist())
    counts: dict[str, int] = {}
    missing = 0
    for key, n in counter.items():
        if _is_missing(key):
            missing += n
        else:
            name = _num_key(key) if kind == BINARY and isinstance(key, bool | int | float) else str(key)
            counts[name] = counts.get(name, 0) + n
    return CategoricalData(counts, missing, dtype, kind)


def _sorted_numeric(arr: np.ndarray, dtype: str, kind: str | None) -> NumericData | None:
    """A number column as NumericData from ONE sort (a copy): no finiteness mask, no compress.

    NaN sorts last and -inf/+inf to the ends, so the finite values are one slice of the sorted copy.
    None when ``kind`` is None and the column is binary (left to the general path).
    """
    if arr.dtype == np.float64:
        values = np.sort(arr)
    else:
        values = arr.astype(np.float64)
        values.sort()
    if arr.dtype.kind == "f":
        lo = int(np.searchsorted(values, -np.inf, side="right"))
        hi = int(np.searchsorted(values, np.inf, side="left"))
        finite = values[lo:hi]
    else:
        finite = values
    if kind is None and finite.size and finite[0] == 0.0 and finite[-1] == 1.0:
        zeros = int(np.searchsorted(finite, 0.0, side="right"))
        if zeros == int(np.searchsorted(finite, 1.0, side="left")):
            return None  # only 0 and 1, both present: binary
    return NumericData(finite, int(values.size - finite.size), dtype)


def _pandas_counts(raw: Any, kind: str | None) -> CategoricalData | None:
    """Category counts of a pandas Series of strings/objects through its (C, hash-based) value_counts."""
    if kind not in (None, CATEGORICAL) or not (hasattr(raw, "value_counts") and hasattr(raw, "isna")):
        return None
    if getattr(raw.dtype, "kind", "O") in "biufcmM" or str(raw.dtype) == "boolean":
        return None
    counts = raw.value_counts(dropna=True)
    if not all(isinstance(k, str) for k in counts.index[:100]):
        return None  # mixed objects: take the general path (numbers in an object column, ...)
    return CategoricalData({str(k): int(v) for k, v in counts.items()}, int(raw.isna().sum()), str(raw.dtype))


def _num_key(value: float) -> str:
    """Category key of a number: '1' for 1.0 and True, '2.5' for 2.5."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)
