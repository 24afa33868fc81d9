"""Serving with features: requests carry entity keys, the model gets the features looked up for them.

A deployment revision with a :class:`~shipyard.entities.FeatureBinding` gets one
:class:`FeatureLookup`. Each request's rows (records, named columns, a CSV frame or named V2
tensors) are reduced to the columns the lookup needs (entity keys, request values of on-demand
features) and go through a :class:`~shipyard.serving.batcher.Batcher` of their own, so the
concurrent requests of a moment share one online-store read per feature view (a batch, never a
row at a time), in a worker thread. The answer is sliced back per request, so a missing entity
fails only the request that asked for it: a 404 naming its key values under
``on_missing="error"``. The model's input is the request's own columns plus the features (the
features win a name clash: a model is served what it was trained on); the entity keys and the
request values of on-demand features go with it to the prediction log, next to the model's input
columns (the ``feature_skew`` monitor check recomputes the features from them).
"""

from __future__ import annotations

from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from shipyard.entities import FeatureBinding

__all__ = ["FeatureLookup", "MissingEntities"]

_SHOWN = 10  # missing entities named in one error message


class MissingEntities(NotFound):
    """The online store has no features for some entity keys of the request (``on_missing="error"``)."""

    error_code = "ENTITY_NOT_FOUND"

    def __init__(self, message: str, missing: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.missing = missing

    def to_dict(self) -> dict[str, Any]:  # type: ignore[override]
        return {**super().to_dict(), "missing": self.missing}


class FeatureLookup:
    """One revision's binding, resolved and batched; :meth:`assemble` turns a request into model input."""

    def __init__(self, binding: FeatureBinding, store: Any, executor: Executor, *, max_batch_size: int,
                 max_wait_ms: float) -> None:
        from shipyard.features._serving import OnlineFeatureReader
        from shipyard.serving.batcher import Batcher

        self.binding = binding
        self.reader = OnlineFeatureReader(binding, store=store)
        self.keys: tuple[str, ...] = tuple(binding.entity_keys)
        self.batcher = Batcher(self.reader.read, executor, max_batch_size=max_batch_size, max_wait_ms=max_wait_ms)

    def _columns(self, data: Any) -> dict[str, Any]:
        """The request as {column: list of values}; InvalidInput for shapes that name no columns."""
        if isinstance(data, list):
            first = data[0] if data else {}
            names = list(dict.fromkeys([*self.reader.columns, *first]))
            return {c: [row.get(c) for row in data] for c in names if any(c in row for row in data)}
        if hasattr(data, "columns") and hasattr(data, "iloc"):  # a pandas DataFrame (CSV)
            return {str(c): data[c].tolist() for c in data.columns}
        if isinstance(data, dict):
            return {str(c): (list(v) if isinstance(v, list | tuple | np.ndarray) else [v]) for c, v in data.items()}
        raise InvalidInput(f"deployment features are looked up by {', '.join(self.keys)}: send records or named "
                           "columns with them, not a bare array")

    async def assemble(self, data: Any) -> tuple[dict[str, Any], dict[str, np.ndarray], int]:
        """(the model's input columns, the lookup's columns for the log, rows) for one request; the
        lookup's columns are the entity keys and the on-demand views' request values."""
        columns = self._columns(data)
        lacking = [c for c in self.reader.columns if c not in columns]
        if lacking:
            raise InvalidInput(f"each request row needs {', '.join(self.reader.columns)}: this deployment looks "
                               f"its features up by them; missing: {', '.join(lacking)}")
        n = len(columns[self.reader.columns[0]])
        uneven = [c for c, v in columns.items() if len(v) != n]
        if uneven or n == 0:
            raise InvalidInput(f"columns {', '.join(uneven)} do not have {n} values like "
                               f"{self.reader.columns[0]!r}" if uneven else "the request has no rows")
        rows = np.empty((n, len(self.reader.columns)), dtype=object)
        for j, c in enumerate(self.reader.columns):
            values = columns[c]
            if c in self.keys and any(v is None or (isinstance(v, float) and v != v) for v in values):
                raise InvalidInput(f"entity key {c!r} is missing (null) in some rows")
            rows[:, j] = values
        values, found = await self.batcher.submit(rows, n)
        missing = np.zeros(n, dtype=bool) if found is None else found  # read() always gives the mask
        if missing.any() and self.binding.on_missing == "error":
            lost = self.reader.missing_keys(rows, missing)
            named = ", ".join(" ".join(f"{k}={v!r}" for k, v in one.items()) for one in lost[:_SHOWN])
            more = f" and {len(lost) - _SHOWN} more" if len(lost) > _SHOWN else ""
            raise MissingEntities(f"the online store has no features for {named}{more}: materialize them, or "
                                  "deploy with on_missing='default' to serve default values", lost[:100])
        from shipyard.features._serving import feature_columns

        features = feature_columns(values, self.reader.features)
        # the request values too: a model's input may leave them out, and recomputing an on-demand
        # feature offline (the skew check) needs them
        keys = {k: _log_column(columns[k]) for k in self.reader.columns}
        return {**columns, **features}, keys, n

    def close(self) -> None:
        self.reader.close()


def _log_column(values: list[Any]) -> np.ndarray:
    """A key or request value column for the prediction log: numbers as numbers, anything else as objects."""
    arr = np.asarray(values)
    return arr if arr.dtype.kind in "biuf" else np.asarray(values, dtype=object)
