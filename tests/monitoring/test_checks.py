"""The checks on one window, from a hand-built prediction-log table: data quality, service health,
and defined results (never NaN, never an exception) for empty, tiny and unlabeled windows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from shipyard.drift import profile
from shipyard.monitoring import normalize_spec
from shipyard.monitoring._checks import run_checks

REFERENCE = profile({"x": np.linspace(0.0, 10.0, 1000), "color": np.array(["red", "blue"] * 500, dtype=object)})


def window(n: int, *, x=None, color=None, errors=0, labels=None, latency=5.0) -> pa.Table:
    x = np.linspace(0.0, 10.0, n) if x is None else x
    color = ["red", "blue"] * (n // 2) + ["red"] * (n % 2) if color is None else color
    error = [None] * (n - errors) + ["ValueError: boom"] * errors
    prediction = [1.0] * (n - errors) + [None] * errors
    return pa.table({
        "request_id": [f"r{i}" for i in range(n)], "model": ["m"] * n, "version": [1] * n,
        "prediction": pa.array(prediction, pa.float64()), "latency_ms": [latency] * n,
        "error": pa.array(error, pa.string()), "feature.x": pa.array(x, pa.float64()),
        "feature.color": pa.array(color, pa.string()),
        "label": pa.array(labels if labels is not None else [None] * n, pa.float64()),
    })


def checks_of(table: pa.Table, **spec_kwargs) -> tuple[str, dict[str, dict]]:
    spec = normalize_spec(window=100, **spec_kwargs)
    status, entries, _, _ = run_checks(spec, table, REFERENCE, None)
    return status, {e.check: e.to_dict() for e in entries}


def test_a_clean_window_passes():
    status, checks = checks_of(window(200))
    assert status == "ok"
    assert checks["feature_drift"]["passed"] is True
    assert checks["data_quality.missing_share"]["value"] == 0.0
    assert checks["service.error_rate"]["value"] == 0.0 and checks["service.p99_latency_ms"]["value"] == 5.0
    assert checks["prediction_drift"]["passed"] is None and "training_data" in checks["prediction_drift"]["reason"]


def test_data_quality_names_the_worst_column():
    x = np.linspace(0.0, 10.0, 200)
    x[:20] = np.nan
    x[20:50] = 50.0  # outside the reference's [0, 10]
    color = ["red", "blue"] * 75 + ["green"] * 50  # a category the reference never saw
    status, checks = checks_of(window(200, x=x, color=color))
    assert status == "alert"
    assert checks["data_quality.missing_share"]["value"] == 0.1 and checks["data_quality.missing_share"]["passed"]
    out = checks["data_quality.out_of_range_share"]
    assert out["value"] == 0.15 and out["passed"] is False and out["column"] == "x"
    new = checks["data_quality.new_category_share"]
    assert new["value"] == 0.25 and new["passed"] is False and new["column"] == "color"


def test_service_health_from_failed_rows_and_latency():
    status, checks = checks_of(window(200, errors=20, latency=120.0),
                               checks={"service": {"error_rate": 0.05, "p99_latency_ms": 100}})
    assert status == "alert"
    assert checks["service.error_rate"]["value"] == 0.1 and checks["service.error_rate"]["errors"] == 20
    assert checks["service.p99_latency_ms"]["passed"] is False


def test_small_empty_and_unlabeled_windows_give_reasons():
    status, checks = checks_of(window(5), checks={"performance": {"accuracy": 0.8}})
    assert status == "ok"  # nothing crossed a threshold; nothing could be decided
    assert "min_rows" in checks["feature_drift"]["reason"] and checks["feature_drift"]["value"] is None
    assert "min_labeled" in checks["performance.accuracy"]["reason"]
    status, checks = checks_of(window(0))
    assert status == "no_data" and "feature_drift" in checks
    assert not any(isinstance(e["value"], float) and e["value"] != e["value"] for e in checks.values())  # no NaN


def test_performance_with_labels_and_a_reference_that_lacks_a_feature():
    labels = [1.0] * 150 + [0.0] * 50
    status, checks = checks_of(window(200, labels=labels), checks={"performance": {"accuracy": 0.8}})
    assert checks["performance.accuracy"]["value"] == 0.75 and checks["performance.accuracy"]["passed"] is False
    assert checks["performance.precision"]["passed"] is None  # recorded without a threshold
    assert status == "alert"
