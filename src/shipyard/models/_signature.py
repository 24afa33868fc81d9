"""Model signatures: the named, typed input columns a model expects and the shape of what it returns.

Column types are NumPy dtype names for numbers (``float64``, ``float32``, ``int64``, ``int32``, ...,
``uint8``) and ``bool``, plus three logical types: ``string`` (text, including pandas ``str`` /
``category`` columns of text), ``datetime`` (any ``datetime64`` unit) and ``object`` (anything else:
passed through unchecked).

Columns of a 2-D NumPy array have no names; :func:`infer_signature` names them by position
``"f0"``, ``"f1"``, ... (as ``shipyard.drift`` and xgboost do) unless ``feature_names`` is given.
At predict time a 2-D array is always matched to the signature by position, whatever the names.

A column is *required* (no missing values: no JSON ``null``, no NaN) unless its ``ColSpec`` says
``required=False``; :func:`infer_signature` makes a column optional exactly when the example data
has a missing value in it, so a model trained on data with gaps still takes gaps, and a model that
never saw one gets a 400 naming the column and row instead of failing on a NaN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shipyard.errors import InvalidInput

__all__ = ["ColSpec", "Signature", "TensorSpec", "columns_of", "has_missing", "infer_signature", "type_of"]

NUMERIC_TYPES = frozenset(
    [
        "float16",
        "float32",
        "float64",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
    ]
)
LOGICAL_TYPES = frozenset(["bool", "string", "datetime", "object"])
COLUMN_TYPES = NUMERIC_TYPES | LOGICAL_TYPES


@dataclass(frozen=True, slots=True)
class ColSpec:
    """One named input column and its type (see the module docstring for the type names)."""

    name: str
    type: str
    required: bool = True  # False: missing values (null, NaN) are passed to the model

    def __post_init__(self) -> None:
        if self.type not in COLUMN_TYPES:
            raise InvalidInput(
                f"column {self.name!r} has unknown type {self.type!r}; use one of {sorted(COLUMN_TYPES)}"
            )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "type": self.type}
        if not self.required:
            d["required"] = False  # written only when set, so manifests without gaps read as before
        return d


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """The model output: dtype name and shape, ``-1`` for the batch (row) dimension."""

    type: str
    shape: tuple[int, ...] = (-1,)
    names: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type, "shape": list(self.shape)}
        if self.names is not None:
            d["names"] = list(self.names)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TensorSpec:
        names = d.get("names")
        return cls(
            type=str(d["type"]),
            shape=tuple(int(s) for s in d.get("shape", (-1,))),
            names=None if names is None else tuple(str(n) for n in names),
        )


@dataclass(frozen=True, slots=True)
class Signature:
    """Input columns (in the order the model wants them) and, when known, the output spec."""

    inputs: tuple[ColSpec, ...]
    outputs: TensorSpec | None = None

    def __post_init__(self) -> None:
        names = [c.name for c in self.inputs]
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise InvalidInput(f"signature has duplicate input columns {dupes}; column names must be unique")

    @property
    def input_names(self) -> list[str]:
        return [c.name for c in self.inputs]

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": [c.to_dict() for c in self.inputs],
            "outputs": None if self.outputs is None else self.outputs.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Signature:
        try:
            inputs = tuple(ColSpec(str(c["name"]), str(c["type"]), c.get("required", True) is not False)
                           for c in d["inputs"])
            outputs = d.get("outputs")
            return cls(inputs=inputs, outputs=None if outputs is None else TensorSpec.from_dict(outputs))
        except (KeyError, TypeError) as exc:
            raise InvalidInput(f"malformed signature {dict(d)!r}: {exc}") from exc


def _is_frame(data: Any) -> bool:
    return type(data).__module__.startswith("pandas") and hasattr(data, "columns")


def columns_of(data: Any, feature_names: Sequence[str] | None = None) -> dict[str, Any]:
    """Split tabular data into ``{name: column}``; columns stay pandas Series for a DataFrame.

    Accepts a pandas DataFrame, a dict of column -> array/list, a list of dict records or a 2-D
    NumPy array (columns named by position ``"f0"``, ``"f1"``, ..., or ``feature_names``).
    """
    if _is_frame(data):
        return {str(name): data[name] for name in data.columns}
    if isinstance(data, Mapping):
        return {str(k): v for k, v in data.items()}
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        names = list(data[0])
        try:
            return {str(n): [rec[n] for rec in data] for n in names}
        except KeyError as exc:
            raise InvalidInput(f"record is missing column {exc.args[0]!r}; every record needs the same keys") from exc
    arr = np.asarray(data)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise InvalidInput(
            f"expected a DataFrame, a dict of columns, a list of records or a 2-D array, got shape {arr.shape}"
        )
    names = [f"f{i}" for i in range(arr.shape[1])] if feature_names is None else [str(n) for n in feature_names]
    if len(names) != arr.shape[1]:
        raise InvalidInput(f"{len(names)} feature names given for an array of {arr.shape[1]} columns")
    return {name: arr[:, i] for i, name in enumerate(names)}


def _object_type(values: np.ndarray) -> str:
    seen: set[str] = set()
    for v in values.ravel().tolist():
        if v is None or (isinstance(v, float) and v != v):
            continue
        if isinstance(v, str):
            seen.add("string")
        elif isinstance(v, bool):
            seen.add("bool")
        elif isinstance(v, int):
            seen.add("int64")
        elif isinstance(v, float):
            seen.add("float64")
        else:
            return "object"
    if seen == {"int64", "float64"}:
        return "float64"
    return seen.pop() if len(seen) == 1 else "object"


def type_of(values: Any) -> str:
    """The signature type name of one column (a pandas Series, a NumPy array or a list)."""
    dtype = getattr(values, "dtype", None)
    if dtype is not None and type(values).__module__.startswith("pandas"):
        import pandas as pd

        if isinstance(dtype, pd.CategoricalDtype):
            return type_of(np.asarray(dtype.categories))
        if isinstance(dtype, pd.StringDtype):
            return "string"
        if isinstance(dtype, pd.DatetimeTZDtype):
            return "datetime"
        if not isinstance(dtype, np.dtype):  # nullable extension dtypes: Int64, Float64, boolean
            name = str(dtype).lower()
            return "bool" if name == "boolean" else name if name in NUMERIC_TYPES else "object"
        values = values.to_numpy()
    arr = values if isinstance(values, np.ndarray) else np.asarray(values)
    kind = arr.dtype.kind
    if kind == "b":
        return "bool"
    if kind in "iuf":
        return arr.dtype.name if arr.dtype.name in NUMERIC_TYPES else "float64"
    if kind in "US":
        return "string"
    if kind == "M":
        return "datetime"
    if kind == "O":
        return _object_type(arr)
    return "object"


def has_missing(values: Any) -> bool:
    """Whether one column (a pandas Series, a NumPy array or a list) holds a null, NaN or NaT."""
    if type(values).__module__.startswith("pandas"):
        return bool(values.isna().any())
    arr = values if isinstance(values, np.ndarray) else np.asarray(values)
    kind = arr.dtype.kind
    if kind == "f":
        return bool(np.isnan(arr).any())
    if kind == "M":
        return bool(np.isnat(arr).any())
    if kind == "O":
        return any(v is None or (isinstance(v, float) and v != v) for v in arr.ravel().tolist())
    return False


def _output_spec(model_output: Any) -> TensorSpec:
    names = None
    if _is_frame(model_output):
        names = tuple(str(c) for c in model_output.columns)
        model_output = model_output.to_numpy()
    arr = np.asarray(model_output)
    kind = arr.dtype.kind
    dtype = "string" if kind in "US" else "bool" if kind == "b" else arr.dtype.name if kind in "iuf" else "object"
    shape = (-1, *arr.shape[1:]) if arr.ndim else (-1,)
    return TensorSpec(type=dtype, shape=tuple(int(s) for s in shape), names=names)


def infer_signature(
    model_input: Any, model_output: Any = None, *, feature_names: Sequence[str] | None = None
) -> Signature:
    """Infer a :class:`Signature` from example input (and optionally the model's output on it).

    ``model_input``: a pandas DataFrame, a dict of column -> array/list, a list of dict records, or
    a 2-D NumPy array whose columns are named ``"f0"``, ``"f1"``, ... (or by ``feature_names``).
    ``model_output``: anything ``numpy.asarray`` accepts (or a DataFrame, whose column names are kept).
    A column with a missing value (null, NaN, NaT) in ``model_input`` is optional (``required=False``).
    """
    columns = columns_of(model_input, feature_names)
    if not columns:
        raise InvalidInput("cannot infer a signature from an input with no columns")
    inputs = tuple(ColSpec(name, type_of(values), not has_missing(values)) for name, values in columns.items())
    outputs = None if model_output is None else _output_spec(model_output)
    return Signature(inputs=inputs, outputs=outputs)
