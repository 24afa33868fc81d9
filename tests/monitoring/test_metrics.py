"""Performance metrics equal scikit-learn's; evaluate() is the one-call threshold check."""

from __future__ import annotations

import numpy as np
import pytest

from shipyard.errors import InvalidInput
from shipyard.monitoring import evaluate, performance


@pytest.mark.parametrize("seed", range(5))
def test_binary_metrics_equal_sklearn(seed):
    from sklearn import metrics as skm

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 500)
    score = np.clip(y * 0.3 + rng.random(500) * 0.7, 0, 1).round(2)  # ties in the scores
    pred = (score > 0.5).astype(int)
    got = performance(y, pred, np.column_stack([1 - score, score]))
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
    assert got["precision"] == pytest.approx(skm.precision_score(y, pred), abs=1e-12)
    assert got["recall"] == pytest.approx(skm.recall_score(y, pred), abs=1e-12)
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred), abs=1e-12)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, score), abs=1e-12)
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, np.column_stack([1 - score, score])), abs=1e-9)


def test_multiclass_metrics_equal_sklearn():
    from sklearn import metrics as skm

    rng = np.random.default_rng(7)
    y = rng.integers(0, 3, 600)
    proba = rng.dirichlet([1, 1, 1], 600)
    proba[np.arange(600), y] += 0.5
    proba /= proba.sum(axis=1, keepdims=True)
    pred = proba.argmax(axis=1)
    got = performance(y, pred, proba)
    assert got["precision"] == pytest.approx(skm.precision_score(y, pred, average="macro"), abs=1e-12)
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"), abs=1e-12)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"), abs=1e-12)
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, proba), abs=1e-9)


def test_regression_metrics_equal_sklearn():
    from sklearn import metrics as skm

    rng = np.random.default_rng(3)
    y = rng.normal(100, 20, 400)
    pred = y + rng.normal(0, 5, 400)
    got = performance(y, pred)
    assert set(got) == {"mae", "rmse", "r2", "mape"}
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(y, pred), abs=1e-9)
    assert got["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)), abs=1e-9)
    assert got["r2"] == pytest.approx(skm.r2_score(y, pred), abs=1e-12)
    assert got["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y, pred), abs=1e-12)


def test_evaluate_is_the_one_call_threshold_check():
    y_true, y_pred = [1, 0, 1, 1, 0, 1, 0, 0, 1, 1], [1, 0, 1, 0, 0, 1, 1, 0, 1, 1]
    passed = evaluate(y_true, y_pred, thresholds={"accuracy": 0.8})
    assert passed and passed.metrics["accuracy"] == 0.8
    failed = evaluate(y_true, y_pred, thresholds={"accuracy": 0.9, "f1": {"min": 0.5}})
    assert not failed and failed.failed == {"accuracy": (0.8, "min", 0.9)}
    regression = evaluate([10.0, 20.0, 30.0], [12.0, 18.0, 33.0], thresholds={"mae": 2.0})  # a maximum
    assert not regression and regression.failed["mae"][1] == "max"


def test_undefined_metrics_are_absent_with_a_reason_never_nan():
    one_class = evaluate([1, 1, 1], [1, 0, 1], y_score=[0.9, 0.4, 0.8], thresholds={"roc_auc": 0.7})
    assert "roc_auc" not in one_class.metrics and "one class" in one_class.skipped["roc_auc"]
    assert not one_class and one_class.failed["roc_auc"][0] is None  # a threshold it cannot check fails
    no_proba = evaluate([0, 1], [0, 1])
    assert "log_loss" not in no_proba.metrics and no_proba.skipped["log_loss"]
    assert all(np.isfinite(v) for v in no_proba.metrics.values())


def test_bad_input_is_a_clear_error():
    with pytest.raises(InvalidInput, match="one length"):
        evaluate([1, 0], [1])
    with pytest.raises(InvalidInput, match="unknown metric"):
        evaluate([1, 0], [1, 0], thresholds={"acc": 0.5})
    with pytest.raises(InvalidInput, match="min"):
        evaluate([1, 0], [1, 0], thresholds={"accuracy": {"at_least": 0.5}})
