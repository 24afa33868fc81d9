"""Performance estimated without labels, on synthetic data with a known answer.

Covariate shift without concept drift (P(y | x) fixed, x moving): the realized metric of a window
falls within the estimate's 95 % band in at least 90 % of windows -- binary, multiclass, regression.
Concept drift (P(y | x) changed): the estimate misses. A badly calibrated model is calibrated on the
reference (and the estimate is better for it); a well calibrated one is left alone.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from shipyard import monitoring
from shipyard.errors import IntegrityCheckFailed, InvalidInput
from shipyard.monitoring import Sample, estimate

CLASS_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


def _binary(rng, n, shift=0.0, concept=1.0, temperature=1.0, scale=1.0):
    """Rows whose label follows a logistic model of x (its slope on x0 is ``concept``); the model's
    probability is the true one, sharpened by ``temperature`` (> 1: overconfident). A small
    ``scale`` puts the rows near the decision boundary (a covariate shift that hurts)."""
    X = rng.normal(size=(n, 3)) * scale
    X[:, 0] += shift
    true_logit = concept * 1.5 * X[:, 0] - X[:, 1] + 0.5 * X[:, 2]
    y = (rng.random(n) < 1 / (1 + np.exp(-true_logit))).astype(int)
    model_logit = (1.5 * X[:, 0] - X[:, 1] + 0.5 * X[:, 2]) * temperature
    p = 1 / (1 + np.exp(-model_logit))
    return Sample(y=y, proba=np.column_stack([1 - p, p]), y_pred=(p >= 0.5).astype(int))


def _coverage(report, metrics) -> dict[str, float]:
    return {m: report.coverage(m) for m in metrics}


def test_binary_covariate_shift_realized_within_band_in_90_percent_of_windows():
    rng = np.random.default_rng(1)
    reference = _binary(rng, 20_000)
    windows = [_binary(rng, 2000, shift=0.08 * i) for i in range(25)]
    report = estimate(reference, windows)
    assert report.calibrated is False  # the model's probabilities are the true ones: nothing to gain
    coverage = _coverage(report, CLASS_METRICS)
    assert all(c >= 0.9 for c in coverage.values()), coverage
    # the shift moves the metrics (the estimate follows a real change, not a constant)
    first, last = report.windows[0], report.windows[-1]
    assert last.realized["accuracy"] - first.realized["accuracy"] > 0.05
    assert last.metrics["accuracy"] - first.metrics["accuracy"] > 0.05
    assert np.asarray(first.confusion).sum() == pytest.approx(2000)


def _multiclass(rng, n, shift=0.0):
    X = rng.normal(size=(n, 2))
    X[:, 0] += shift
    logits = np.column_stack([X[:, 0], -X[:, 0] + X[:, 1], 0.5 - X[:, 1]]) * 1.5
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = (rng.random(n)[:, None] > np.cumsum(p, axis=1)[:, :-1]).sum(axis=1)
    labels = np.array(["a", "b", "c"])
    return Sample(y=labels[y], proba=p, y_pred=labels[np.argmax(p, axis=1)])


def test_multiclass_covariate_shift_realized_within_band_in_90_percent_of_windows():
    rng = np.random.default_rng(2)
    report = estimate(_multiclass(rng, 20_000), [_multiclass(rng, 2000, shift=0.06 * i) for i in range(25)],
                      classes=["a", "b", "c"])
    coverage = _coverage(report, CLASS_METRICS)
    assert all(c >= 0.9 for c in coverage.values()), coverage
    assert report.classes == ["a", "b", "c"] and np.asarray(report.windows[0].confusion).shape == (3, 3)


def _regression(rng, n, shift=0.0, concept=0.0):
    X = rng.normal(size=(n, 3))
    X[:, 0] += shift
    noise = (0.5 + np.abs(X[:, 0])) * rng.normal(size=n)  # the error grows with |x0|: shift changes MAE
    y = 2 * X[:, 0] + X[:, 1] + concept * X[:, 2] + noise + 10
    y_pred = 2 * X[:, 0] + X[:, 1] + 10
    return Sample(X={"x0": X[:, 0], "x1": X[:, 1], "x2": X[:, 2]}, y_pred=y_pred, y=y)


def test_regression_covariate_shift_realized_within_band_in_90_percent_of_windows():
    rng = np.random.default_rng(3)
    report = estimate(_regression(rng, 30_000), [_regression(rng, 2000, shift=0.06 * i) for i in range(20)])
    assert report.task == "regression"
    coverage = _coverage(report, ("mae", "rmse"))
    assert all(c >= 0.9 for c in coverage.values()), coverage
    assert report.windows[-1].realized["mae"] > 1.2 * report.windows[0].realized["mae"]
    assert "mape" in report.windows[0].metrics  # no reference label is 0


def test_concept_drift_the_estimate_misses():
    rng = np.random.default_rng(4)
    reference = _binary(rng, 20_000)
    # x0 no longer matters: the model is as confident as before, and now wrong much more often
    windows = [_binary(rng, 2000, concept=0.0) for _ in range(10)]
    report = estimate(reference, windows)
    assert report.coverage("roc_auc") == 0.0 and report.coverage("accuracy") == 0.0
    assert all(w.error("roc_auc") > 0.1 for w in report.windows)
    reg = estimate(_regression(rng, 20_000), [_regression(rng, 2000, concept=2.0) for _ in range(5)])
    assert reg.coverage("mae") == 0.0 and all(w.error("mae") < 0 for w in reg.windows)


def test_calibration_helps_an_overconfident_model_and_is_skipped_for_a_calibrated_one():
    rng = np.random.default_rng(5)
    windows = [_binary(rng, 2000, shift=0.04 * i, temperature=3.0) for i in range(25)]
    reference = _binary(rng, 20_000, temperature=3.0)
    calibrated = estimate(reference, windows)
    raw = estimate(reference, windows, calibrate=False)
    assert calibrated.calibrated is True and raw.calibrated is False

    def worst(report, metric):
        return max(abs(w.error(metric)) for w in report.windows)

    assert worst(raw, "accuracy") > 0.1  # an overconfident model believes it is right far too often
    assert worst(calibrated, "accuracy") < 0.035 and worst(calibrated, "roc_auc") < 0.035
    # the raw estimate's band says how little it is worth (its calibration error, measured on the
    # reference, widens it); the calibrated one is narrow and mostly right (the isotonic fit's own
    # error is only partly in the band: measured 76 % of windows for accuracy here, 88 % precision)
    def width(report, metric):
        return float(np.mean([w.bands[metric][1] - w.bands[metric][0] for w in report.windows]))

    assert width(raw, "accuracy") > 3 * width(calibrated, "accuracy")
    assert calibrated.coverage("accuracy") >= 0.7
    est = monitoring.fit_estimator(_binary(rng, 20_000))
    assert est.calibrated_ is False and est.brier_calibrated_ >= est.brier_raw_


def test_window_summaries_merge_exactly_but_roc_auc_within_its_bins():
    rng = np.random.default_rng(6)
    est = monitoring.fit_estimator(_binary(rng, 20_000))
    a, b = _binary(rng, 1500, shift=0.3), _binary(rng, 2500, shift=0.6)
    sa, _ = est.summarize(a.proba, a.y_pred)
    sb, _ = est.summarize(b.proba, b.y_pred)
    merged = est.from_summary(sa.merge(sb))
    whole = est.estimate(np.vstack([a.proba, b.proba]), np.concatenate([a.y_pred, b.y_pred]))
    for m in ("accuracy", "precision", "recall", "f1"):
        assert merged[m] == pytest.approx(whole[m], abs=1e-12)
    assert merged["roc_auc"] == pytest.approx(whole["roc_auc"], abs=0.005)
    assert merged["accuracy_high"] - merged["accuracy_low"] == pytest.approx(
        whole["accuracy_high"] - whole["accuracy_low"], rel=0.01)
    reg = monitoring.fit_estimator(_regression(rng, 5000))
    ra, rb = _regression(rng, 800), _regression(rng, 1200)
    m2 = reg.from_summary(reg.summarize(ra.X, ra.y_pred)[0].merge(reg.summarize(rb.X, rb.y_pred)[0]))
    X = {k: np.concatenate([ra.X[k], rb.X[k]]) for k in ra.X}
    assert m2 == pytest.approx(reg.estimate(X, np.concatenate([ra.y_pred, rb.y_pred])))


def test_estimators_round_trip_through_json_without_pickle():
    import orjson

    rng = np.random.default_rng(7)
    for reference, window in ((_binary(rng, 5000), _binary(rng, 1000, shift=0.5)),
                              (_regression(rng, 5000), _regression(rng, 1000, shift=0.5))):
        est = monitoring.fit_estimator(reference)
        again = monitoring.load_estimator(orjson.loads(orjson.dumps(est.to_dict(), option=orjson.OPT_SERIALIZE_NUMPY)))
        w = Sample.of({"proba": window.proba, "y_pred": window.y_pred, "X": window.X})
        args = (w.proba, w.y_pred) if est.task == "classification" else (w.X, w.y_pred)
        assert again.estimate(*args) == pytest.approx(est.estimate(*args))


def test_the_trees_as_arrays_predict_what_the_libraries_predict():
    from sklearn.ensemble import HistGradientBoostingRegressor

    from shipyard.monitoring._trees import _from_sklearn, fit_forest

    rng = np.random.default_rng(8)
    X = rng.normal(size=(3000, 4))
    X[rng.random(X.shape) < 0.05] = np.nan
    y = np.nansum(X, axis=1) ** 2
    forest, engine = fit_forest(X, y, engine="lightgbm")
    assert engine == "lightgbm"
    np.testing.assert_allclose(forest.walk(X), forest.predict(X), rtol=1e-9, atol=1e-9)
    model = HistGradientBoostingRegressor(max_iter=20, random_state=0).fit(X, y)
    np.testing.assert_allclose(_from_sklearn(model).walk(X), model.predict(X), rtol=1e-9, atol=1e-9)


def test_bad_input_is_a_clear_error():
    rng = np.random.default_rng(9)
    with pytest.raises(InvalidInput, match="labels"):
        monitoring.fit_estimator(Sample(proba=np.full((100, 2), 0.5)))
    with pytest.raises(InvalidInput, match="at least 50"):
        monitoring.fit_estimator(Sample(y=np.zeros(10), proba=np.full((10, 2), 0.5)))
    est = monitoring.fit_estimator(_binary(rng, 1000))
    with pytest.raises(InvalidInput, match="3 probability columns"):
        est.estimate(np.full((10, 3), 1 / 3))
    with pytest.raises(monitoring.NotFittedError):
        monitoring.ClassifierEstimator().estimate(np.full((10, 2), 0.5))
    with pytest.raises(InvalidInput, match="unknown key"):
        estimate(_binary(rng, 1000), [{"probas": np.full((10, 2), 0.5)}])


# --- the monitor check on a hand-built window ------------------------------------------------------

def _table(sample: Sample, labels: bool) -> pa.Table:
    n = len(sample.y)
    return pa.table({
        "request_id": [f"r{i}" for i in range(n)], "model": ["m"] * n, "version": [1] * n,
        "prediction": pa.array(sample.y_pred, pa.int64()), "latency_ms": [1.0] * n,
        "error": pa.array([None] * n, pa.string()),
        "probabilities": pa.array(sample.proba.tolist(), pa.list_(pa.float64())),
        "label": pa.array(sample.y.tolist() if labels else [None] * n, pa.int64()),
    })


def test_the_check_alerts_before_labels_and_says_when_labels_contradict_it():
    from shipyard.monitoring import normalize_spec
    from shipyard.monitoring._checks import run_checks
    from shipyard.monitoring._estimated_check import Estimation

    rng = np.random.default_rng(10)
    est = monitoring.fit_estimator(_binary(rng, 20_000))
    spec = normalize_spec(window=1000, checks={"estimated_performance": {"accuracy": 0.8, "misses": 2}})
    # covariate shift toward the hard region, no labels: the estimate alone opens the alert
    hard = _binary(rng, 1000, scale=0.3)
    status, entries, _, labeled = run_checks(spec, _table(hard, labels=False), None, None,
                                             estimation=Estimation(est))
    found = {e.check: e for e in entries}
    acc = found["estimated_performance.accuracy"]
    assert status == "alert" and labeled == 0 and acc.passed is False and acc.value < 0.8
    assert acc.detail["low"] < acc.value < acc.detail["high"] and "realized" not in acc.detail
    assert np.asarray(acc.detail["confusion"]).sum() == pytest.approx(1000, abs=0.01)
    # labels arrive, and the concept changed: outside the band, a second window in a row -> assumptions broken
    drifted = _binary(rng, 1000, concept=-1.0)
    history = {"accuracy": [False]}
    status, entries, _, _ = run_checks(spec, _table(drifted, labels=True), None, None,
                                       estimation=Estimation(est, history=history))
    found = {e.check: e for e in entries}
    acc = found["estimated_performance.accuracy"]
    assert acc.detail["within_band"] is False and acc.detail["error"] > 0.1
    assert acc.passed is None and "assumptions" in acc.reason
    assumptions = found["estimated_performance.assumptions"]
    assert assumptions.passed is False and "concept drift" in assumptions.reason
    # no estimator: the check cannot decide, and says why
    _, entries, _, _ = run_checks(spec, _table(hard, labels=False), None, None,
                                  estimation=Estimation(None, "no held-out rows"))
    (entry,) = [e for e in entries if e.check.startswith("estimated_performance")]
    assert entry.passed is None and entry.reason == "no held-out rows"


def test_spec_settings_of_the_check():
    from shipyard.monitoring import normalize_spec
    from shipyard.monitoring._spec import MonitorSpec

    assert normalize_spec(window=10)["checks"]["estimated_performance"] is False
    spec = normalize_spec(window=10, checks={"estimated_performance": {"roc_auc": 0.7, "mae": {"max": 3}}})
    typed = MonitorSpec.from_dict(spec).estimated_performance
    assert typed is not None and typed.misses == 3 and typed.bound("roc_auc").op == "min"
    with pytest.raises(InvalidInput, match="unknown metric 'r2'"):
        normalize_spec(window=10, checks={"estimated_performance": {"r2": 0.5}})
    with pytest.raises(InvalidInput, match="misses"):
        normalize_spec(window=10, checks={"estimated_performance": {"misses": 0}})


def test_a_stored_estimator_is_refused_when_its_bytes_changed(shipyard_home):
    import shipyard
    from shipyard.monitoring._estimator_store import save_estimator

    rng = np.random.default_rng(11)
    store = shipyard.Client().store
    est = monitoring.fit_estimator(_binary(rng, 1000))
    from shipyard.artifacts import get_artifact_repository

    repo = get_artifact_repository(store.artifact_root)
    path = save_estimator(repo, "m", 1, est)
    window = _binary(rng, 500, shift=0.5)
    loaded = monitoring.load_version_estimator("m", 1, store=store)
    assert loaded.estimate(window.proba) == pytest.approx(est.estimate(window.proba))
    original = repo.read_bytes(path)
    # flip the calibration flag, whichever way it was fitted
    flipped = {b'"calibrated":true': b'"calibrated":false', b'"calibrated":false': b'"calibrated":true'}
    data = next(original.replace(old, new) for old, new in flipped.items() if old in original)
    repo.log_bytes(data, path)
    with pytest.raises(IntegrityCheckFailed, match="SHA-256"):
        monitoring.load_version_estimator("m", 1, store=store)
    assert monitoring.load_version_estimator("m", 2, store=store) is None
