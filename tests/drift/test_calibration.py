"""Under no drift (two samples of one distribution), each p-value test flags about 5 % at p <= 0.05."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import shipyard.drift as sd

TRIALS = 400  # binomial sd at 5 %: 1.1 points; the 2-9 % band is more than 2.7 sd on either side


def _false_positive_rate(test: sd.DriftTest, draw: Callable[[np.random.Generator], np.ndarray],
                         seed: int) -> float:
    rng = np.random.default_rng(seed)
    flagged = 0
    for _ in range(TRIALS):
        result = test.fit(draw(rng)).test(draw(rng))
        assert result.p_value is not None
        flagged += result.p_value <= 0.05
    return flagged / TRIALS


def _categories(k: int, n: int) -> Callable[[np.random.Generator], np.ndarray]:
    weights = np.linspace(1, 3, k)
    names = np.array([f"c{i}" for i in range(k)])
    return lambda rng: rng.choice(names, size=n, p=weights / weights.sum())


@pytest.mark.parametrize(("test", "draw"), [
    pytest.param(sd.KSTest(), lambda rng: rng.normal(size=300), id="ks-continuous"),
    pytest.param(sd.KSTest(), lambda rng: rng.normal(size=2000), id="ks-asymptotic-free-large"),
    pytest.param(sd.AndersonDarlingTest(), lambda rng: rng.exponential(size=150), id="anderson"),
    pytest.param(sd.ChiSquareTest(), _categories(3, 300), id="chisquare-3"),
    pytest.param(sd.ChiSquareTest(), _categories(10, 500), id="chisquare-10"),
    pytest.param(sd.ChiSquareTest(), _categories(50, 2000), id="chisquare-50"),
    pytest.param(sd.ZTest(), lambda rng: rng.random(400) < 0.3, id="ztest"),
])
def test_false_positive_rate_is_nominal(test: sd.DriftTest, draw: Callable[[np.random.Generator], np.ndarray]
                                        ) -> None:
    rate = _false_positive_rate(test, draw, seed=20261126)
    assert 0.02 <= rate <= 0.09, rate


def test_goodness_of_fit_chisquare_would_over_flag() -> None:
    """The mistake the chi-square test avoids: reference counts taken as exact expected frequencies."""
    from scipy.stats import chisquare

    rng = np.random.default_rng(7)
    draw = _categories(10, 500)
    flagged = 0
    for _ in range(200):
        a, b = draw(rng), draw(rng)
        keys = sorted(set(a) | set(b))
        ca = np.array([np.sum(a == k) for k in keys], dtype=float)
        cb = np.array([np.sum(b == k) for k in keys], dtype=float)
        flagged += chisquare(cb, ca / ca.sum() * cb.sum()).pvalue <= 0.05
    assert flagged / 200 > 0.25
