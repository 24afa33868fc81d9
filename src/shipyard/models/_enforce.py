"""Turn predict() input into what the model wants, checked against its signature.

An :class:`InputAdapter` is built once per loaded model. It knows the signature's column names and
types and the *mode* the model needs:

- ``"array"``: a 2-D NumPy array in signature order (models fitted on arrays; all columns numeric).
  One-row requests never build a pandas DataFrame: records and dicts go straight to ``np.array``.
- ``"frame"``: a pandas DataFrame with the signature's columns, in order (models fitted on
  DataFrames, i.e. with ``feature_names_in_``, and signatures with text or datetime columns).

Accepted input: a pandas DataFrame, a dict of column -> list/array (or scalars, for one row), a list
of dict records, or a 2-D NumPy array (matched by position). Extra columns are ignored. Casting is
safe-only: bool/int -> float, integral floats -> int, any float width -> any float width; text is
never turned into numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shipyard.errors import InvalidInput
from shipyard.models._signature import NUMERIC_TYPES, Signature, _is_frame

__all__ = ["InputAdapter", "coerce"]

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


def _coerce_object_numeric(name: str, expected: str, arr: np.ndarray) -> np.ndarray:
    """Object arrays of Python numbers and None (JSON nulls) -> a numeric array, else an error."""
    out = []
    for v in arr.ravel().tolist():
        if v is None:
            out.append(float("nan"))
        elif isinstance(v, int | float) and not isinstance(v, str):
            out.append(v)
        else:
            raise InvalidInput(f"column {name!r} expects {expected}, got {_describe(arr)} values")
    return coerce(name, expected, np.asarray(out, dtype=np.float64).reshape(arr.shape))


def coerce(name: str, expected: str, values: Any) -> np.ndarray:
    """Check one column against its signature type and cast it safely; errors name the column."""
    if expected == "string" and str(getattr(values, "dtype", "")) in _PANDAS_TEXT:
        return values.array  # keep pandas text/category columns as they are (positionally)
    arr = _as_array(name, values)
    kind = arr.dtype.kind
    if expected in NUMERIC_TYPES:
        target = np.dtype(expected)
        if kind in "biuf":
            integral = kind != "f" or (np.all(np.isfinite(arr)) and np.all(arr == np.floor(arr)))
            if target.kind in "iu" and not integral:
                raise InvalidInput(
                    f"column {name!r} expects {expected}, got {arr.dtype.name} values with fractions or missing values"
                )
            return arr.astype(target, copy=False)
        if kind == "O":
            return _coerce_object_numeric(name, expected, arr)
    elif expected == "bool":
        if kind == "b":
            return arr
        if kind == "O" and all(isinstance(v, bool) for v in arr.ravel().tolist()):
            return arr.astype(bool)
    elif expected == "string":
        if kind in "US":
            return arr
        if kind == "O" and all(v is None or isinstance(v, str) or v != v for v in arr.ravel().tolist()):
            return arr
    elif expected == "datetime":
        if kind == "M":
            return arr
        if kind in "UO":
            try:
                return arr.astype("datetime64[ns]")
            except (ValueError, TypeError):
                pass
    else:  # "object": anything goes
        return arr
    raise InvalidInput(f"column {name!r} expects {expected}, got {_describe(arr)} values")


class InputAdapter:
    """Checks and converts predict() input for one model; see the module docstring."""

    def __init__(self, signature: Signature, mode: str) -> None:
        if mode not in ("array", "frame"):
            raise InvalidInput(f"unknown input mode {mode!r}")
        self.signature = signature
        self.mode = mode
        self.names = signature.input_names
        self.types = [c.type for c in signature.inputs]
        numeric = all(t in NUMERIC_TYPES or t == "bool" for t in self.types)
        self.array_dtype = np.result_type(*self.types) if numeric else np.dtype(object)
        # the fast path: every column numeric and the array is float, so any number casts safely
        self._fast = numeric and self.array_dtype.kind == "f"
        self._homogeneous = numeric and len(set(self.types)) == 1
        self._exact = [np.dtype(t) if t in NUMERIC_TYPES or t == "bool" else t for t in self.types]

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
                return self._finish(arr)
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
            return df if pos == list(range(len(columns))) else df.iloc[:, pos]
        if self._fast and all(isinstance(d, np.dtype) and d.kind in "biuf" for d in picked) and len(df):
            if all(isinstance(d, np.dtype) and d.kind in "biuf" for d in dtypes):
                return self._finish(df.to_numpy()[:, pos])
            return self._finish(np.column_stack([df.iloc[:, i].to_numpy() for i in pos]))
        return self._assemble([df.iloc[:, i] for i in pos])

    # --- assembly ----------------------------------------------------------------------------

    def _finish(self, arr: np.ndarray) -> Any:
        """A numeric 2-D array in signature order -> what the model takes."""
        arr = arr.astype(self.array_dtype, copy=False)
        if self.mode == "array":
            return arr
        import pandas as pd

        if self._homogeneous:
            return pd.DataFrame(arr, columns=self.names, copy=False)
        cols = {n: arr[:, i].astype(t) for i, (n, t) in enumerate(zip(self.names, self.types, strict=True))}
        return pd.DataFrame(cols, columns=self.names)

    def _assemble(self, cols: list[Any]) -> Any:
        checked = [coerce(n, t, c) for n, t, c in zip(self.names, self.types, cols, strict=True)]
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
