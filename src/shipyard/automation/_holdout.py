"""Held-out data travels with the candidate: a retraining run logs it, the gate reads it back.

    shipyard.automation.log_holdout(X_test, y_test)      # inside the run that logs the candidate

It is stored as ``holdout/holdout.parquet`` among the run's artifacts (features as columns, the label
in ``__target__``), so the gate, ``shipyard models validate`` and a later audit all evaluate on
exactly the rows the retraining held out.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from shipyard.tracking.client import TrackingClient

__all__ = ["HOLDOUT_PATH", "TARGET", "load_holdout", "log_holdout", "read_table_file"]

HOLDOUT_PATH = "holdout/holdout.parquet"
TARGET = "__target__"


def _columns(X: Any, names: list[str] | None) -> dict[str, np.ndarray]:
    if hasattr(X, "columns") and hasattr(X, "to_numpy"):
        return {str(c): X[c].to_numpy() for c in X.columns}
    if isinstance(X, dict):
        return {str(k): np.asarray(v) for k, v in X.items()}
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise InvalidInput(f"held-out X must be 2-D, a DataFrame or a dict of columns, got shape {arr.shape}")
    names = names or [f"f{i}" for i in range(arr.shape[1])]
    if len(names) != arr.shape[1]:
        raise InvalidInput(f"{len(names)} column names for {arr.shape[1]} columns")
    return {n: arr[:, i] for i, n in enumerate(names)}


def log_holdout(X: Any, y: Any, *, columns: list[str] | None = None, run_id: str | None = None,
                client: TrackingClient | None = None) -> str:
    """Store (X, y) with the run (the active run by default); returns the artifact path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = _columns(X, columns)
    y = np.asarray(y)
    if any(len(v) != len(y) for v in cols.values()):
        raise InvalidInput("held-out X and y must have the same number of rows")
    if TARGET in cols:
        raise InvalidInput(f"a feature may not be named {TARGET!r}")
    table = pa.table({**{k: pa.array(v) for k, v in cols.items()}, TARGET: pa.array(y)})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    if run_id is None:
        from shipyard.tracking import fluent

        active = fluent.active_run()
        if active is None:
            raise InvalidInput("log_holdout needs an active run or run_id=")
        run_id, client = active.info.run_id, client or active._client
    if client is None:
        from shipyard.tracking.client import TrackingClient

        client = TrackingClient()
    client.log_bytes(run_id, buffer.getvalue(), HOLDOUT_PATH)
    return HOLDOUT_PATH


def read_table_file(data: bytes | str, target: str = TARGET) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(X as columns, y) from Parquet bytes, or from a .parquet / .csv file path with a ``target`` column."""
    import pyarrow.parquet as pq

    if isinstance(data, bytes):
        table = pq.read_table(io.BytesIO(data))
    elif str(data).endswith(".csv") or str(data).endswith(".csv.gz"):
        import pyarrow.csv as pacsv

        table = pacsv.read_csv(data)
    else:
        table = pq.read_table(data)
    if target not in table.column_names:
        raise InvalidInput(f"the data has no target column {target!r} (columns: {', '.join(table.column_names)})")
    y = table[target].to_numpy(zero_copy_only=False)
    X = {name: table[name].to_numpy(zero_copy_only=False) for name in table.column_names if name != target}
    return X, y


def load_holdout(client: TrackingClient, run_id: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The held-out (X, y) a run logged. Raises NotFound when it logged none."""
    repo = client.artifact_repository(run_id)
    if not repo.exists(HOLDOUT_PATH):
        raise NotFound(f"run {run_id} logged no held-out data (shipyard.automation.log_holdout)")
    return read_table_file(repo.read_bytes(HOLDOUT_PATH))
