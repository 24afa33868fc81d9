"""Turn predict() input into what the model wants, checked against its signature.

An :class:`InputAdapter` is built once per loaded model. It knows the signature's column names and
types and the *mode* the model needs:

- ``"array"``: a 2-D NumPy array in signature order (all columns numeric; models fitted on arrays,
  and scikit-learn models fitted on a DataFrame in that column order, served from a copy without
  their column names: see :mod:`shipyard.models._positional`).
  One-row requests never build a pandas DataFrame: records and dicts go straight to ``np.array``.
- ``"frame"``: a pandas DataFrame with the signature's columns, in order (models fitted on
  DataFrames, i.e. with ``feature_names_in_``, and signatures with text or datetime columns).

Accepted input: a pandas DataFrame, a dict of column -> list/array (or scalars, for one row), a list
of dict records, or a 2-D NumPy array (matched by position). Extra columns are ignored. Casting is
safe-only: bool/int -> float, integral floats -> int (within the integer type's range: ``2**64``
into an ``int64`` column is refused, never wrapped), any float width -> any float width (an overflow
to infinity is refused); text is never turned into numbers. A missing value (JSON ``null``, NaN) in
a required column (see :class:`~shipyard.models.ColSpec`) is refused. Every refusal is an
:class:`~shipyard.errors.InvalidInput` that names the column and the (0-based) row.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

import numpy as np

from shipyard.errors import InvalidInput
from shipyard.models._signature import NUMERIC_TYPES, Signature, _is_frame

__all__ = ["InputAdapter", "RecordRows", "coerce"]

_PANDAS_TEXT = frozenset(["category", "str", "string"])


def _describe(arr: np.ndarray) -> str:
    kind = arr.dtype.kind
    if kind in "US":
        return "string"
    if kind == "M":
        return "datetime"
    if kind == "O":
        kinds = {type(v).__name__ for v in arr.ravel().tolist() if v is not None}
        return "string" if kinds == {"str"} else "/".join(sorted(kinds)) or "null"
    return arr.dtype.name


def _as_array(name: str, values: Any) -> np.ndarray:
    if isinstance(values, np.ndarray):
        return values
    if hasattr(values, "to_numpy"):
        return values.to_numpy()
    try:
        return np.asarray(values)
    except ValueError as exc:
        raise InvalidInput(f"column {name!r} could not be read as an array: {exc}") from exc


def _cell(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _null_error(name: str, row: int) -> InvalidInput:
    return InvalidInput(f"column {name!r} row {row}: a value is required (got null/NaN); the model was not "
                        "trained with missing values in this column")


def _first(mask: np.ndarray) -> int:
    """The row of the first True of a 1-D or 2-D (rows first) mask."""
    return int(np.argwhere(mask)[0][0])


def _check_range(name: str, expected: str, arr: np.ndarray) -> None:
    """Refuse numbers the target integer type cannot hold (a cast would wrap them silently)."""
    info = np.iinfo(np.dtype(expected))
    if arr.dtype.kind == "f":
        # float(info.max) rounds up to 2**63 for int64: compare against the exclusive upper bound
        bad = (arr < float(info.min)) | (arr >= float(info.max) + 1.0)
    elif np.can_cast(arr.dtype, expected):
        return
    else:
        bad = (arr < info.min) | (arr > info.max)
    if bad.any():
        row = _first(bad)
        raise InvalidInput(f"column {name!r} row {row}: {_cell(arr.ravel()[row].item())} is out of range for "
                           f"{expected} ({info.min} to {info.max})")


def _coerce_object_numeric(name: str, expected: str, arr: np.ndarray, required: bool) -> np.ndarray:
    """Object arrays of Python numbers and None (JSON nulls) -> a numeric array, else an error
    naming the column and the row."""
    target = np.dtype(expected)
    values = arr.ravel().tolist()
    gaps = False
    for row, v in enumerate(values):
        if v is None or (isinstance(v, float) and v != v):
            if required or target.kind in "iub":
                raise _null_error(name, row)
            gaps = True
        elif not isinstance(v, int | float):
            raise InvalidInput(f"column {name!r} row {row}: expects {expected}, got "
                               f"{type(v).__name__} {_cell(v)}")
    if target.kind in "iu" and not gaps:
        info = np.iinfo(target)
        for row, v in enumerate(values):  # exact, before any float rounding: 2**63 must not pass as int64
            if isinstance(v, int) and not info.min <= v <= info.max:
                raise InvalidInput(f"column {name!r} row {row}: {_cell(v)} is out of range for {expected} "
                                   f"({info.min} to {info.max})")
        if all(isinstance(v, int) for v in values):
            return np.asarray(values, dtype=target).reshape(arr.shape)
    floats = np.asarray([float("nan") if v is None else v for v in values], dtype=np.float64)
    return coerce(name, expected, floats.reshape(arr.shape), required)


def coerce(name: str, expected: str, values: Any, required: bool = False) -> np.ndarray:
    """Check one column against its signature type and cast it safely; errors name the column and
    the row. ``required`` refuses missing values (None, NaN, NaT)."""
    if expected == "string" and str(getattr(values, "dtype", "")) in _PANDAS_TEXT:
        if required and values.isna().any():
            raise _null_error(name, _first(values.isna().to_numpy()))
        return values.array  # keep pandas text/category columns as they are (positionally)
    arr = _as_array(name, values)
    kind = arr.dtype.kind
    if expected in NUMERIC_TYPES:
        target = np.dtype(expected)
        if kind in "biuf":
            if kind == "f":
                missing = np.isnan(arr)
                if missing.any() and (required or target.kind in "iu"):
                    raise _null_error(name, _first(missing))
                if target.kind in "iu" and not np.all(arr == np.floor(arr)):
                    row = _first(arr != np.floor(arr))
                    raise InvalidInput(f"column {name!r} row {row}: expects {expected}, got "
                                       f"{_cell(arr.ravel()[row].item())} (a fraction)")
            if target.kind in "iu":
                _check_range(name, expected, arr)
            out = arr.astype(target, copy=False)
            if target.kind == "f" and target.itemsize < arr.dtype.itemsize:
                overflow = np.isinf(out) & ~np.isinf(arr)
                if overflow.any():
                    row = _first(overflow)
                    raise InvalidInput(f"column {name!r} row {row}: {_cell(arr.ravel()[row].item())} is out of "
                                       f"range for {expected}")
            return out
        if kind == "O":
            return _coerce_object_numeric(name, expected, arr, required)
    elif expected == "bool":
        if kind == "b":
            return arr
        if kind == "O":
            _check_cells(name, expected, arr, bool, True)  # no gaps: bool has no missing value
            return arr.astype(bool)
    elif expected == "string":
        if kind in "US":
            return arr
        if kind == "O":
            _check_cells(name, expected, arr, str, required)
            return arr
    elif expected == "datetime":
        if kind == "M":
            if required and np.isnat(arr).any():
                raise _null_error(name, _first(np.isnat(arr)))
            return arr
        if kind in "UO":
            if kind == "O" and required:
                _check_cells(name, expected, arr, object, required)
            try:
                return arr.astype("datetime64[ns]")
            except (ValueError, TypeError):
                pass
    else:  # "object": anything goes
        return arr
    raise InvalidInput(f"column {name!r} expects {expected}, got {_describe(arr)} values")


def _check_cells(name: str, expected: str, arr: np.ndarray, cls: type, required: bool) -> None:
    """Every cell of an object column is a ``cls`` (or a gap, where gaps are allowed)."""
    for row, v in enumerate(arr.ravel().tolist()):
        if v is None or (isinstance(v, float) and v != v):
            if required:
                raise _null_error(name, row)
        elif not isinstance(v, cls):
            raise InvalidInput(f"column {name!r} row {row}: expects {expected}, got {type(v).__name__} {_cell(v)}")


class RecordRows:
    """JSON records of one request, checked against a numeric signature (:meth:`InputAdapter.check_records`):
    their values as float64, row after row in the signature's column order. :meth:`InputAdapter.join`
    turns the rows of a whole batch of requests into the model's input at once."""

    __slots__ = ("rows", "values")

    def __init__(self, values: bytes, rows: int) -> None:
        self.values = values
        self.rows = rows

    def __len__(self) -> int:
        return self.rows


