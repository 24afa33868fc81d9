"""Downsampling of long metric histories for charts: M4 (first, last, min and max of each bucket).

A chart ``W`` pixels wide cannot show more than ``W`` columns, and a line through the first, last,
smallest and largest point of each column's bucket draws the same pixels as a line through all of
them (Jugel et al., "M4: A Visualization-Oriented Time Series Data Aggregation", VLDB 2014). So a
history of 100,000 points becomes at most ``4 * W`` points with no spike lost, in O(n) NumPy work.

Buckets split the *x range* evenly (not the point count), as pixels do: a burst of points logged
close together falls into few buckets. NaN and ±inf values are skipped when looking for the min and
max, and kept where they are a bucket's first or last point (the chart draws them as gaps).
"""

from __future__ import annotations

import numpy as np

__all__ = ["m4_indices"]


def m4_indices(x: np.ndarray, y: np.ndarray, buckets: int) -> np.ndarray:
    """Sorted indices of the points to keep: all of them when there are at most ``4 * buckets``.

    ``x`` must be sorted ascending (ties allowed); ``y`` is float, the same length.
    """
    n = int(x.size)
    buckets = max(int(buckets), 1)
    if n <= 4 * buckets:
        return np.arange(n)
    x0, x1 = float(x[0]), float(x[-1])
    if x1 > x0:
        edges = x0 + (x1 - x0) * (np.arange(1, buckets) / buckets)
        bounds = np.concatenate(([0], np.searchsorted(x, edges, side="left"), [n]))
    else:  # every point at one x: split by count instead
        bounds = np.linspace(0, n, buckets + 1).astype(np.intp)
    starts, ends = bounds[:-1], bounds[1:]
    nonempty = ends > starts
    starts, ends = starts[nonempty], ends[nonempty]  # contiguous: each start is the previous end
    finite = np.isfinite(y)
    segment = np.repeat(np.arange(starts.size), ends - starts)
    low = _first_where(segment, np.where(finite, y, np.inf), np.minimum, starts)
    high = _first_where(segment, np.where(finite, y, -np.inf), np.maximum, starts)
    return np.unique(np.concatenate((starts, ends - 1, low, high)))


def _first_where(segment: np.ndarray, values: np.ndarray, reduce: np.ufunc, starts: np.ndarray) -> np.ndarray:
    """Per segment, the index of the first element equal to the segment's reduced value."""
    best = reduce.reduceat(values, starts)
    index = np.arange(values.size)
    return np.minimum.reduceat(np.where(values == best[segment], index, values.size), starts)
