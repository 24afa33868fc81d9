"""Metric series for the charts: read (a range of) a history, downsample it, shape it as JSON.

The SQL store reads points as plain tuples and only the requested range (``metric_points``); any
other store goes through ``get_metric_history``. x is the step, or the wall time in seconds (what
uPlot's time axis expects).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.errors import InvalidInput
from shipyard.server.ui._downsample import m4_indices

if TYPE_CHECKING:
    from shipyard.store.base import Store

__all__ = ["MAX_SERIES", "parse_range", "series"]

MAX_SERIES = 40  # runs x keys in one chart
DEFAULT_BUCKETS = 1000
_AXES = ("step", "time")


def parse_range(axis: str, lo: str | None, hi: str | None) -> tuple[float, float] | None:
    """The zoomed x range of a request (both ends or neither); InvalidInput for anything else."""
    if axis not in _AXES:
        raise InvalidInput(f"x must be one of {', '.join(_AXES)}, got {axis!r}")
    if not lo and not hi:
        return None
    try:
        bounds = (float(lo or ""), float(hi or ""))
    except ValueError:
        raise InvalidInput("min and max must be numbers") from None
    if not all(math.isfinite(b) for b in bounds) or bounds[0] > bounds[1]:
        raise InvalidInput("min and max must be finite numbers with min <= max")
    return bounds


def _points(store: Store, run_id: str, key: str, axis: str,
            bounds: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of one history within the bounds, sorted by x."""
    step_range = time_range = None
    if bounds is not None:
        scale = 1 if axis == "step" else 1000
        window = (math.floor(bounds[0] * scale), math.ceil(bounds[1] * scale))
        step_range, time_range = (window, None) if axis == "step" else (None, window)
    reader = getattr(store, "metric_points", None)
    if reader is not None:
        rows: Any = reader(run_id, key, step_range=step_range, time_range=time_range)
    else:
        rows = [(m.step, m.timestamp, m.value) for m in store.get_metric_history(run_id, key)
                if (step_range is None or step_range[0] <= m.step <= step_range[1])
                and (time_range is None or time_range[0] <= m.timestamp <= time_range[1])]
    table = np.array(rows, dtype=np.float64).reshape(-1, 3)  # None (a NaN stored as NULL) becomes NaN
    if axis == "step":
        return table[:, 0], table[:, 2]
    order = np.argsort(table[:, 1], kind="stable")
    return table[order, 1] / 1000.0, table[order, 2]


def series(store: Store, runs: list[tuple[str, str]], keys: list[str], axis: str = "step",
           bounds: tuple[float, float] | None = None, buckets: int = DEFAULT_BUCKETS) -> dict[str, Any]:
    """The chart data of ``keys`` for each (run id, run name): one entry per (run, key) that has points.

    Each entry says how many points the range holds (``total``) and how many are sent (``shown``,
    at most about ``4 * buckets``).
    """
    if len(runs) * len(keys) > MAX_SERIES:
        raise InvalidInput(f"at most {MAX_SERIES} series in one chart (runs x metrics); choose fewer")
    buckets = min(max(int(buckets), 50), 4000)
    out = []
    for run_id, run_name in runs:
        for key in keys:
            x, y = _points(store, run_id, key, axis, bounds)
            if not x.size:
                continue
            keep = m4_indices(x, y, buckets)
            xs = x[keep]
            out.append({"run_id": run_id, "run_name": run_name, "key": key,
                        "label": key if len(runs) == 1 else f"{run_name}: {key}",
                        "total": int(x.size), "shown": int(keep.size),
                        "x": xs.astype(np.int64).tolist() if axis == "step" else xs.tolist(),
                        "y": y[keep].tolist()})  # NaN and inf are written as null: a gap
    return {"axis": axis, "range": list(bounds) if bounds is not None else None, "series": out}
