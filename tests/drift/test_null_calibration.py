"""Calibration: on windows drawn from the reference's own distribution, how often is a column "drifted"?

Every verdict is calibrated to alpha = 5 %: a p-value test flags about alpha; a distance flags about
alpha where its null quantile decides (small windows) and less where the effect floor decides (large
windows). Each case draws ``refs`` references and ``windows`` windows per reference (a fresh reference
matters: the calibration holds over reference draws, and a fixed lucky or unlucky reference would
say little). The bound per case is 7.5 %: with 480 trials the binomial sd at 5 % is 1.0 point, so a
case whose true rate were 10 % passes with probability under 1 % (the one 240-trial case: sd 1.4
points); windows sharing a reference are correlated, which widens this a little. Over all cases pooled
(about 12,000 trials, sd 0.2 point) the rate must stay under 6 %. Seeds are fixed: the suite is deterministic.

Shapes: continuous (normal), integers with <= 5 values, heavy ties (rounded gamma, ~14 values), binary
(17 % positive), categorical with 10 and 30 categories of unequal shares; real data: rows sampled at
random from one stretch of rainfall (rows 0-12,000) and bikeshare (June and July), so that windows
and reference share one distribution (consecutive days are not independent, so contiguous windows
would measure the weather, not the test).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import shipyard.drift as sd
from shipyard.datasets import RAINFALL_FEATURES, load_bikeshare, load_rainfall
from shipyard.drift._auto import auto_test
from shipyard.drift._columns import column_data
from shipyard.drift._profile import ColumnProfile

ALPHA = 0.05
BOUND = 0.075
Draw = Callable[[np.random.Generator, int], Any]


def _categories(k: int) -> Draw:
    shares = np.linspace(1, 3, k)
    cum = np.cumsum(shares / shares.sum())
    names = np.array([f"c{i}" for i in range(k)], dtype=object)
    return lambda rng, n: names[np.minimum(np.searchsorted(cum, rng.random(n)), k - 1)]


SHAPES: dict[str, Draw] = {
    "continuous": lambda rng, n: rng.normal(size=n),
    "int5": lambda rng, n: rng.integers(0, 5, n).astype(float),
    "ties": lambda rng, n: np.round(rng.gamma(2.0, 1.0, n)),
    "binary": lambda rng, n: rng.random(n) < 0.17,
    "cat10": _categories(10),
    "cat30": _categories(30),
}

# (shape, test, reference rows, window rows, mode, references, windows per reference)
# mode: "raw" (rows against rows), "profile" (a stored reference profile against raw window rows, as a
# monitor does), "profiles" (both sides profiled). Large references are slower to draw: fewer of them.
CASES = [
    ("continuous", "auto", 200, 100, "raw", 120, 4),
    ("continuous", "auto", 1000, 10_000, "profile", 40, 6),  # scipy's exact KS at 10,000 rows is slow
    ("continuous", "auto", 2000, 200, "raw", 60, 8),
    ("continuous", "auto", 100_000, 1000, "profile", 16, 30),
    ("continuous", "wasserstein", 200, 100, "raw", 60, 8),
    ("continuous", "ks", 20_000, 1000, "profile", 60, 8),
    ("continuous", "psi", 5000, 100, "profiles", 60, 8),
    ("continuous", "jensenshannon", 1000, 200, "raw", 60, 8),
    ("ties", "auto", 5000, 200, "profile", 60, 8),
    ("ties", "ks", 500, 1000, "raw", 120, 4),
    ("ties", "psi", 200, 10_000, "raw", 60, 8),
    ("ties", "wasserstein", 1000, 1000, "profiles", 60, 8),
    ("int5", "auto", 100_000, 100, "profile", 16, 30),
    ("int5", "auto", 200, 10_000, "raw", 120, 4),
    ("int5", "jensenshannon", 5000, 200, "raw", 60, 8),
    ("int5", "wasserstein", 2000, 1000, "profile", 60, 8),
    ("binary", "auto", 200, 1000, "raw", 120, 4),
    ("binary", "auto", 100_000, 100, "profile", 16, 30),
    ("binary", "ztest", 1000, 1000, "raw", 120, 4),
    ("binary", "jensenshannon", 2000, 10_000, "profiles", 60, 8),
    ("cat10", "auto", 2000, 200, "raw", 60, 8),
    ("cat10", "psi", 100_000, 10_000, "profile", 16, 30),
    ("cat10", "chisquare", 1000, 100, "raw", 120, 4),
    ("cat30", "auto", 200, 10_000, "profile", 60, 8),
    ("cat30", "chisquare", 100_000, 100, "raw", 16, 30),
    ("cat30", "psi", 1000, 200, "profiles", 60, 8),
]


def _false_alarms(draw: Draw, test: str, m: int, n: int, mode: str, refs: int, windows: int,
                  seed: int) -> tuple[int, int, str]:
    """(flagged, trials, test used); an undecided result would count as a failure of this suite."""
    rng = np.random.default_rng(seed)
    flagged = trials = 0
    used = test
    for _ in range(refs):
        ref = column_data(draw(rng, m))
        reference: Any = ColumnProfile.from_data(ref) if mode != "raw" else ref
        fitted = (auto_test(reference, m) if test == "auto" else sd.TESTS[test]()).fit(reference)
        used = fitted.name
        for _ in range(windows):
            cur: Any = column_data(draw(rng, n), ref.kind)
            if mode == "profiles":
                cur = ColumnProfile.from_data(cur, reference)
            result = fitted.test(cur)
            assert result.drifted is not None, result.reason
            flagged += result.drifted
            trials += 1
    return flagged, trials, used


@pytest.fixture(scope="module")
def outcomes() -> dict[str, tuple[int, int, str]]:
    return {f"{c[0]}-{c[1]}-{c[2]}-{c[3]}-{c[4]}": _false_alarms(SHAPES[c[0]], *c[1:], seed=i)  # type: ignore[arg-type]
            for i, c in enumerate(CASES)}


def test_each_case_flags_at_most_bound(outcomes: dict[str, tuple[int, int, str]]) -> None:
    over = {k: f"{f / t:.3f} ({used})" for k, (f, t, used) in outcomes.items() if f / t > BOUND}
    assert not over, over


def test_pooled_rate_is_about_alpha_or_less(outcomes: dict[str, tuple[int, int, str]]) -> None:
    flagged = sum(f for f, _, _ in outcomes.values())
    trials = sum(t for _, t, _ in outcomes.values())
    assert trials >= 10_000
    assert flagged / trials <= 0.06, flagged / trials


def test_automatic_choice_covers_every_decision_rule(outcomes: dict[str, tuple[int, int, str]]) -> None:
    used = {used for k, (_, _, used) in outcomes.items() if "-auto-" in k}
    assert used == {"ks", "wasserstein", "chisquare", "jensenshannon"}


def _real_null(columns: dict[str, np.ndarray], m: int, n: int, trials: int, seed: int,
               profiled: bool) -> tuple[dict[str, float], float]:
    """Per-column and dataset-level false-alarm rates of the automatic choice on rows sampled from one pool."""
    rng = np.random.default_rng(seed)
    rows = len(next(iter(columns.values())))
    flagged = dict.fromkeys(columns, 0)
    dataset = 0
    for _ in range(trials):
        order = rng.permutation(rows)
        ref = {k: v[order[:m]] for k, v in columns.items()}
        cur = {k: v[order[m:m + n]] for k, v in columns.items()}
        report = sd.compare(sd.profile(ref) if profiled else ref, cur)
        for row in report.rows:
            assert row.drifted is not None, row.reason
            flagged[row.column] += row.drifted
        dataset += bool(report.dataset_drift)
    return {k: v / trials for k, v in flagged.items()}, dataset / trials


@pytest.mark.parametrize(("m", "n", "profiled", "trials"), [
    (6000, 200, True, 40),  # Wasserstein: one null simulation per column and reference, so fewer trials
    (1000, 1000, False, 100),
    (300, 100, True, 100),
])
def test_rainfall_null_windows(m: int, n: int, profiled: bool, trials: int) -> None:
    data = load_rainfall()
    pool = {k: np.asarray(data[k][:12_000], dtype=np.float64) for k in RAINFALL_FEATURES}
    per_column, dataset = _real_null(pool, m, n, trials=trials, seed=m + n, profiled=profiled)
    assert max(per_column.values()) <= 0.15, per_column  # per column: 40-100 trials, a loose check
    assert sum(per_column.values()) / len(per_column) <= BOUND, per_column  # 320-800 column verdicts
    assert dataset <= 0.05


def test_bikeshare_null_windows() -> None:
    bikes = load_bikeshare()
    summer = np.isin(bikes["mnth"], ["June", "July"])
    feats = ["hr", "temp", "atemp", "hum", "windspeed", "weathersit", "workingday"]
    pool = {k: np.asarray(bikes[k])[summer] for k in feats}
    for m, n, profiled in ((1000, 200, True), (400, 400, False)):
        per_column, dataset = _real_null(pool, m, n, trials=100, seed=m, profiled=profiled)
        assert max(per_column.values()) <= 0.12, per_column
        assert sum(per_column.values()) / len(per_column) <= BOUND, per_column
        assert dataset <= 0.05
