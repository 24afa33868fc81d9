"""Model quality from ground truth: classification and regression metrics in NumPy, and ``evaluate``.

The metrics follow scikit-learn's definitions (tested against it): binary precision/recall/F1 of the
positive class (the larger label), macro averages for more classes; ROC AUC from the positive-class
score by the rank-sum (Mann-Whitney) identity, one-vs-rest macro for more classes; log loss with
probabilities clipped to [1e-15, 1 - 1e-15]; MAPE as a fraction, skipping zero targets. A metric
that cannot be computed on the data (AUC with one class present, log loss without probabilities)
is absent from the result, with the reason in ``skipped`` -- never NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import rankdata

from shipyard.errors import InvalidInput
from shipyard.monitoring._messages import passes

__all__ = [
    "CLASSIFICATION_METRICS",
    "HIGHER_IS_BETTER",
    "REGRESSION_METRICS",
    "Evaluation",
    "evaluate",
    "performance",
]

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("mae", "rmse", "r2", "mape")
HIGHER_IS_BETTER = frozenset({"accuracy", "precision", "recall", "f1", "roc_auc", "r2"})
_EPS = 1e-15


def infer_task(y_true: np.ndarray, y_pred: np.ndarray, proba: Any = None) -> str:
    """"classification" when there are probabilities or every value is a small set of integers."""
    if proba is not None:
        return "classification"
    if y_pred.dtype.kind in "OUSb" or y_true.dtype.kind in "OUSb":
        return "classification"
    values = np.concatenate([y_true.astype(float), y_pred.astype(float)])
    integral = bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))
    return "classification" if integral and len(np.unique(values)) <= 20 else "regression"


def _classification(y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None,
                    skipped: dict[str, str]) -> dict[str, float]:
    classes = np.unique(np.concatenate([y_true, y_pred]))
    out = {"accuracy": float(np.mean(y_true == y_pred))}
    per_class = []
    for c in classes if len(classes) > 2 else classes[-1:]:
        tp = float(np.sum((y_pred == c) & (y_true == c)))
        predicted, actual = float(np.sum(y_pred == c)), float(np.sum(y_true == c))
        p = tp / predicted if predicted else 0.0
        r = tp / actual if actual else 0.0
        per_class.append((p, r, 2 * p * r / (p + r) if p + r else 0.0))
    out["precision"], out["recall"], out["f1"] = (float(np.mean([pc[i] for pc in per_class])) for i in range(3))
    if proba is None:
        skipped["roc_auc"] = skipped["log_loss"] = "the model gives no probabilities"
        return out
    proba = np.asarray(proba, dtype=float)
    if proba.ndim == 1:
        proba = np.column_stack([1 - proba, proba])
    column = _columns(y_true, classes, proba.shape[1])
    if column is None:
        skipped["roc_auc"] = skipped["log_loss"] = "the labels do not match the probability columns"
        return out
    if proba.shape[1] == 2:
        auc = _auc(column == 1, proba[:, 1], skipped)
    else:  # one-vs-rest, macro over the classes present in the labels
        aucs = [_auc(column == i, proba[:, i], {}) for i in np.unique(column)]
        auc = float(np.mean([a for a in aucs if a is not None])) if any(a is not None for a in aucs) else None
        if auc is None:
            skipped["roc_auc"] = "only one class in the labels"
    if auc is not None:
        out["roc_auc"] = auc
    p = np.clip(proba[np.arange(len(column)), column], _EPS, 1 - _EPS)
    out["log_loss"] = float(-np.mean(np.log(p)))
    return out


def _columns(y_true: np.ndarray, classes: np.ndarray, width: int) -> np.ndarray | None:
    """The probability column of each label: the label itself for integer labels 0..width-1 (what
    classifiers trained on such labels give), else its rank among the sorted classes when the count
    of classes matches the width; None when neither holds."""
    if classes.dtype.kind in "iufb":
        values = classes.astype(float)
        if np.all(values == np.round(values)) and values.min() >= 0 and values.max() < width:
            return y_true.astype(np.int64)
    if len(classes) == width:
        return np.searchsorted(classes, y_true)
    return None


def _auc(positive: np.ndarray, score: np.ndarray, skipped: dict[str, str]) -> float | None:
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        skipped["roc_auc"] = "only one class in the labels"
        return None
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _regression(y_true: np.ndarray, y_pred: np.ndarray, skipped: dict[str, str]) -> dict[str, float]:
    err = y_pred - y_true
    out = {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err**2)))}
    ss_tot = float(np.sum((y_true - y_true.mean()) ** 2))
    if ss_tot > 0:
        out["r2"] = 1.0 - float(np.sum(err**2)) / ss_tot
    else:
        skipped["r2"] = "the labels are constant"
    nonzero = y_true != 0
    if nonzero.any():
        out["mape"] = float(np.mean(np.abs(err[nonzero] / y_true[nonzero])))
    else:
        skipped["mape"] = "every label is 0"
    return out


def performance(y_true: Any, y_pred: Any, proba: Any = None, task: str | None = None,
                skipped: dict[str, str] | None = None) -> dict[str, float]:
    """Every metric of ``task`` ("classification" or "regression", inferred when None) that the data
    allows; why the others are missing goes into ``skipped`` when given."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise InvalidInput(f"y_true and y_pred must be 1-D of one length, got {y_true.shape} and {y_pred.shape}")
    skipped = {} if skipped is None else skipped
    if len(y_true) == 0:
        skipped["*"] = "no labeled rows"
        return {}
    task = task or infer_task(y_true, y_pred, proba)
    if task == "classification":
        if y_true.dtype.kind == "f" and y_pred.dtype.kind != "f":
            y_pred = y_pred.astype(float)
        return _classification(y_true, y_pred, proba, skipped)
    if task == "regression":
        return _regression(y_true.astype(float), y_pred.astype(float), skipped)
    raise InvalidInput(f"task must be 'classification' or 'regression', got {task!r}")


