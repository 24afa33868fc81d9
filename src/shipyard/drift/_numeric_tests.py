"""Tests that compare numeric distributions: KS, Wasserstein / std, Anderson-Darling."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ._base import DriftTest, TestResult
from ._columns import NUMERIC, ColumnData, NumericData
from ._null import (
    atoms_from_cumulative,
    atoms_from_sorted,
    cached,
    effective_size,
    wasserstein_bound,
    wasserstein_quantile,
)
from ._profile import ColumnProfile
from ._stats import anderson_ksamp, ks_pvalue, ks_wasserstein, wasserstein_sorted

MIN_STD = 1e-3  # a constant reference's std is taken as this (Evidently does the same)
KS_MIN_SAMPLE = 200  # fewer stored values than this (and than the reference has): KS cannot decide


def _norm(std: float) -> tuple[float, str | None]:
    if std > MIN_STD:
        return std, None
    return MIN_STD, f"reference std is {std:.3g}: the distance is divided by {MIN_STD} instead"


def sketch_distances(ref: ColumnProfile, cur: ColumnProfile, ks: bool = True) -> tuple[float, float]:
    """(KS D, Wasserstein) of two profiles from their sketches, both coarsened to one level first.

    Compared at one level, two values in one bin fall in one bin on both sides; on data with no two
    distinct values in a bin (integers, few values) both distances are exact.
    """
    rs, cs = ref.sketch, cur.sketch
    assert rs is not None and cs is not None
    level = max(rs.level, cs.level)
    rs, cs = rs.coarsen(level), cs.coarsen(level)
    lo, hi = min(ref.min, cur.min), max(ref.max, cur.max)  # type: ignore[type-var]
    # one clip range for both sides: a bin both sides share maps to one point on both
    return ks_wasserstein(
        rs.midpoints(lo, hi), cs.midpoints(lo, hi),  # type: ignore[arg-type]
        rs.counts.astype(np.float64), cs.counts.astype(np.float64), ks=ks,
    )


def usable_sample(p: ColumnProfile) -> np.ndarray | None:
    if p.sample is None or not (p.sample_is_complete or p.sample.size >= KS_MIN_SAMPLE):
        return None
    return p.sample


class _Distances(DriftTest):
    kinds = (NUMERIC,)

    def _prepare(self) -> None:
        ref = self.reference_
        if isinstance(ref, NumericData) and ref.count:
            self.reference_std_ = float(np.std(ref.values))
        elif isinstance(ref, ColumnProfile):
            self.reference_std_ = float(ref.std or 0.0)


class KSTest(_Distances):
    """Two-sample Kolmogorov-Smirnov test; drift when p < alpha (default 0.05; ``threshold`` = alpha).

    ``statistic`` is D (as ``scipy.stats.ks_2samp``); ``effect_size`` is the Wasserstein distance divided
    by the reference's std. From a profile the exact test runs on the profile's stored sample (all the
    values of a reference of at most ``SAMPLE_SIZE`` rows, else a uniform random sample of that many);
    a profile without a usable sample cannot decide (``drifted`` None, D from the sketches).
    """

    name = "ks"
    statistic_name = "D"

    def _exact(self, ref: np.ndarray, cur: np.ndarray, reason: str | None) -> TestResult:
        norm, why = _norm(self.reference_std_)
        d, w = ks_wasserstein(ref, cur)
        notes = "; ".join(x for x in (reason, why) if x) or None
        return self._result(d, ks_pvalue(ref, cur, d), notes, w / norm)

    def _test_raw(self, ref: ColumnData, cur: ColumnData) -> TestResult:
        assert isinstance(ref, NumericData) and isinstance(cur, NumericData)
        return self._exact(ref.values, cur.values, None)

    def _sampled(self, p: ColumnProfile, side: str) -> str | None:
        if p.sample_is_complete:
            return None
        assert p.sample is not None
        return f"KS on a random sample of {p.sample.size} of the {p.count} {side} values"

    def _test_mixed(self, ref: ColumnProfile, cur: ColumnData) -> TestResult:
        sample = usable_sample(ref)
        if sample is None:
            return self._cannot(ref, ColumnProfile.from_data(cur, ref))
        assert isinstance(cur, NumericData)
        return self._exact(sample, cur.values, self._sampled(ref, "reference"))

    def _test_profiles(self, ref: ColumnProfile, cur: ColumnProfile) -> TestResult:
        rs, cs = usable_sample(ref), usable_sample(cur)
        if rs is None or cs is None:
            return self._cannot(ref, cur)
        notes = "; ".join(x for x in (self._sampled(ref, "reference"), self._sampled(cur, "current")) if x)
        return self._exact(rs, cs, notes or None)

    def _cannot(self, ref: ColumnProfile, cur: ColumnProfile) -> TestResult:
        d, w = sketch_distances(ref, cur)
        norm, _ = _norm(self.reference_std_)
        stored = 0 if ref.sample is None else ref.sample.size
        return self._undecided(
            f"KS cannot decide: the reference profile keeps {stored} of its {ref.count} values, fewer than "
            f"the {KS_MIN_SAMPLE} the exact test needs (profile with sample_size=); D is from the sketches",
            d, w / norm)


class WassersteinTest(_Distances):
    """Wasserstein (earth mover's) distance divided by the reference's std (ddof=0).

    Drift when the distance exceeds both its null quantile at this window size (``alpha``, see
    ``_null``) and the floor ``threshold`` (default 0.1).
    """

    name = "wasserstein"
    statistic_name = "wasserstein/std"
    uses_p_value = False
    default_threshold = 0.1

    def _decide(self, w: float, reason: str | None, n_eff: int,
                atoms: Callable[[], tuple[np.ndarray, np.ndarray]]) -> TestResult:
        norm, why = _norm(self.reference_std_)
        notes = "; ".join(x for x in (reason, why) if x) or None

        def quantile() -> float:
            support, probs = atoms()
            if wasserstein_bound(support, probs, n_eff, self.alpha_) / norm <= self.threshold_:
                return math.nan  # the floor decides at this size: no need to simulate
            return wasserstein_quantile(support, probs, n_eff, self.alpha_)

        q = cached(self._null_owner(), ("wasserstein", self.alpha_, self.threshold_, n_eff), quantile) / norm
        return self._result(w / norm, None, notes, w / norm, None if math.isnan(q) else q)

    def _test_raw(self, ref: ColumnData, cur: ColumnData) -> TestResult:
        assert isinstance(ref, NumericData) and isinstance(cur, NumericData)
        return self._decide(wasserstein_sorted(ref.values, cur.values), None,
                            effective_size(ref.count, cur.count), lambda: atoms_from_sorted(ref.values))

    def _test_profiles(self, ref: ColumnProfile, cur: ColumnProfile) -> TestResult:
        _, w = sketch_distances(ref, cur, ks=False)
        sketch = ref.sketch
        assert sketch is not None
        return self._decide(w, "approximated from profiles", effective_size(ref.count, cur.count),
                            lambda: atoms_from_cumulative(sketch.midpoints(ref.min, ref.max),  # type: ignore[arg-type]
                                                          sketch.counts))


class AndersonDarlingTest(DriftTest):
    """k-sample Anderson-Darling test (scipy, midrank); drift when p <= threshold (default 0.05).

    scipy caps its p-value to [0.001, 0.25]; a capped p-value is flagged in ``reason``. Needs raw values.
    """

    name = "anderson"
    statistic_name = "A2"
    kinds = (NUMERIC,)

    def _test_raw(self, ref: ColumnData, cur: ColumnData) -> TestResult:
        assert isinstance(ref, NumericData) and isinstance(cur, NumericData)
        if ref.values[0] == ref.values[-1] == cur.values[0] == cur.values[-1]:
            return self._result(0.0, 1.0, "both samples hold one and the same value")
        if min(ref.count, cur.count) < 2:
            return self._undecided("Anderson-Darling needs at least 2 values on each side")
        stat, p, capped = anderson_ksamp(ref.values, cur.values)
        return self._result(stat, p, "p-value capped by scipy to [0.001, 0.25]" if capped else None)

    def _test_profiles(self, ref: ColumnProfile, cur: ColumnProfile) -> TestResult:
        return self._undecided("Anderson-Darling needs the raw values, not profiles")
