"""A mergeable histogram on a power-of-two grid: the numeric column's sketch for approximate KS/Wasserstein.

Bin ``i`` at level ``k`` is ``[i * 2**k, (i + 1) * 2**k)``. The grid is anchored at 0 and does not depend
on the data, so two sketches always merge exactly (the finer one is coarsened by halving). A sketch keeps
at most ``MAX_BINS`` non-empty bins: its level is the finest ``k >= base_level(min, max)`` that fits. As
the level rule is monotone in the data, the merge of two sketches equals the sketch of the concatenated
data. Each value sits at most half a bin (range / 1024 or finer) from the midpoint it is replaced by.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAX_BINS = 1024
_RESOLUTION = 20  # base level: at most 2**20 bins across the range
_PRECISION = 40  # and never finer than 2**-40 of the largest magnitude


def base_level(lo: float, hi: float) -> int:
    """Finest level allowed for data spanning [lo, hi]."""
    mag = max(abs(lo), abs(hi))
    floor_level = math.frexp(mag)[1] - _PRECISION if mag > 0 else -1000
    span = hi - lo
    span_level = math.frexp(span)[1] - _RESOLUTION if span > 0 else floor_level
    return max(floor_level, span_level)


def _run_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Where each run of equal keys starts in a sorted integer array."""
    if sorted_keys.size == 0:
        return np.empty(0, dtype=np.intp)
    change = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
    return np.concatenate([np.zeros(1, dtype=change.dtype), change])


def _distinct_sorted(sorted_keys: np.ndarray) -> int:
    return int(np.count_nonzero(sorted_keys[1:] != sorted_keys[:-1])) + 1 if sorted_keys.size else 0


@dataclass
class Sketch:
    """Sparse histogram: ``index`` (sorted bin numbers) and ``counts`` at ``level``."""

    level: int
    index: np.ndarray
    counts: np.ndarray

    @classmethod
    def empty(cls) -> Sketch:
        return cls(0, np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))

    @classmethod
    def from_sorted(cls, values: np.ndarray) -> Sketch:
        """Sketch of sorted finite values."""
        if values.size == 0:
            return cls.empty()
        level = base_level(float(values[0]), float(values[-1]))
        idx = np.floor(np.ldexp(values, -level)).astype(np.int64)  # sorted, as the values are
        start = _run_starts(idx)
        counts = np.diff(start, append=idx.size)
        return cls(level, idx[start], counts.astype(np.int64)).fit(level)

    def coarsen(self, level: int) -> Sketch:
        """The same sketch at a coarser (or equal) level."""
        if level <= self.level:
            return self
        idx = self.index >> (level - self.level)  # arithmetic shift = floor division by 2**steps
        start = _run_starts(idx)  # the index is sorted, and so is idx: runs of equal keys, no np.unique
        return Sketch(level, idx[start], np.add.reduceat(self.counts, start) if start.size else self.counts)

    def fit(self, min_level: int) -> Sketch:
        """Coarsen to the first level >= min_level that keeps at most MAX_BINS bins."""
        out = self.coarsen(max(min_level, self.level))
        if out.index.size <= MAX_BINS:
            return out

        def fits(steps: int) -> bool:
            return _distinct_sorted(out.index >> steps) <= MAX_BINS

        lo, hi = 0, 1  # the fewest steps that fit: bins only merge as steps grow, so search (no coarsening)
        while not fits(hi):
            lo, hi = hi, hi * 2
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if fits(mid) else (mid, hi)
        return out.coarsen(out.level + hi)

    def merge(self, other: Sketch, lo: float, hi: float) -> Sketch:
        """Exact merge; ``lo``/``hi`` are the merged data's min and max."""
        if self.index.size == 0:
            return other.fit(base_level(lo, hi))
        if other.index.size == 0:
            return self.fit(base_level(lo, hi))
        level = max(self.level, other.level, base_level(lo, hi))
        a, b = self.coarsen(level), other.coarsen(level)
        keys, inverse = np.unique(np.concatenate([a.index, b.index]), return_inverse=True)
        counts = np.bincount(inverse, weights=np.concatenate([a.counts, b.counts])).astype(np.int64)
        return Sketch(level, keys, counts).fit(level)

    def midpoints(self, lo: float, hi: float) -> np.ndarray:
        """Bin midpoints, clipped to the data's [min, max] (cached: profiles are compared many times)."""
        cached = self.__dict__.get("_midpoints")
        if cached is not None and cached[0] == (lo, hi):
            return cached[1]
        mid = np.minimum(np.maximum(np.ldexp(self.index + 0.5, self.level), lo), hi)
        self.__dict__["_midpoints"] = ((lo, hi), mid)
        return mid

    def counts_below(self) -> np.ndarray:
        """Counts in the bins before each bin: [0, c0, c0 + c1, ..., total] (cached like ``midpoints``)."""
        cached = self.__dict__.get("_counts_below")
        if cached is None:
            cached = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(self.counts)])
            self.__dict__["_counts_below"] = cached
        return cached

    def lower_edges(self) -> np.ndarray:
        return np.ldexp(self.index.astype(np.float64), self.level)

    def quantile_edges(self, n_bins: int) -> np.ndarray:
        """Interior edges near the quantiles, snapped to this grid's bin boundaries (so counts are exact)."""
        if self.index.size == 0:
            return np.empty(0)
        cum = np.cumsum(self.counts)
        targets = cum[-1] * np.linspace(0, 1, n_bins + 1)[1:-1]
        pos = np.searchsorted(cum, targets, side="left")
        edges = np.unique(np.ldexp((self.index[pos] + 1).astype(np.float64), self.level))
        return edges[edges <= self.lower_edges()[-1]]

    def bin_counts(self, edges: np.ndarray) -> np.ndarray:
        """Counts in the bins (-inf, e0), [e0, e1), ... (exact when edges are on this grid)."""
        which = np.searchsorted(edges, self.lower_edges(), side="right")
        return np.bincount(which, weights=self.counts, minlength=edges.size + 1)

    def to_dict(self) -> dict[str, object]:
        return {"level": int(self.level), "index": self.index.tolist(), "counts": self.counts.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> Sketch:
        return cls(
            int(d["level"]),  # type: ignore[call-overload]
            np.asarray(d["index"], dtype=np.int64),
            np.asarray(d["counts"], dtype=np.int64),
        )