def parse_threshold(metric: str, spec: Any) -> tuple[str, float]:
    """(op, bound) from ``0.8`` (min for higher-is-better metrics, max otherwise) or {"min"|"max": x}."""
    if isinstance(spec, dict):
        if len(spec) != 1 or next(iter(spec)) not in ("min", "max"):
            raise InvalidInput(f"threshold of {metric} must be a number or {{'min': x}} / {{'max': x}}, got {spec!r}")
        op, bound = next(iter(spec.items()))
    else:
        op, bound = ("min" if metric in HIGHER_IS_BETTER else "max"), spec
    if isinstance(bound, bool) or not isinstance(bound, int | float) or bound != bound:
        raise InvalidInput(f"threshold of {metric} must be a number, got {bound!r}")
    return op, float(bound)


@dataclass(frozen=True)
class Evaluation:
    """``metrics`` computed, ``failed`` {metric: (value, op, bound)} under their thresholds,
    ``skipped`` {metric: reason}. Truthy when every threshold passed."""

    metrics: dict[str, float]
    failed: dict[str, tuple[float | None, str, float]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failed

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        verdict = "passed" if self.passed else f"failed {sorted(self.failed)}"
        shown = ", ".join(f"{k}={v:.4g}" for k, v in self.metrics.items())
        return f"Evaluation({verdict}; {shown})"


def evaluate(y_true: Any, y_pred: Any, *, thresholds: dict[str, Any] | None = None, y_score: Any = None,
             task: str | None = None) -> Evaluation:
    """Performance metrics and a threshold check in one call.

        check = shipyard.monitoring.evaluate(y_true, y_pred, thresholds={"accuracy": 0.8})
        if not check: print(check.failed)

    A number is a minimum for accuracy, precision, recall, F1, ROC AUC and R², a maximum for log loss,
    MAE, RMSE and MAPE; ``{"min": x}`` / ``{"max": x}`` say it explicitly. ``y_score``: class
    probabilities (n x classes) or the positive-class score, for ROC AUC and log loss. A threshold
    on a metric the data cannot give (AUC with one class) fails with value None.
    """
    skipped: dict[str, str] = {}
    metrics = performance(y_true, y_pred, y_score, task, skipped)
    failed: dict[str, tuple[float | None, str, float]] = {}
    for metric, spec in (thresholds or {}).items():
        if metric not in CLASSIFICATION_METRICS + REGRESSION_METRICS:
            known = ", ".join(CLASSIFICATION_METRICS + REGRESSION_METRICS)
            raise InvalidInput(f"unknown metric {metric!r} (known: {known})")
        op, bound = parse_threshold(metric, spec)
        value = metrics.get(metric)
        if value is None or not passes(op, value, bound):
            failed[metric] = (value, op, bound)
    return Evaluation(metrics, failed, skipped)
