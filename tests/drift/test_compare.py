"""compare(): automatic choice, overrides, edge cases, report formats, profiles."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import numpy as np
import pytest

import shipyard.drift as sd


def _frame(n: int, seed: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "a": rng.normal(shift, 1, n),
        "b": rng.exponential(1 + shift, n),
        "few": rng.integers(0, 3, n).astype(float),
        "flag": rng.random(n) < 0.3 + shift / 10,
        "cat": rng.choice(["x", "y", "z"], n, p=[0.5, 0.3, 0.2]),
    }


def _values(report: sd.DriftReport) -> list[Any]:
    return [v for row in report.to_dict()["columns"] for v in row.values() if isinstance(v, float)]


def test_public_surface() -> None:
    assert sd.__all__ == sorted(sd.__all__, key=lambda s: (not s.isupper(), s.lower() if s[0].islower() else s))
    for name in sd.__all__:
        assert hasattr(sd, name)
    assert {"compare", "profile", "DatasetProfile", "ColumnProfile", "DriftReport"} <= set(sd.__all__)


def test_import_is_light() -> None:
    import subprocess
    import sys

    code = "import sys, shipyard.drift; print(any(m.startswith(('scipy', 'pandas', 'pyarrow')) for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(("n", "expected"), [
    (500, {"a": "ks", "b": "ks", "few": "chisquare", "flag": "chisquare", "cat": "chisquare"}),
    (3000, {"a": "wasserstein", "b": "wasserstein", "few": "chisquare", "flag": "chisquare",
            "cat": "chisquare"}),
])
def test_auto_choice(n: int, expected: dict[str, str]) -> None:
    report = sd.compare(_frame(n, 0), _frame(n, 1))
    assert {r.column: r.test for r in report.rows} == expected
    assert all(r.alpha == 0.05 for r in report.rows)
    for r in report.rows:  # what the verdict compares with: alpha for p-values, max(null quantile, floor)
        if r.test == "wasserstein":
            assert r.floor == 0.1 and r.threshold == max(r.floor, r.null_quantile or 0.0)
        else:
            assert r.threshold == 0.05 and r.p_value is not None


def test_overrides_and_forced_ks() -> None:
    ref, cur = _frame(3000, 0), _frame(3000, 1, shift=0.5)
    report = sd.compare(ref, cur, test="ks")
    assert [r.test for r in report.rows] == ["ks", "ks", "ks", "chisquare", "chisquare"]
    report = sd.compare(ref, cur, test={"a": "psi", "cat": sd.ChiSquareTest(threshold=0.01)},
                        thresholds={"b": 0.5})
    rows = report.columns
    assert (rows["a"].test, rows["a"].floor) == ("psi", 0.1) and rows["a"].threshold >= 0.1
    assert (rows["cat"].test, rows["cat"].threshold) == ("chisquare", 0.01)
    assert (rows["b"].test, rows["b"].floor, rows["b"].threshold) == ("wasserstein", 0.5, 0.5)
    with pytest.raises(sd.DriftInputError, match="takes numeric"):
        sd.compare(ref, cur, test={"cat": "ks"})
    with pytest.raises(sd.DriftInputError, match="unknown drift test"):
        sd.compare(ref, cur, test="nope")
    with pytest.raises(sd.DriftInputError):
        sd.compare(ref, {"a": cur["a"]})


def test_dataset_drift_prediction_and_target() -> None:
    ref, cur = _frame(3000, 0), _frame(3000, 1, shift=1.0)
    ref["pred"], cur["pred"] = ref["a"] * 2, cur["a"] * 2
    ref["y"], cur["y"] = ref["flag"], cur["flag"]
    report = sd.compare(ref, cur, columns=["a", "b", "few", "cat"], prediction="pred", target="y")
    assert report.prediction_drift is not None and report.prediction_drift.drifted
    assert report.target_drift is not None and report.target_drift.column == "y"
    assert report.number_of_columns == 4
    assert report.drift_share == report.number_of_drifted_columns / 4
    assert report.dataset_drift == (report.drift_share > 0.5)  # a share equal to its bound passes
    same = sd.compare(ref, ref)
    assert not same.dataset_drift and same.drift_share == 0.0


def test_benjamini_hochberg_correction() -> None:
    ref, cur = _frame(500, 0), _frame(500, 1, shift=0.15)
    plain = sd.compare(ref, cur)
    corrected = sd.compare(ref, cur, correction="bh")
    for p, c in zip(plain.rows, corrected.rows, strict=True):
        assert c.adjusted_p_value is not None and c.adjusted_p_value >= p.p_value  # type: ignore[operator]
        effect_ok = c.floor is None or c.effect_size > c.floor  # type: ignore[operator]
        assert c.drifted == (c.adjusted_p_value < c.threshold and effect_ok)
    assert corrected.number_of_drifted_columns <= plain.number_of_drifted_columns


def test_report_formats(tmp_path: Any) -> None:
    report = sd.compare(_frame(800, 0), _frame(600, 1, shift=0.5))
    df = report.to_pandas()
    assert list(df.columns[:9]) == ["column", "type", "role", "test", "statistic_name", "statistic", "p_value",
                                    "threshold", "drifted"]
    assert len(df) == 5
    d = json.loads(report.to_json())
    assert d["dataset_drift"] == report.dataset_drift
    assert all(len(r["histogram"]["reference"]) == len(r["histogram"]["current"]) for r in d["columns"])
    path = tmp_path / "drift.html"
    page = report.to_html(path)
    assert path.read_text(encoding="utf-8") == page
    assert page.count("<svg") == 5 and "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    assert ("Dataset drift detected" in page) == report.dataset_drift


def test_edge_cases_give_reasons_not_errors() -> None:
    rng = np.random.default_rng(0)
    ref = {"num": rng.normal(size=200), "const": np.ones(200), "cat": rng.choice(["a", "b"], 200),
           "flag": rng.random(200) < 0.5, "gone": rng.normal(size=200)}
    nan_num = rng.normal(size=50)
    nan_num[:10] = np.nan
    cases: dict[str, dict[str, np.ndarray]] = {
        "nan": {"num": nan_num, "const": np.ones(50), "cat": np.array(["a", None, "b", "a", "b"] * 10, dtype=object),
                "flag": rng.random(50) < 0.5, "gone": np.full(50, np.nan)},
        "unseen": {"num": rng.normal(size=50), "const": np.full(50, 2.0), "cat": np.array(["c"] * 50),
                   "flag": np.zeros(50, dtype=bool), "gone": rng.normal(size=50)},
        "empty": {k: v[:0] for k, v in ref.items()},
        "one row": {k: v[:1] for k, v in ref.items()},
    }
    for name, cur in cases.items():
        for test in (None, "ks", "wasserstein", "psi", "jensenshannon", "anderson"):
            report = sd.compare(ref, cur, test=test)
            assert all(math.isfinite(v) for v in _values(report)), (name, test)
            json.loads(report.to_json())
            report.to_html()
    nan = sd.compare(ref, cases["nan"])
    assert nan.columns["num"].missing_share == pytest.approx(0.2)
    assert nan.columns["gone"].missing_share == 1.0 and nan.columns["gone"].statistic is None
    assert "no non-missing" in (nan.columns["gone"].reason or "")
    assert not nan.columns["const"].drifted
    unseen = sd.compare(ref, cases["unseen"])
    assert unseen.columns["cat"].drifted and "unseen" in (unseen.columns["cat"].reason or "")
    assert unseen.columns["const"].test == "chisquare" and unseen.columns["const"].drifted  # one value: few
    moved = sd.compare(ref, cases["unseen"], test="wasserstein").columns["const"]
    assert moved.drifted and "std" in (moved.reason or "")
    empty = sd.compare(ref, cases["empty"])
    assert empty.dataset_drift is None and empty.number_of_undecided_columns == 5
    assert all(r.statistic is None and r.drifted is None and r.reason for r in empty.rows)
    one = sd.compare(ref, cases["one row"])
    assert one.columns["num"].p_value is not None


def test_compare_profiles_agrees_with_raw() -> None:
    ref, cur = _frame(5000, 0), _frame(4000, 1, shift=0.3)
    raw = sd.compare(ref, cur)
    ref_p = sd.DatasetProfile.from_dict(json.loads(json.dumps(sd.profile(ref).to_dict())))
    cur_p = sd.profile(cur, reference=ref_p)
    for current in (cur_p, cur):
        prof = sd.compare(ref_p, current)
        for r, p in zip(raw.rows, prof.rows, strict=True):
            assert r.test == p.test and r.drifted == p.drifted
            assert p.statistic == pytest.approx(r.statistic, rel=0.02, abs=0.01)  # type: ignore[arg-type]
    ks = sd.compare(ref_p, cur_p, test="ks").columns["a"]  # exact KS on the stored samples
    assert ks.p_value is not None and ks.p_value < 1e-6 and ks.drifted and "sample of 2000" in (ks.reason or "")
    bare = sd.profile(ref, sample_size=0)
    undecided = sd.compare(bare, cur, test="ks").columns["a"]
    assert undecided.drifted is None and undecided.p_value is None and "cannot decide" in (undecided.reason or "")
    raw_ks = sd.compare(ref, cur, test="ks").columns["a"]
    assert undecided.statistic == pytest.approx(raw_ks.statistic, abs=0.01)  # D from the sketches


def test_small_profiled_reference_uses_ks_on_its_stored_values() -> None:
    ref, cur = _frame(500, 0), _frame(500, 1, shift=0.2)
    raw, profiled = sd.compare(ref, cur), sd.compare(sd.profile(ref), cur)
    assert profiled.columns["a"].test == "ks" and profiled.columns["a"].to_dict() == raw.columns["a"].to_dict()
    without = sd.compare(sd.profile(ref, sample_size=0), cur)  # nothing stored: KS cannot run, Wasserstein
    assert without.columns["a"].test == "wasserstein" and without.columns["a"].drifted is not None


def test_profile_to_profile_is_fast() -> None:
    rng = np.random.default_rng(0)
    n = 20_000
    ref = {f"n{i}": rng.normal(size=n) for i in range(20)} | {f"c{i}": rng.choice(list("abcdefgh"), n)
                                                                for i in range(5)}
    cur = {k: (v + 0.05 if v.dtype.kind == "f" else v) for k, v in ref.items()}
    ref_p = sd.profile(ref)
    cur_p = sd.profile(cur, reference=ref_p)
    sd.compare(ref_p, cur_p)
    best = min(_timed(lambda: sd.compare(ref_p, cur_p)) for _ in range(5))
    assert best < 0.03  # target 10 ms; generous for a shared 2-core CI machine


def _timed(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t
