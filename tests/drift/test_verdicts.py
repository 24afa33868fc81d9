"""Verdicts: profiles decide like raw rows, KS and PSI from profiles are exact, class shares have a test
with power, large windows do not flag negligible shifts, and a value equal to its threshold passes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats

import shipyard.drift as sd
from shipyard.drift._numeric_tests import sketch_distances


def _categories(k: int) -> Any:
    shares = np.linspace(1, 3, k)
    cum = np.cumsum(shares / shares.sum())
    names = np.array([f"c{i}" for i in range(k)], dtype=object)
    return lambda rng, n: names[np.minimum(np.searchsorted(cum, rng.random(n)), k - 1)]


SHIFTS = {  # a draw of the shape moved by `s` (0 = the same distribution)
    "continuous": lambda rng, n, s: rng.normal(s, 1 + s, n),
    "int5": lambda rng, n, s: np.minimum(rng.integers(0, 5, n) + (rng.random(n) < s), 4).astype(float),
    "ties": lambda rng, n, s: np.round(rng.gamma(2.0 + 2 * s, 1.0, n)),
    "binary": lambda rng, n, s: rng.random(n) < 0.17 + s / 4,
    "cat10": lambda rng, n, s: np.where(rng.random(n) < s, "c0", _categories(10)(rng, n)),
    "cat30": lambda rng, n, s: np.where(rng.random(n) < s, "c0", _categories(30)(rng, n)),
}
TESTS = {"continuous": ["auto", "ks", "wasserstein", "psi", "jensenshannon"],
         "int5": ["auto", "ks", "wasserstein", "psi", "jensenshannon", "chisquare"],
         "ties": ["auto", "ks", "wasserstein", "psi", "jensenshannon", "chisquare"],
         "binary": ["auto", "psi", "jensenshannon", "chisquare", "ztest"],
         "cat10": ["auto", "psi", "jensenshannon", "chisquare"],
         "cat30": ["auto", "psi", "jensenshannon", "chisquare"]}


@pytest.mark.parametrize("shape", sorted(SHIFTS))
def test_profile_verdicts_equal_raw_verdicts(shape: str) -> None:
    """Stored reference profile (with its sample: every value of a reference of <= 2,000 rows) against raw
    or profiled windows decides as raw rows do, shifted or not, for every test that works on profiles.
    (KS from a profiled window larger than 2,000 rows runs on its sample: valid, not the same numbers.)"""
    rng = np.random.default_rng(len(shape))
    verdicts = []
    for m, n in ((2000, 200), (800, 1500)):
        ref = {"x": SHIFTS[shape](rng, m, 0.0)}
        ref_p = sd.DatasetProfile.from_dict(sd.profile(ref).to_dict())
        for s in (0.0, 0.05, 0.15, 0.4):
            cur = {"x": SHIFTS[shape](rng, n, s)}
            for test in TESTS[shape]:
                chosen = None if test == "auto" else test
                raw = sd.compare(ref, cur, test=chosen).columns["x"]
                for current in (cur, sd.profile(cur, reference=ref_p)):
                    prof = sd.compare(ref_p, current, test=chosen).columns["x"]
                    assert (prof.test, prof.drifted) == (raw.test, raw.drifted), (m, n, s, test, raw, prof)
                    if raw.test != "wasserstein":  # counts, values: the same numbers (sketch W is close)
                        assert prof.statistic == pytest.approx(raw.statistic, rel=1e-9, abs=1e-12)
                verdicts.append(raw.drifted)
    assert True in verdicts and False in verdicts  # the shapes test both outcomes


def test_ks_distance_from_two_profiles_is_exact_on_discrete_data() -> None:
    """Sketches at different compaction levels are compared at one level: D is exact on integers."""
    rng = np.random.default_rng(11)
    for _ in range(20):
        ref = rng.integers(0, rng.integers(5, 1000), 3000).astype(float)  # <= 1,024 values: a bin each
        cur = rng.integers(0, rng.integers(3, 300), 500).astype(float)
        rp, cp = sd.profile({"x": ref}).columns["x"], sd.profile({"x": cur}).columns["x"]
        d, _ = sketch_distances(rp, cp)
        assert d == pytest.approx(stats.ks_2samp(ref, cur).statistic, abs=1e-12)
    # and what a profile without a stored sample reports (it cannot decide, but its D is right)
    hours = rng.integers(0, 24, 700).astype(float)
    month = sd.profile({"x": hours}, sample_size=0)
    window = np.minimum(rng.integers(0, 24, 700) + 2, 23).astype(float)
    undecided = sd.compare(month, {"x": window}, test="ks").columns["x"]
    assert undecided.drifted is None and undecided.p_value is None
    assert undecided.statistic == pytest.approx(stats.ks_2samp(hours, window).statistic, abs=1e-12)


def test_ks_from_a_profile_alerts_on_a_real_shift_and_cannot_decide_without_a_sample() -> None:
    rng = np.random.default_rng(12)
    ref = {"x": rng.normal(size=50_000)}
    shifted, same = {"x": rng.normal(0.25, 1, 2000)}, {"x": rng.normal(size=2000)}
    stored = sd.profile(ref)
    hit = sd.compare(stored, shifted, test="ks").columns["x"]
    assert hit.drifted is True and hit.p_value < 1e-6 and hit.statistic_name == "D"  # type: ignore[operator]
    assert sd.compare(stored, same, test="ks").columns["x"].drifted is False
    small = sd.profile(ref, sample_size=150)  # fewer stored values than the exact test needs
    none = sd.compare(small, shifted, test="ks")
    assert none.columns["x"].drifted is None and "cannot decide" in (none.columns["x"].reason or "")
    assert none.dataset_drift is None and none.number_of_undecided_columns == 1


def test_psi_from_profiles_bins_like_raw_rows_on_an_integer_column() -> None:
    rng = np.random.default_rng(13)
    ref = {"hr": rng.integers(0, 24, 6000).astype(float)}
    ref_p = sd.profile(ref)
    for shift in range(5):
        cur = {"hr": np.clip(rng.integers(0, 24, 1000) + shift, 0, 23).astype(float)}
        raw = sd.compare(ref, cur, test="psi").columns["hr"]
        for current in (cur, sd.profile(cur, reference=ref_p)):
            prof = sd.compare(ref_p, current, test="psi").columns["hr"]
            assert prof.statistic == pytest.approx(raw.statistic, abs=1e-12)
            assert prof.drifted == raw.drifted


def test_binary_share_change_is_found_and_named() -> None:
    """A classifier's positive share moving from 0.17 to 0.27 over 20,000 rows (JS distance 0.089)."""
    rng = np.random.default_rng(14)
    ref = {"prediction": (rng.random(20_000) < 0.166).astype(int)}
    cur = {"prediction": (rng.random(20_000) < 0.269).astype(int)}
    js = sd.compare(ref, cur, test="jensenshannon").columns["prediction"]
    assert js.statistic == pytest.approx(0.089, abs=0.008) and js.drifted is False  # below its 0.1 floor
    for reference in (ref, sd.profile(ref)):
        row = sd.compare(reference, cur, prediction="prediction").prediction_drift
        assert row is not None and (row.test, row.statistic_name) == ("chisquare", "chi2")
        assert row.drifted is True and row.p_value < 1e-50 and row.effect_size > 0.2  # type: ignore[operator]
    same = sd.compare(ref, {"prediction": (rng.random(20_000) < 0.17).astype(int)}, prediction="prediction")
    assert same.prediction_drift is not None and same.prediction_drift.drifted is False


