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
from ._null import cached, counts_quantile, effective_size, js_rows, psi_rows
from ._profile import N_BINS, ColumnProfile
from ._stats import (
    PSI_EPS,
    bin_counts,
    chi2_homogeneity,
    counts_table,
    distinct_sorted,
    few_distinct,
    two_proportion_z,
)

FEW_VALUES = 5
OTHER = "__other__"
DEFAULT_FLOOR_W = 0.1  # Cohen's "small" effect for a chi-square on shares


def cohens_w(r: np.ndarray, c: np.ndarray) -> float:
    """Cohen's w of two count vectors: sqrt(sum((q - p)^2 / s)), s the pooled shares (never 0 where used)."""
    p, q = r / r.sum(), c / c.sum()
    pooled = (r + c) / (r.sum() + c.sum())
    keep = pooled > 0
    return float(np.sqrt(np.sum((q[keep] - p[keep]) ** 2 / pooled[keep])))


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
    """Reduces both sides to aligned count vectors, then scores them with ``_score``.

    A numeric column is cut at the reference PROFILE's bin edges (quantile edges snapped to its sketch's
    grid), from raw rows and from profiles alike, so both give the same counts and the same statistic.
    """

    def __init__(self, *, threshold: float | None = None, alpha: float | None = None,
                 n_bins: int = N_BINS) -> None:
        super().__init__(threshold=threshold, alpha=alpha)
        self.n_bins = n_bins

    def _prepare(self) -> None:
        self.distinct_ = None
        if isinstance(self.reference_, NumericData):
            values = self.reference_.values
            self.distinct_ = few_distinct(values, FEW_VALUES) if self._few_values() else None
            if self.distinct_ is None:
                self.edges_ = self._edges(self._ref_profile())

    def _edges(self, ref: ColumnProfile) -> np.ndarray:
        if self.n_bins == N_BINS or ref.sketch is None:
            return np.asarray(ref.bin_edges, dtype=np.float64)
        return ref.sketch.quantile_edges(self.n_bins)

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
        edges = self._edges(ref)
        if self.n_bins == N_BINS:
            r = np.asarray(ref.bin_counts, dtype=np.float64)
        else:
            assert ref.sketch is not None
            r = ref.sketch.bin_counts(edges)
        if self.n_bins == N_BINS and cur.bin_edges == ref.bin_edges:
            c = np.asarray(cur.bin_counts, dtype=np.float64)
            reason = None
        else:
            assert cur.sketch is not None
            c = cur.sketch.bin_counts(edges)
            reason = "current profile has other bin edges: re-binned from its sketch (approximate)"
        return self._score(r, c, reason)


class _CalibratedCountTest(_CountTest):
    """A distance on counts, decided against its null quantile at this size and the floor."""

    uses_p_value = False
    default_threshold = 0.1

    def _rows(self, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _score(self, r: np.ndarray, c: np.ndarray, reason: str | None) -> TestResult:
        stat = float(self._rows(r, c[None, :])[0])
        n_eff = effective_size(int(r.sum()), int(c.sum()))
        key = (self.name, *sorted(self.get_params().items()), self.alpha_, n_eff, tuple(r.tolist()))
        q = cached(self._null_owner(), key, lambda: counts_quantile(r, n_eff, self.alpha_, self._rows))
        return self._result(stat, None, reason, None, q)


class PSITest(_CalibratedCountTest):
    """Population Stability Index on ``n_bins`` reference-quantile bins (or categories).

    PSI = sum((c_i - r_i) * ln(c_i / r_i)) over bin shares, shares of 0 replaced by 1e-4. Drift when PSI
    exceeds its null quantile at this window size and the floor ``threshold`` (default 0.1).
    """

    name = "psi"
    statistic_name = "psi"
    kinds = (NUMERIC, CATEGORICAL, BINARY)

    def _rows(self, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        return psi_rows(r, c, PSI_EPS)


class JensenShannonTest(_CalibratedCountTest):
    """Jensen-Shannon DISTANCE (sqrt of the divergence), natural log by default.

    Drift when the distance exceeds its null quantile at this window size and the floor ``threshold``
    (default 0.1). ``base=math.e`` matches Evidently (its distance lies in [0, sqrt(ln 2)] = [0, 0.833]);
    ``base=2`` matches NannyML and scipy's ``jensenshannon(p, q, base=2)`` (in [0, 1]).
    """

    name = "jensenshannon"
    statistic_name = "js_distance"
    kinds = (NUMERIC, CATEGORICAL, BINARY)

    def __init__(self, *, threshold: float | None = None, alpha: float | None = None, n_bins: int = N_BINS,
                 base: float = math.e) -> None:
        super().__init__(threshold=threshold, alpha=alpha, n_bins=n_bins)
        self.base = base

    def _few_values(self) -> bool:
        return True

    def _rows(self, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        return js_rows(r, c, self.base)


class ChiSquareTest(_CountTest):
    """Chi-square test of homogeneity on the 2 x k table of reference and current counts.

    Equals ``scipy.stats.chi2_contingency(table, correction=False)``; categories empty on both sides are
    dropped. (Not a goodness-of-fit test against the reference's shares, which over-flags.) Drift when
    p < alpha (``threshold`` is alpha, default 0.05) AND the effect size exceeds ``floor`` (default 0.1):
    Cohen's w = sqrt(sum((q_i - p_i)^2 / s_i)) with p, q the two samples' shares and s the pooled shares,
    so a huge window does not flag a negligible change of shares. A numeric column is compared on its
    values when it has at most ``FEW_VALUES`` of them, else on the reference's ``n_bins`` quantile bins.
    """

    name = "chisquare"
    statistic_name = "chi2"
    kinds = (CATEGORICAL, BINARY, NUMERIC)

    def __init__(self, *, threshold: float | None = None, alpha: float | None = None, n_bins: int = N_BINS,
                 floor: float = DEFAULT_FLOOR_W) -> None:
        super().__init__(threshold=threshold, alpha=alpha, n_bins=n_bins)
        self.floor = floor

    def _few_values(self) -> bool:
        return True

    def _floor(self) -> float | None:
        return self.floor

    def _score(self, r: np.ndarray, c: np.ndarray, reason: str | None) -> TestResult:
        stat, p, dof = chi2_homogeneity(r, c)
        if dof == 0:
            reason = "; ".join(x for x in (reason, "only one category on both sides") if x)
        return self._result(stat, p, reason, cohens_w(r, c))


class ZTest(DriftTest):
    """Pooled two-proportion z-test on the share of ``"1"`` (True) in a binary column; p < alpha."""

    name = "ztest"
    statistic_name = "z"
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
