"""Tests that compare numeric distributions: KS, Wasserstein / std, Anderson-Darling."""

from __future__ import annotations

import numpy as np

from ._base import DriftTest, TestResult
from ._columns import NUMERIC, ColumnData, NumericData
from ._profile import ColumnProfile
from ._stats import anderson_ksamp, ks_pvalue, ks_wasserstein, wasserstein_sorted

MIN_STD = 1e-3  # a constant reference's std is taken as this (Evidently does the same)


def _norm(std: float) -> tuple[float, str | None]:
    if std > MIN_STD:
        return std, None
    return MIN_STD, f"reference std is {std:.3g}: the distance is divided by {MIN_STD} instead"


def _sketch_distances(ref: ColumnProfile, cur: ColumnProfile, ks: bool = True) -> tuple[float, float]:
    """Approximate (KS D, Wasserstein) of two profiles from their sketches (values at bin midpoints)."""
    rs, cs = ref.sketch, cur.sketch
    assert rs is not None and cs is not None
    return ks_wasserstein(
        rs.midpoints(ref.min, ref.max), cs.midpoints(cur.min, cur.max),  # type: ignore[arg-type]
        rs.counts.astype(np.float64), cs.counts.astype(np.float64), ks=ks,
    )


class _Distances(DriftTest):
    kinds = (NUMERIC,)

    def _prepare(self) -> None:
        ref = self.reference_
        if isinstance(ref, NumericData) and ref.count:
            self.reference_std_ = float(np.std(ref.values))
        elif isinstance(ref, ColumnProfile):
            self.reference_std_ = float(ref.std or 0.0)

    def _compute(self, d: float, w: float, p: float | None, reason: str | None) -> TestResult:
        raise NotImplementedError

    def _test_raw(self, ref: ColumnData, cur: ColumnData) -> TestResult:
        assert isinstance(ref, NumericData) and isinstance(cur, NumericData)
        if not self.uses_p_value:  # Wasserstein alone: no merge of the two samples
            return self._compute(float("nan"), wasserstein_sorted(ref.values, cur.values), None, None)
        d, w = ks_wasserstein(ref.values, cur.values)
        return self._compute(d, w, ks_pvalue(ref.values, cur.values, d), None)

    def _test_profiles(self, ref: ColumnProfile, cur: ColumnProfile) -> TestResult:
        d, w = _sketch_distances(ref, cur, ks=self.uses_p_value)
        return self._compute(d, w, None, "approximated from profiles")


class KSTest(_Distances):
    """Two-sample Kolmogorov-Smirnov test; drift when p <= threshold (default 0.05).

    ``statistic`` is D (as ``scipy.stats.ks_2samp``); ``effect_size`` is the Wasserstein distance divided
    by the reference's std. From profiles, D is approximate and there is no p-value (a p-value from a
    sketched D is not valid), so the result never says drift there.
    """

    name = "ks"

    def _compute(self, d: float, w: float, p: float | None, reason: str | None) -> TestResult:
        norm, why = _norm(self.reference_std_)
        if p is None:
            reason = "KS p-value is not valid from a sketch; D is approximate and no drift decision is made"
        return self._result(d, p, reason or why, w / norm)


class WassersteinTest(_Distances):
    """Wasserstein (earth mover's) distance divided by the reference's std (ddof=0); drift when >= 0.1."""

    name = "wasserstein"
    uses_p_value = False
    default_threshold = 0.1

    def _compute(self, d: float, w: float, p: float | None, reason: str | None) -> TestResult:
        norm, why = _norm(self.reference_std_)
        notes = "; ".join(x for x in (reason, why) if x) or None
        return self._result(w / norm, None, notes, w / norm)


class AndersonDarlingTest(DriftTest):
    """k-sample Anderson-Darling test (scipy, midrank); drift when p <= threshold (default 0.05).

    scipy caps its p-value to [0.001, 0.25]; a capped p-value is flagged in ``reason``. Needs raw values.
    """

    name = "anderson"
    kinds = (NUMERIC,)

    def _test_raw(self, ref: ColumnData, cur: ColumnData) -> TestResult:
        assert isinstance(ref, NumericData) and isinstance(cur, NumericData)
        if ref.values[0] == ref.values[-1] == cur.values[0] == cur.values[-1]:
            return self._result(0.0, 1.0, "both samples hold one and the same value")
        if min(ref.count, cur.count) < 2:
            return self._undefined("Anderson-Darling needs at least 2 values on each side")
        stat, p, capped = anderson_ksamp(ref.values, cur.values)
        return self._result(stat, p, "p-value capped by scipy to [0.001, 0.25]" if capped else None)

    def _test_profiles(self, ref: ColumnProfile, cur: ColumnProfile) -> TestResult:
        return self._undefined("Anderson-Darling needs the raw values, not profiles")
