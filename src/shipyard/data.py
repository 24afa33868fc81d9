"""MLflow's ``mlflow.data``: dataset objects for ``log_input``.

    dataset = shipyard.data.from_pandas(df, source="s3://bucket/train.csv", targets="label", name="train")
    shipyard.log_input(dataset, context="training")

The run records the dataset's content digest, schema, row count and a drift profile (see
``shipyard.log_input``); the same data logged twice is one dataset.
"""

from __future__ import annotations

from typing import Any

from shipyard.tracking.datasets import Dataset

__all__ = ["Dataset", "from_numpy", "from_pandas"]


def _source(source: Any) -> str:
    return "" if source is None else str(getattr(source, "uri", None) or getattr(source, "url", None) or source)


def from_pandas(df: Any, source: Any = None, targets: str | None = None, name: str | None = None,
                digest: str | None = None, predictions: str | None = None) -> Dataset:
    """A dataset of a DataFrame; ``targets`` names its label column (kept in the data).
    ``digest`` is computed from the content (a given one is not trusted); ``predictions`` is
    accepted for MLflow's signature."""
    return Dataset(df, name or "dataset", targets, _source(source))


def from_numpy(features: Any, source: Any = None, targets: Any = None, name: str | None = None,
               digest: str | None = None) -> Dataset:
    """A dataset of a NumPy array (columns f0, f1, ...) with an optional target array."""
    return Dataset(features, name or "dataset", targets, _source(source))