class InputAdapter:
    """Checks and converts predict() input for one model; see the module docstring."""

    def __init__(self, signature: Signature, mode: str) -> None:
        if mode not in ("array", "frame"):
            raise InvalidInput(f"unknown input mode {mode!r}")
        self.signature = signature
        self.mode = mode
        self.names = signature.input_names
        self.types = [c.type for c in signature.inputs]
        self.required = [c.required for c in signature.inputs]
        # positions of the required columns, checked for NaN on the fast path (None: all of them)
        req = [i for i, r in enumerate(self.required) if r]
        self._nan_check: list[int] | None = None if len(req) == len(self.required) else req
        # integer columns arriving in a float array (JSON numbers): checked for fractions and range
        self._int_cols = [i for i, t in enumerate(self.types) if t in NUMERIC_TYPES and np.dtype(t).kind in "iu"]
        numeric = all(t in NUMERIC_TYPES or t == "bool" for t in self.types)
        self.array_dtype = np.result_type(*self.types) if numeric else np.dtype(object)
        # the fast path: every column numeric and the array is float, so any number casts safely
        self._fast = numeric and self.array_dtype.kind == "f"
        self._homogeneous = numeric and len(set(self.types)) == 1
        self._exact = [np.dtype(t) if t in NUMERIC_TYPES or t == "bool" else t for t in self.types]
        # check_records applies: float columns only (an integer column checks fractions and range),
        # every one required (a gap is an error, so any NaN is)
        self._records_fast = self._fast and not self._int_cols and self._nan_check is None and bool(self.names)
        self._names = self._order = tuple(self.names)
        one = self.names[0] if len(self.names) == 1 else None
        self._pick = itemgetter(*self.names) if one is None else (lambda rec: (rec[one],))
        self._pack = struct.Struct(f"={len(self.names)}d").pack  # native float64, as NumPy reads it

    def __call__(self, data: Any) -> Any:
        if isinstance(data, np.ndarray):
            return self._from_array(data)
        if isinstance(data, Mapping):
            return self._from_dict(data)
        if isinstance(data, list):
            return self._from_records(data)
        if _is_frame(data):
            return self._from_frame(data)
        raise InvalidInput(
            f"cannot predict on a {type(data).__name__}: pass a pandas DataFrame, a dict of "
            "column -> values, a list of dict records, or a 2-D NumPy array"
        )

    # --- served JSON records, checked per request and converted per batch -------------------

    def check_records(self, records: list[Any]) -> RecordRows | None:
        """One request's JSON records of plain numbers (int, float, bool) as :class:`RecordRows`,
        or None when they are anything else -- a missing column, a string, a null, NaN: then
        ``self(records)`` decides, and names the column and row of a refusal.

        A serving app checks each request alone (a bad one fails alone) but predicts on many at
        once. Building a one-row array per request cost more than the model's share of a batch, so
        the values are only packed as float64 here, and :meth:`join` makes one array of a whole
        batch. A record whose keys are the signature's columns in order (JSON records usually are)
        is read by position, without looking up a key; any other by name (extra keys ignored).
        """
        if not self._records_fast or not records:
            return None
        pack, pick = self._pack, self._pick
        packed = []
        total = 0.0
        try:
            for rec in records:
                if type(rec) is not dict:
                    return None
                keys = tuple(rec)
                if keys == self._order:
                    row: Any = rec.values()
                elif keys == self._names:
                    # orjson hands out the same key objects request after request: compared by
                    # identity from now on (equal either way)
                    self._order = keys
                    row = rec.values()
                else:
                    row = pick(rec)  # KeyError for a missing column
                total += sum(row)  # TypeError: a string or a null; OverflowError: an int beyond float; NaN
                packed.append(pack(*row))  # struct.error for what is no number, or beyond float range
        except (KeyError, TypeError, OverflowError, struct.error):
            return None
        if total != total:  # NaN (or +inf meeting -inf): the full check decides
            return None
        return RecordRows(packed[0] if len(packed) == 1 else b"".join(packed), len(records))

    def join(self, parts: Sequence[RecordRows]) -> Any:
        """The rows of ``parts``, in order, as the model's input: what ``self`` would have made of
        all their records at once (a 2-D array, or a DataFrame in frame mode)."""
        buffer = bytearray().join([p.values for p in parts])  # writable: a model may scale in place
        arr = np.frombuffer(buffer, dtype=np.float64).reshape(-1, len(self.names))
        return self._finish(arr, known_clean=True)

    # --- the four input shapes ---------------------------------------------------------------

    def _missing(self, present: Any) -> InvalidInput:
        missing = [n for n in self.names if n not in present]
        shown = ", ".join(repr(n) for n in missing[:5]) + (", ..." if len(missing) > 5 else "")
        return InvalidInput(f"missing column {missing[0]!r} (missing: {shown}); the model expects columns {self.names}")

    def _from_array(self, arr: np.ndarray) -> Any:
        k = len(self.names)
        if arr.ndim == 1 and k > 1 and arr.shape[0] == k:
            arr = arr.reshape(1, k)
        elif arr.ndim == 1 and k == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2 or arr.shape[1] != k:
            raise InvalidInput(
                f"expected a 2-D array of {k} columns {self.names} (matched by position), got shape {arr.shape}"
            )
        if self._fast and arr.dtype.kind in "biuf" and arr.shape[0]:
            return self._finish(arr)
        return self._assemble([arr[:, i] for i in range(k)])

    def _from_dict(self, data: Mapping[str, Any]) -> Any:
        try:
            cols = [data[n] for n in self.names]
        except KeyError:
            raise self._missing(data) from None
        if self._fast:
            try:
                arr = np.array(cols)
            except ValueError:
                arr = None  # ragged: the slow path says which column is off
            if arr is not None and arr.dtype.kind in "biuf" and arr.ndim in (1, 2) and arr.size:
                return self._finish(arr.reshape(1, -1) if arr.ndim == 1 else arr.T)
        cols = [np.atleast_1d(_as_array(n, c)) for n, c in zip(self.names, cols, strict=True)]
        return self._assemble(cols)

    def _from_records(self, records: list[Any]) -> Any:
        if not records:
            raise InvalidInput("input has no rows")
        names = self.names
        try:
            rows = [[rec[n] for n in names] for rec in records]
        except KeyError:
            bad = next(rec for rec in records if any(n not in rec for n in names))
            raise self._missing(bad) from None
        except TypeError as exc:
            raise InvalidInput("a list input must hold dict records, one per row ({column: value})") from exc
        if self._fast:
            arr = np.array(rows)
            if arr.dtype.kind in "biuf":
                # A few rows of Python numbers (a served request): their sum is NaN exactly when
                # np.add.reduce's would be, at a quarter of its cost (0.3 against 1 us for 20 values).
                known_clean = len(rows) <= 4 and self._nan_check is None and _sum_is_a_number(rows)
                return self._finish(arr, known_clean=known_clean)
        cols = [np.array([row[i] for row in rows], dtype=object) for i in range(len(names))]
        return self._assemble(cols)

    def _from_frame(self, df: Any) -> Any:
        columns = df.columns.tolist()
        index = {c: i for i, c in enumerate(columns)}
        try:
            pos = [index[n] for n in self.names]
        except KeyError:
            raise self._missing(index) from None
        dtypes = df.dtypes.to_numpy()
        picked = [dtypes[i] for i in pos]
        if self.mode == "frame" and all(map(_matches, self._exact, picked)):
            for i, name, dtype, required in zip(pos, self.names, picked, self.required, strict=True):
                if required and getattr(dtype, "kind", "") in "fM" and df.iloc[:, i].isna().any():
                    raise _null_error(name, _first(df.iloc[:, i].isna().to_numpy()))
            return df if pos == list(range(len(columns))) else df.iloc[:, pos]
        if self._fast and all(isinstance(d, np.dtype) and d.kind in "biuf" for d in picked) and len(df):
            if all(isinstance(d, np.dtype) and d.kind in "biuf" for d in dtypes):
                return self._finish(df.to_numpy()[:, pos])
            return self._finish(np.column_stack([df.iloc[:, i].to_numpy() for i in pos]))
        return self._assemble([df.iloc[:, i] for i in pos])

    # --- assembly ----------------------------------------------------------------------------

    def _finish(self, arr: np.ndarray, *, known_clean: bool = False) -> Any:
        """A numeric 2-D array in signature order -> what the model takes (``known_clean``: the
        caller has seen that no value is NaN)."""
        if arr.dtype.kind == "f":
            if not known_clean:
                self._refuse_nan(arr)
            for i in self._int_cols:
                coerce(self.names[i], self.types[i], arr[:, i], True)  # raises on a fraction or out of range
        elif self._int_cols and arr.dtype.kind == "u":
            for i in self._int_cols:
                _check_range(self.names[i], self.types[i], arr[:, i])
        arr = arr.astype(self.array_dtype, copy=False)
        if self.mode == "array":
            return arr
        import pandas as pd

        if self._homogeneous:
            return pd.DataFrame(arr, columns=self.names, copy=False)
        cols = {n: arr[:, i].astype(t) for i, (n, t) in enumerate(zip(self.names, self.types, strict=True))}
        return pd.DataFrame(cols, columns=self.names)

    def _refuse_nan(self, arr: np.ndarray) -> None:
        """NaN in a required column of a float 2-D array is a 400 naming the column and row."""
        part = arr if self._nan_check is None else arr[:, self._nan_check]
        with np.errstate(invalid="ignore"):  # +inf meeting -inf: NaN, checked below, not a warning
            total = np.add.reduce(part, axis=None)  # one pass, no temporary: NaN in, NaN out (inf - inf too)
        if total == total:
            return
        if part.size and np.isnan(part).any():
            cols = list(range(arr.shape[1])) if self._nan_check is None else self._nan_check
            row, col = (int(x) for x in np.argwhere(np.isnan(part))[0])
            raise _null_error(self.names[cols[col]], row)

    def _assemble(self, cols: list[Any]) -> Any:
        checked = [coerce(n, t, c, r) for n, t, c, r in zip(self.names, self.types, cols, self.required, strict=True)]
        for name, col in zip(self.names, checked, strict=True):
            if getattr(col, "ndim", 1) != 1:
                raise InvalidInput(f"column {name!r} must hold one value per row, got shape {col.shape}")
        lengths = {len(c) for c in checked}
        if len(lengths) > 1:
            sizes = {n: len(c) for n, c in zip(self.names, checked, strict=True)}
            raise InvalidInput(f"columns have different lengths: {sizes}")
        if lengths == {0}:
            raise InvalidInput("input has no rows")
        if self.mode == "array" or self._homogeneous:
            return self._finish(np.column_stack(checked))
        import pandas as pd

        return pd.DataFrame(dict(zip(self.names, checked, strict=True)), columns=self.names)


def _matches(expected: Any, dtype: Any) -> bool:
    """Whether a pandas column dtype is already exactly what the signature asks for."""
    if isinstance(expected, np.dtype):
        return dtype == expected
    if expected == "string":
        return str(dtype) in _PANDAS_TEXT
    if expected == "datetime":
        return getattr(dtype, "kind", "") == "M"
    return expected == "object"


def _sum_is_a_number(rows: list[list[Any]]) -> bool:
    """Whether the sum of rows of Python numbers is not NaN: no value is NaN (+inf meeting -inf
    gives NaN too; the NumPy check then decides, as it would have alone)."""
    total = sum(map(sum, rows))
    return bool(total == total)
