"""``shipyard.evaluate``: MLflow's default metrics of a classifier or regressor, logged to the run.

    result = shipyard.evaluate(model_info.model_uri, test_df, targets="label", model_type="classifier")
    result.metrics["accuracy_score"]

The metric names are MLflow's default evaluator's, computed with NumPy (no scikit-learn needed):
classifiers get ``example_count``, ``accuracy_score``, ``precision_score``, ``recall_score``,
``f1_score`` (binary: of the positive class; more classes: weighted by support), and with
``predict_proba`` ``log_loss`` and (binary) ``roc_auc``; binary ones the four confusion counts.
Regressors get ``example_count``, ``mean_absolute_error``, ``mean_squared_error``,
``root_mean_squared_error``, ``sum_on_target``, ``mean_on_target``, ``r2_score``, ``max_error`` and
``mean_absolute_percentage_error``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shipyard.errors import InvalidInput

__all__ = ["EvaluationResult", "evaluate"]


@dataclass(frozen=True)
class EvaluationResult:
    """What :func:`evaluate` computed; ``metrics`` were also logged to the run ``run_id``."""

    metrics: dict[str, float]
    run_id: str | None = None
    artifacts: dict[str, str] = field(default_factory=dict)


def _classifier(y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None) -> dict[str, float]:
    labels = np.unique(np.concatenate([y, pred]))
    out: dict[str, float] = {"example_count": float(len(y)), "accuracy_score": float(np.mean(y == pred))}
    binary = len(labels) <= 2
    positives = [labels[-1]] if binary else list(labels)
    weights = [1.0] if binary else [float(np.mean(y == c)) for c in labels]
    precision = recall = f1 = 0.0
    for label, weight in zip(positives, weights, strict=True):
        tp = float(np.sum((pred == label) & (y == label)))
        fp = float(np.sum((pred == label) & (y != label)))
        fn = float(np.sum((pred != label) & (y == label)))
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        precision += weight * p
        recall += weight * r
        f1 += weight * (2 * p * r / (p + r) if p + r else 0.0)
        if binary:
            out.update(true_positives=tp, false_positives=fp, false_negatives=fn,
                       true_negatives=float(len(y) - tp - fp - fn))
    out.update(precision_score=precision, recall_score=recall, f1_score=f1)
    if proba is not None and proba.ndim == 2 and proba.shape[1] == len(labels):
        index = np.searchsorted(labels, y)
        picked = np.clip(proba[np.arange(len(y)), index], 1e-15, 1.0)
        out["log_loss"] = float(-np.mean(np.log(picked)))
        if binary and len(labels) == 2:
            out["roc_auc"] = _roc_auc(y == labels[1], proba[:, 1])
    return out


def _roc_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve as the Mann-Whitney statistic (ties count half)."""
    from scipy.stats import rankdata

    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _regressor(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    y, pred = y.astype(np.float64), pred.astype(np.float64)
    err = pred - y
    mse = float(np.mean(err**2))
    total = float(np.sum((y - y.mean()) ** 2))
    nonzero = np.abs(y) > np.finfo(np.float64).eps
    return {
        "example_count": float(len(y)),
        "mean_absolute_error": float(np.mean(np.abs(err))),
        "mean_squared_error": mse,
        "root_mean_squared_error": float(np.sqrt(mse)),
        "sum_on_target": float(y.sum()),
        "mean_on_target": float(y.mean()),
        "r2_score": float(1 - np.sum(err**2) / total) if total else float("nan"),
        "max_error": float(np.max(np.abs(err))),
        "mean_absolute_percentage_error": float(np.mean(np.abs(err[nonzero]) / np.abs(y[nonzero])))
        if nonzero.any() else float("nan"),
    }


def _predictor(model: Any) -> tuple[Callable[[Any], Any], Callable[[Any], Any] | None]:
    if isinstance(model, str):
        from shipyard.models._log import load_model

        model = load_model(model)
    proba = getattr(model, "predict_proba", None)
    if getattr(model, "has_predict_proba", True) is False:
        proba = None
    if callable(getattr(model, "predict", None)):
        return model.predict, proba if callable(proba) else None
    if callable(model):
        return model, None
    raise InvalidInput(f"evaluate needs a model URI, a loaded model or a function, got {type(model).__name__}")


def evaluate(model: Any = None, data: Any = None, *, model_type: str | None = None, targets: Any = None,
             predictions: str | None = None, feature_names: list[str] | None = None, evaluators: Any = None,
             evaluator_config: dict[str, Any] | None = None, extra_metrics: Any = None,
             **mlflow_only: Any) -> EvaluationResult:
    """Evaluate ``model`` on ``data`` and log the metrics to the active run (one is started if none).

    ``data`` is a DataFrame with ``targets`` naming its label column (and ``predictions`` naming a
    column of precomputed predictions when ``model`` is None), or an array with ``targets`` the
    labels. ``model_type`` is "classifier" or "regressor". MLflow's evaluator plug-ins, extra and
    LLM metrics are not supported (InvalidInput); docs/mlflow.md lists what differs.
    """
    from shipyard.tracking.fluent import _current, log_metrics

    if model_type not in ("classifier", "regressor"):
        raise InvalidInput(f"model_type must be 'classifier' or 'regressor', got {model_type!r}")
    if extra_metrics or evaluators not in (None, "default", ["default"]):
        raise InvalidInput("only the default evaluator's metrics are supported (no evaluators= or extra_metrics=)")
    if data is None or targets is None:
        raise InvalidInput("evaluate needs data and targets")
    is_frame = hasattr(data, "columns") and hasattr(data, "iloc")
    if is_frame and isinstance(targets, str):
        if targets not in data.columns:
            raise InvalidInput(f"targets column {targets!r} is not in the data")
        y = data[targets].to_numpy()
        drop = [targets] + ([predictions] if predictions else [])
        features = data.drop(columns=[c for c in drop if c in data.columns])
        if feature_names:
            features = features[list(feature_names)]
    else:
        y, features = np.asarray(targets), data
    proba = None
    if model is None:
        if not (is_frame and predictions):
            raise InvalidInput("without a model, name the column of precomputed predictions: predictions='...'")
        pred = data[predictions].to_numpy()
    else:
        predict, predict_proba = _predictor(model)
        pred = np.asarray(predict(features))
        if model_type == "classifier" and predict_proba is not None:
            try:
                proba = np.asarray(predict_proba(features))
            except Exception:  # a model whose predict_proba fails on this data: no proba metrics
                proba = None
    if pred.ndim > 1 and pred.shape[1] == 1:
        pred = pred[:, 0]
    if len(pred) != len(y):
        raise InvalidInput(f"the model made {len(pred)} predictions for {len(y)} targets")
    y = y.ravel()
    metrics = _classifier(y, pred, proba) if model_type == "classifier" else _regressor(y, pred)
    run = _current("evaluate")
    log_metrics({k: v for k, v in metrics.items() if v == v}, synchronous=True)  # NaN: not computable here
    return EvaluationResult(metrics=metrics, run_id=run.info.run_id)
