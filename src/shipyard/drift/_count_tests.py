"""Tests on counts: PSI, Jensen-Shannon, chi-square, two-proportion z-test.

Categorical and binary columns are compared on category counts; numeric columns (PSI, Jensen-Shannon)
on ``n_bins`` bins at the reference's quantiles, or, for Jensen-Shannon on a numeric column with at most
``FEW_VALUES`` distinct reference values, on the values themselves.
"""

from __future__ import annotations

import math

import numpy as np

from ._base import DriftTest, TestResult
from ._columns import BINARY, CATEGORICAL, NUMERIC, CategoricalData, ColumnData, NumericData
from ._profile import N_BINS, ColumnProfile
from ._stats import (
    bin_counts,
    chi2_homogeneity,
    counts_table,
    distinct_sorted,
    few_distinct,
    jensen_shannon,
    psi,
    quantile_edges,
    two_proportion_z,
)

FEW_VALUES = 5
OTHER = "__other__"


def _unseen_reason(ref: dict[str, int], cur: dict[str, int]) -> str | None:
    unseen = [k for k, v in cur.items() if v and k not in ref]
    if not unseen:
        return None
    rows = sum(cur[k] for k in unseen)
    return f"{len(unseen)} categories unseen in the reference ({rows} rows)"


def profile_counts(p: ColumnProfile) -> dict[str, int]:
    out = dict(p.categories)
    if p.other:
        out[OTHER] = p.other
    return out


class _CountTest(DriftTest):
    """Reduces both sides to aligned count vectors, then scores them with ``_score``."""

    def __init__(self, *, threshold: float | None = None, n_bins: int = N_BINS) -> None:
        self.threshold = threshold
        self.n_bins = n_bins

    def _prepare(self) -> None:
        if isinstance(self.reference_, NumericData):
            values = self.reference_.values
            self.distinct_ = few_distinct(values, FEW_VALUES) if self._few_values() else None
            if self.distinct_ is None:
                self.edges_ = quantile_edges(values, self.n_bins)

    def _score(self, r: np.ndarray, c: np.ndarray, reason: str | None) -> TestResult:
        raise NotImplementedError

    def _test_raw(self, ref: ColumnData, cur: ColumnData) -> TestResult:
        if isinstance(ref, CategoricalData) and isinstance(cur, CategoricalData):
            _, r, c = counts_table(ref.counts, cur.counts)
            return self._score(r, c, _unseen_reason(ref.counts, cur.counts))
        assert isinstance(ref, NumericData) and isinstance(cur, NumericData)
        if self.distinct_ is not None:
            cur_keys = few_distinct(cur.values, FEW_VALUES)
            keys = np.union1d(self.distinct_, distinct_sorted(cur.values) if cur_keys is None else cur_keys)
            r = np.diff([*np.searchsorted(ref.values, keys, side="left").tolist(), ref.count]).astype(float)
            c = np.diff([*np.searchsorted(cur.values, keys, side="left").tolist(), cur.count]).astype(float)
            return self._score(r, c, None)
        return self._score(bin_counts(ref.values, self.edges_), bin_counts(cur.values, self.edges_), None)

    def _few_values(self) -> bool:
        return False

    def _test_profiles(self, ref: ColumnProfile, cur: ColumnProfile) -> TestResult:
        if ref.kind != NUMERIC:
            rc, cc = profile_counts(ref), profile_counts(cur)
            _, r, c = counts_table(rc, cc)
            reason = None
            if cur.categories_from_reference and cur.other:
                reason = f"{cur.other} rows in categories outside the reference's"
            return self._score(r, c, reason or _unseen_reason(rc, cc))
        if self._few_values() and ref.distinct is not None and len(ref.distinct) <= FEW_VALUES \
                and cur.distinct is not None:
            rd = {str(k): v for k, v in ref.distinct.items()}
            cd = {str(k): v for k, v in cur.distinct.items()}
            _, r, c = counts_table(rd, cd)
            return self._score(r, c, None)
        r = np.asarray(ref.bin_counts, dtype=np.float64)
        if cur.bin_edges == ref.bin_edges:
            c = np.asarray(cur.bin_counts, dtype=np.float64)
            reason = None
        else:
            assert cur.sketch is not None
            c = cur.sketch.bin_counts(np.asarray(ref.bin_edges, dtype=np.float64))
            reason = "current profile has other bin edges: re-binned from its sketch (approximate)"
        return self._score(r, c, reason)


class PSITest(_CountTest):
    """Population Stability Index on ``n_bins`` reference-quantile bins (or categories); drift when >= 0.1.

    PSI = sum((c_i - r_i) * ln(c_i / r_i)) over bin shares, shares of 0 replaced by 1e-4.
    """

    name = "psi"
    kinds = (NUMERIC, CATEGORICAL, BINARY)
    uses_p_value = False
    default_threshold = 0.1

    def _score(self, r: np.ndarray, c: np.ndarray, reason: str | None) -> TestResult:
        return self._result(psi(r, c), None, reason)


class JensenShannonTest(_CountTest):
    """Jensen-Shannon DISTANCE (sqrt of the divergence), natural log by default; drift when >= 0.1.

    ``base=math.e`` matches Evidently (its distance lies in [0, sqrt(ln 2)] = [0, 0.833]); ``base=2``
    matches NannyML and scipy's ``jensenshannon(p, q, base=2)`` (in [0, 1]).
    """

    name = "jensenshannon"
    kinds = (NUMERIC, CATEGORICAL, BINARY)
    uses_p_value = False
    default_threshold = 0.1

    def __init__(self, *, threshold: float | None = None, n_bins: int = N_BINS, base: float = math.e) -> None:
        super().__init__(threshold=threshold, n_bins=n_bins)
        self.base = base

    def _few_values(self) -> bool:
        return True

    def _score(self, r: np.ndarray, c: np.ndarray, reason: str | None) -> TestResult:
        return self._result(jensen_shannon(r, c, self.base), None, reason)


class ChiSquareTest(_CountTest):
    """Chi-square test of homogeneity on the 2 x k table of reference and current counts; p <= 0.05.

    Equals ``scipy.stats.chi2_contingency(table, correction=False)``; categories empty on both sides are
    dropped. (Not a goodness-of-fit test against the reference's shares, which over-flags.)
    """

    name = "chisquare"
    kinds = (CATEGORICAL, BINARY)

    def _score(self, r: np.ndarray, c: np.ndarray, reason: str | None) -> TestResult:
        stat, p, dof = chi2_homogeneity(r, c)
        if dof == 0:
            reason = "; ".join(x for x in (reason, "only one category on both sides") if x)
        return self._result(stat, p, reason)


class ZTest(DriftTest):
    """Pooled two-proportion z-test on the share of ``"1"`` (True) in a binary column; p <= 0.05."""

    name = "ztest"
    kinds = (BINARY,)

    def _test_raw(self, ref: ColumnData, cur: ColumnData) -> TestResult:
        assert isinstance(ref, CategoricalData) and isinstance(cur, CategoricalData)
        return self._counts(ref.counts, cur.counts)

    def _test_profiles(self, ref: ColumnProfile, cur: ColumnProfile) -> TestResult:
        return self._counts(profile_counts(ref), profile_counts(cur))

    def _counts(self, ref: dict[str, int], cur: dict[str, int]) -> TestResult:
        key = "1" if ("1" in ref or "1" in cur) else next(iter(ref))
        z, p = two_proportion_z(ref.get(key, 0), sum(ref.values()), cur.get(key, 0), sum(cur.values()))
        reason = "the same single value on both sides" if p == 1.0 and z == 0.0 else None
        return self._result(z, p, reason)
