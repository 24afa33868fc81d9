"""Known drift in real data (shipyard.datasets), found with the default automatic choice of test."""

from __future__ import annotations

import numpy as np
import pytest

import shipyard.drift as sd
from shipyard.datasets import RAINFALL_FEATURES, load_bikeshare, load_rainfall


@pytest.fixture(scope="module")
def rainfall_windows() -> list[tuple[int, sd.DriftReport]]:
    data = load_rainfall()
    ref = {k: data[k][:6000] for k in RAINFALL_FEATURES}
    ref_p = sd.profile(ref)
    out = []
    for start in range(6000, 18000, 1000):
        cur = {k: data[k][start:start + 1000] for k in RAINFALL_FEATURES}
        raw = sd.compare(ref, cur)
        profiled = sd.compare(ref_p, sd.profile(cur, reference=ref_p))
        assert [r.drifted for r in raw.rows] == [r.drifted for r in profiled.rows]
        out.append((start, raw))
    return out


def test_rainfall_uses_wasserstein(rainfall_windows: list[tuple[int, sd.DriftReport]]) -> None:
    assert {r.test for _, rep in rainfall_windows for r in rep.rows} == {"wasserstein"}


def test_rainfall_injected_drift(rainfall_windows: list[tuple[int, sd.DriftReport]]) -> None:
    for start, report in rainfall_windows:
        cols = report.columns
        after = start >= 12000
        assert cols["sea-level pressure"].drifted == after, start  # on every window, none before
        if after:
            assert cols["dew point"].drifted, start
            assert cols["dew point"].statistic > 0.5  # type: ignore[operator]
        else:
            assert cols["visibility"].drifted, start  # natural drift before the injection


def test_bikeshare_january_against_february_and_june() -> None:
    bikes = load_bikeshare()
    feats = ["hr", "temp", "atemp", "hum", "windspeed", "weathersit"]
    month = bikes["mnth"]
    jan, feb, jun = ({k: bikes[k][month == m] for k in feats} for m in ("Jan", "Feb", "June"))
    assert len(jan["hr"]) <= 1000  # a small reference: KS, p < 0.05
    r_feb, r_jun = sd.compare(jan, feb), sd.compare(jan, jun)
    assert r_feb.columns["temp"].test == "ks"
    stored = sd.DatasetProfile.from_dict(sd.profile(jan).to_dict())  # as a monitor holds it
    for month, raw in ((feb, r_feb), (jun, r_jun)):
        profiled = sd.compare(stored, month)
        assert [(r.test, r.drifted) for r in profiled.rows] == [(r.test, r.drifted) for r in raw.rows]
    for col in ("temp", "atemp"):
        f, j = r_feb.columns[col], r_jun.columns[col]
        assert f.drifted and j.drifted
        assert j.statistic > 2.5 * f.statistic  # KS D: 0.37 -> 1.0 (D is bounded by 1)
        assert j.effect_size > 4 * f.effect_size  # type: ignore[operator]  # Wasserstein / std
    assert not r_feb.columns["hr"].drifted and not r_jun.columns["hr"].drifted
    # the data README's Wasserstein / std figures (January's std)
    quoted = {"temp": (1.11, 6.35), "atemp": (1.06, 5.70), "hum": (0.29, 0.21), "windspeed": (0.29, 0.16),
              "hr": (0.01, 0.06)}
    w_feb, w_jun = sd.compare(jan, feb, test="wasserstein"), sd.compare(jan, jun, test="wasserstein")
    for col, (f, j) in quoted.items():
        assert w_feb.columns[col].statistic == pytest.approx(f, abs=0.01)
        assert w_jun.columns[col].statistic == pytest.approx(j, abs=0.01)
        assert r_feb.columns[col].effect_size == pytest.approx(f, abs=0.01)
    assert np.isclose(w_jun.columns["temp"].statistic / w_feb.columns["temp"].statistic, 5.7, atol=0.1)
