"""What ``log_input`` records about a dataset: a content digest, the schema, the row count, a profile.

The digest identifies the data by content (SHA-256 over column names, dtypes and values), so the same
training set logged by two runs is stored once and lineage can say "trained on the same data". The
profile is the drift package's mergeable column summary, the reference later windows compare with.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from shipyard.entities import DatasetInput
from shipyard.errors import InvalidInput

__all__ = ["Dataset", "as_columns", "dataset_input"]


def as_columns(data: Any, default_name: str = "value") -> dict[str, np.ndarray]:
    """Column name -> 1-D array for a DataFrame, Arrow table, dict of arrays, Series or array."""
    if isinstance(data, dict):
        return {str(k): np.asarray(v) for k, v in data.items()}
    if hasattr(data, "column_names") and hasattr(data, "column"):  # pyarrow.Table
        return {name: data.column(name).to_numpy(zero_copy_only=False) for name in data.column_names}
    if hasattr(data, "columns") and hasattr(data, "iloc"):  # pandas.DataFrame
        return {str(c): data[c].to_numpy() for c in data.columns}
    if hasattr(data, "to_numpy") and hasattr(data, "name"):  # pandas.Series
        return {str(data.name) if data.name is not None else default_name: data.to_numpy()}
    array = np.asarray(data)
    if array.ndim == 1:
        return {default_name: array}
    if array.ndim == 2:
        return {f"f{i}": array[:, i] for i in range(array.shape[1])}
    raise InvalidInput(f"expected a table (DataFrame, dict of arrays, 2-D array), got {array.ndim}-D data")


def _digest(columns: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name, values in columns.items():
        h.update(name.encode())
        h.update(str(values.dtype).encode())
        if values.dtype.kind == "O" or values.dtype.kind in "US":
            h.update("\x1f".join(map(str, values.tolist())).encode())
        else:
            h.update(np.ascontiguousarray(values).tobytes())
    return h.hexdigest()[:32]


def _profile(data: Any) -> dict[str, Any] | None:
    try:
        from shipyard import drift
    except ImportError:  # the drift package is optional for tracking
        return None
    return drift.profile(data).to_dict()


def dataset_input(
    data: Any,
    name: str,
    *,
    targets: Any = None,
    context: str = "",
    source: str = "",
    profile: bool = True,
) -> DatasetInput:
    columns = as_columns(data)
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise InvalidInput(f"dataset {name!r}: columns have different lengths {sorted(lengths)}")
    num_rows = lengths.pop() if lengths else 0
    target_name = None
    if targets is not None:
        target_cols = as_columns(targets, default_name="target")
        target_name = ",".join(target_cols)
        if any(len(v) != num_rows for v in target_cols.values()):
            raise InvalidInput(f"dataset {name!r}: targets have a different length than the {num_rows} rows")
        columns = {**columns, **{k: v for k, v in target_cols.items() if k not in columns}}
    schema = [{"name": k, "dtype": str(v.dtype)} for k, v in columns.items()]
    return DatasetInput(
        name=name,
        digest=_digest(columns),
        context=context,
        source=source,
        num_rows=num_rows,
        schema=schema,
        profile=_profile(columns) if profile else None,
        targets=target_name,
    )


@dataclass(frozen=True)
class Dataset:
    """A dataset object as MLflow's ``mlflow.data`` builds them (``shipyard.data.from_pandas``):
    the data, its targets, where it came from and a name; ``log_input(dataset, context=...)``
    records it. ``digest``, ``schema`` and ``num_rows`` are computed from the content."""

    data: Any
    name: str = "dataset"
    targets: Any = None
    source: str = ""

    def to_input(self, context: str = "", profile: bool = True) -> DatasetInput:
        targets = self.targets
        if isinstance(targets, str):  # MLflow's from_pandas(df, targets="label") names a column
            columns = getattr(self.data, "columns", None)
            if columns is None or targets not in columns:
                raise InvalidInput(f"dataset {self.name!r}: no column {targets!r} to use as targets")
            targets = self.data[targets]
        return dataset_input(self.data, self.name, targets=targets, context=context, source=self.source,
                             profile=profile)

    @property
    def digest(self) -> str:
        return self.to_input(profile=False).digest

    @property
    def schema(self) -> list[dict[str, Any]]:
        return self.to_input(profile=False).schema

    @property
    def num_rows(self) -> int:
        return self.to_input(profile=False).num_rows

    @property
    def df(self) -> Any:  # MLflow's PandasDataset.df
        return self.data

    @property
    def features(self) -> Any:  # MLflow's NumpyDataset.features
        return self.data