def test_large_windows_do_not_flag_negligible_shifts() -> None:
    rng = np.random.default_rng(15)
    ref = {"x": rng.normal(size=200_000), "flag": rng.random(200_000) < 0.17}
    cur = {"x": rng.normal(0.03, 1, 200_000), "flag": rng.random(200_000) < 0.18}
    report = sd.compare(ref, cur)
    for row in report.rows:
        assert row.drifted is False, row  # both are "significant"; neither is an effect worth an alert
    assert report.columns["flag"].p_value < 1e-6  # type: ignore[operator]
    x = report.columns["x"]  # the floor decides: the null quantile's bound lies far below it
    assert x.null_quantile is None and x.threshold == x.floor == 0.1 and x.statistic < x.floor  # type: ignore[operator]


def test_a_value_equal_to_its_threshold_passes() -> None:
    rng = np.random.default_rng(16)
    ref, cur = rng.normal(size=3000), rng.normal(0.3, 1, 3000)
    w = sd.WassersteinTest().fit(ref).test(cur)
    assert w.drifted is True
    at_bound = sd.WassersteinTest(threshold=w.statistic).fit(ref).test(cur)
    assert at_bound.threshold == at_bound.statistic and at_bound.drifted is False
    flags = rng.random(400) < 0.2, rng.random(400) < 0.3
    p = sd.ChiSquareTest(floor=0).fit(flags[0]).test(flags[1]).p_value
    assert p is not None and sd.ChiSquareTest(floor=0, alpha=p).fit(flags[0]).test(flags[1]).drifted is False
    both = {"a": ref, "b": ref}
    half = sd.compare(both, {"a": cur, "b": ref}, drift_share=0.5)
    assert half.drift_share == 0.5 and half.dataset_drift is False


def test_results_name_their_test_and_statistic() -> None:
    rng = np.random.default_rng(17)
    frame: dict[str, Any] = {"x": rng.normal(size=500), "n": rng.integers(0, 3, 500), "c": rng.choice(list("ab"), 500)}
    report = sd.compare(frame, frame, test={"x": "anderson"})
    names = {r.column: (r.test, r.statistic_name) for r in report.rows}
    assert names == {"x": ("anderson", "A2"), "n": ("chisquare", "chi2"), "c": ("chisquare", "chi2")}
    for test, stat in (("ks", "D"), ("wasserstein", "wasserstein/std"), ("psi", "psi"),
                       ("jensenshannon", "js_distance")):
        row = sd.compare(frame, frame, test=test).columns["x"]
        assert (row.test, row.statistic_name, row.alpha) == (test, stat, 0.05)
    strict = sd.compare(frame, frame, alpha=0.01).columns["x"]
    assert strict.alpha == 0.01 and strict.threshold == 0.01
    with pytest.raises(sd.DriftInputError, match="alpha"):
        sd.compare(frame, frame, alpha=1.5)
