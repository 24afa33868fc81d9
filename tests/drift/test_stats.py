"""Each statistic equals scipy's (or a hand computation) on random data with ties."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

import shipyard.drift as sd


def _samples(seed: int, n1: int, n2: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # rounding creates many ties within and across samples
    return np.round(rng.normal(size=n1), 1), np.round(rng.normal(shift, 1.2, size=n2), 1)


@pytest.mark.parametrize(("seed", "n1", "n2", "shift"), [
    (0, 50, 70, 0.0), (1, 300, 200, 0.3), (2, 1, 5, 0.0), (3, 2000, 2000, 0.05), (4, 12000, 11000, 0.02),
])
def test_ks_matches_scipy(seed: int, n1: int, n2: int, shift: float) -> None:
    a, b = _samples(seed, n1, n2, shift)
    result = sd.KSTest().fit(a).test(b)
    expected = stats.ks_2samp(a, b)
    assert result.statistic == pytest.approx(expected.statistic, abs=1e-9)
    assert result.p_value == pytest.approx(expected.pvalue, abs=1e-9)
    assert result.drifted == (expected.pvalue <= 0.05)


@pytest.mark.parametrize(("seed", "n1", "n2"), [(0, 50, 70), (1, 1000, 300), (2, 1, 1), (3, 5000, 7000),
                                                 (4, 3000, 3000), (5, 2, 7), (6, 9999, 10000)])
def test_wasserstein_matches_scipy(seed: int, n1: int, n2: int) -> None:
    a, b = _samples(seed, n1, n2, 0.2)
    result = sd.WassersteinTest().fit(a).test(b)
    std = np.std(a) if np.std(a) > 1e-3 else 1e-3
    assert result.statistic == pytest.approx(stats.wasserstein_distance(a, b) / std, abs=1e-9)
    assert result.p_value is None


@pytest.mark.parametrize(("seed", "k"), [(0, 2), (1, 3), (2, 10), (3, 50)])
def test_chisquare_matches_scipy_contingency(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.choice([f"c{i}" for i in range(k)], size=400)
    b = rng.choice([f"c{i}" for i in range(k)], size=300, p=np.r_[2, np.ones(k - 1)] / (k + 1))
    result = sd.ChiSquareTest().fit(a).test(b)
    keys = sorted(set(a) | set(b))
    table = np.array([[np.sum(a == c) for c in keys], [np.sum(b == c) for c in keys]])
    stat, p, _, _ = stats.chi2_contingency(table, correction=False)
    assert result.statistic == pytest.approx(stat, abs=1e-9)
    assert result.p_value == pytest.approx(p, abs=1e-9)


@pytest.mark.parametrize(("seed", "n1", "n2", "shift"), [(0, 40, 60, 0.0), (1, 200, 150, 0.4), (2, 500, 500, 2.0)])
def test_anderson_matches_scipy(seed: int, n1: int, n2: int, shift: float) -> None:
    a, b = _samples(seed, n1, n2, shift)
    result = sd.AndersonDarlingTest().fit(a).test(b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = stats.anderson_ksamp([a, b], variant="midrank")
    assert result.statistic == pytest.approx(expected.statistic, abs=1e-9)
    assert result.p_value == pytest.approx(expected.pvalue, abs=1e-9)


def test_ztest_matches_chisquare_on_two_by_two() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.random(500) < 0.3, rng.random(400) < 0.36
    z = sd.ZTest().fit(a).test(b)
    table = np.array([[a.sum(), (~a).sum()], [b.sum(), (~b).sum()]])
    stat, p, _, _ = stats.chi2_contingency(table, correction=False)
    assert z.statistic**2 == pytest.approx(stat, rel=1e-9)
    assert z.p_value == pytest.approx(p, abs=1e-9)


def test_psi_hand_computed() -> None:
    ref = ["a"] * 50 + ["b"] * 50
    cur = ["a"] * 25 + ["b"] * 75
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    result = sd.PSITest().fit(ref).test(cur)
    assert result.statistic == pytest.approx(expected, abs=1e-12)
    assert result.drifted == (expected >= 0.1)
    # a category absent on one side counts with share 1e-4
    result = sd.PSITest().fit(["a"] * 10).test(["a"] * 5 + ["b"] * 5)
    expected = (0.5 - 1.0) * math.log(0.5 / 1.0) + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    assert result.statistic == pytest.approx(expected, abs=1e-12)


def test_jensen_shannon_hand_computed_and_bases() -> None:
    ref = ["a"] * 50 + ["b"] * 50
    cur = ["a"] * 100
    # p = (.5, .5), q = (1, 0), m = (.75, .25): JS = .5 * (.5 ln(.5/.75) + .5 ln(.5/.25)) + .5 * ln(1/.75)
    div = 0.5 * (0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(2)) + 0.5 * math.log(1 / 0.75)
    result = sd.JensenShannonTest().fit(ref).test(cur)
    assert result.statistic == pytest.approx(math.sqrt(div), abs=1e-12)
    assert result.statistic == pytest.approx(jensenshannon([0.5, 0.5], [1, 0]), abs=1e-12)
    base2 = sd.JensenShannonTest(base=2).fit(ref).test(cur)
    assert base2.statistic == pytest.approx(jensenshannon([0.5, 0.5], [1, 0], base=2), abs=1e-12)
    assert sd.JensenShannonTest().fit(ref).test(ref).statistic == 0.0


def test_psi_numeric_uses_reference_quantile_bins() -> None:
    ref = np.arange(1000.0)
    result = sd.PSITest().fit(ref).test(ref + 0.0)
    assert result.statistic == pytest.approx(0.0, abs=1e-12)
    shifted = sd.PSITest().fit(ref).test(ref + 100)  # 100 rows leave the first decile, land in the last
    expected = (0.0001 - 0.1) * math.log(0.0001 / 0.1) + (0.2 - 0.1) * math.log(0.2 / 0.1)
    assert shifted.statistic == pytest.approx(expected, abs=1e-9)


def test_benjamini_hochberg() -> None:
    from shipyard.drift._stats import benjamini_hochberg

    p = [0.01, 0.04, 0.03, 0.2]
    # sorted .01 .03 .04 .2 -> .04 .06 .0533 .2 -> monotone from the top: .04 .0533 .0533 .2
    assert benjamini_hochberg(p) == pytest.approx([0.04, 0.0533333333, 0.0533333333, 0.2])


def test_get_params_round_trip() -> None:
    for cls in sd.TESTS.values():
        t = cls(threshold=0.2)
        params = t.get_params()
        assert params["threshold"] == 0.2
        assert type(t)(**params).get_params() == params
    js = sd.JensenShannonTest(base=2, n_bins=20)
    assert js.get_params() == {"alpha": None, "base": 2, "n_bins": 20, "threshold": None}
    with pytest.raises(TypeError):
        sd.KSTest(0.05)  # type: ignore[misc]
    with pytest.raises(sd.NotFittedError):
        sd.KSTest().test([1.0])
    assert sd.KSTest().fit([1.0, 2.0]) is not None


def test_non_finite_values_are_missing_and_kinds_are_inferred() -> None:
    from shipyard.drift._columns import column_data

    rng = np.random.default_rng(7)
    x = rng.normal(size=1000)
    x[[3, 50, 700]] = np.nan
    x[[10, 11]] = np.inf
    x[20] = -np.inf
    data = column_data(x)
    finite = np.sort(x[np.isfinite(x)])
    assert data.kind == "numeric" and data.missing == 6 and np.array_equal(data.values, finite)
    assert np.array_equal(column_data(x.astype(np.float32)).values, np.sort(finite.astype(np.float32)))
    ints = rng.integers(-5, 50, size=300)
    assert np.array_equal(column_data(ints).values, np.sort(ints).astype(float))
    assert column_data(np.array([0.0, 1.0, np.nan, 1.0])).kind == "binary"
    assert column_data(np.array([0, 1, 1])).kind == "binary"
    assert column_data(np.array([0.0, 0.5, 1.0])).kind == "numeric"
    assert column_data(np.array([1.0, 1.0])).kind == "numeric"
    assert column_data(np.array([0, 1, 1]), "numeric").kind == "numeric"
    assert column_data(np.full(4, np.nan)).count == 0


def test_wasserstein_ignores_non_finite_values() -> None:
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=500), rng.normal(0.2, size=400)
    a_bad, b_bad = np.r_[a, np.nan, np.inf], np.r_[-np.inf, b, np.nan]
    result = sd.WassersteinTest().fit(a_bad).test(b_bad)
    assert result.statistic == pytest.approx(stats.wasserstein_distance(a, b) / np.std(a), abs=1e-9)


def test_jensen_shannon_few_values_counts_each_value() -> None:
    ref = np.repeat([1.0, 2.0, 3.0], [50, 30, 20])
    cur = np.repeat([1.0, 2.0, 4.0, 5.0, 6.0, 7.0, 8.0], [40, 30, 10, 5, 5, 5, 5])
    keys = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    p = [np.sum(ref == k) for k in keys]
    q = [np.sum(cur == k) for k in keys]
    result = sd.JensenShannonTest().fit(ref).test(cur)
    assert result.statistic == pytest.approx(jensenshannon(p, q), abs=1e-12)
