"""Performance before labels: estimated model quality per window, from predictions alone.

    from shipyard import monitoring
    report = monitoring.estimate(
        monitoring.Sample(y=y_ref, proba=p_ref, y_pred=pred_ref),            # labeled reference rows
        [monitoring.Sample(proba=p, y_pred=pred) for p, pred in windows])   # windows without labels
    report.windows[0].metrics["roc_auc"], report.windows[0].bands["roc_auc"]

Classifiers (``proba`` given): confidence-based estimation, see ``_cbpe``. Regressors (``X`` and
``y_pred``, no ``proba``): direct loss estimation, see ``_dle``. A window that carries labels too
gets its realized metrics beside the estimate (``realized``, ``error``, ``within_band``).

The estimators are scikit-learn-style (``fit`` then ``estimate``; ``to_dict`` / ``load_estimator``
store and rebuild them as plain JSON, never pickle). Windows merge through their summaries
(``summarize`` / ``merge`` / ``from_summary``): exact for every metric but ROC AUC (binned).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shipyard.errors import InvalidInput

__all__ = ["EstimationReport", "NotFittedError", "Sample", "WindowEstimate", "estimate", "fit_estimator",
           "load_estimator"]


class NotFittedError(InvalidInput, AttributeError):
    """An estimator used before ``fit``."""


@dataclass
class Sample:
    """Rows of a reference or a window: ``y_pred`` (the model's predictions), ``proba`` (class
    probabilities, n x classes, or the positive class's), ``X`` (features: a regressor's loss model
    needs them), ``y`` (labels: required in the reference, optional in a window)."""

    y_pred: Any = None
    proba: Any = None
    X: Any = None
    y: Any = None

    @classmethod
    def of(cls, value: Sample | Mapping[str, Any]) -> Sample:
        if isinstance(value, Sample):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - {"y_pred", "proba", "X", "y"}
            if unknown:
                raise InvalidInput(f"unknown key(s) {', '.join(sorted(unknown))} (known: y_pred, proba, X, y)")
            return cls(**value)
        raise InvalidInput(f"a sample is a monitoring.Sample or a dict of y_pred, proba, X, y; got {type(value)}")


@dataclass
class WindowEstimate:
    """One window: ``metrics`` estimated, ``bands`` {metric: (low, high)} the 95 % sampling band,
    ``realized`` the metrics from labels when the window had them, ``confusion`` the expected
    confusion matrix (classifiers: rows true class, columns predicted, in ``classes`` order)."""

    index: int
    rows: int
    metrics: dict[str, float]
    bands: dict[str, tuple[float, float]]
    realized: dict[str, float] = field(default_factory=dict)
    confusion: list[list[float]] | None = None

    def error(self, metric: str) -> float | None:
        """Estimated minus realized (None without labels)."""
        if metric not in self.realized or metric not in self.metrics:
            return None
        return self.metrics[metric] - self.realized[metric]

    def within_band(self, metric: str) -> bool | None:
        if metric not in self.realized or metric not in self.bands:
            return None
        lo, hi = self.bands[metric]
        return lo <= self.realized[metric] <= hi


@dataclass
class EstimationReport:
    task: str
    windows: list[WindowEstimate]
    reference: dict[str, float]
    calibrated: bool | None = None
    classes: list[Any] | None = None

    def coverage(self, metric: str) -> float | None:
        """The share of labeled windows whose realized ``metric`` fell within the band."""
        hits = [w.within_band(metric) for w in self.windows]
        known = [h for h in hits if h is not None]
        return sum(known) / len(known) if known else None


def split_bands(values: dict[str, float]) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    metrics = {k: v for k, v in values.items() if not k.endswith(("_low", "_high"))}
    bands = {k: (values[f"{k}_low"], values[f"{k}_high"]) for k in metrics if f"{k}_low" in values}
    return metrics, bands


def fit_estimator(reference: Sample | Mapping[str, Any], *, task: str | None = None, calibrate: bool | str = "auto",
                  classes: Any = None, engine: str = "auto") -> Any:
    """A fitted estimator of ``reference`` (labeled rows): ``ClassifierEstimator`` when it has
    probabilities (or ``task="classification"``), else ``RegressorEstimator``."""
    ref = Sample.of(reference)
    if ref.y is None:
        raise InvalidInput("the reference needs labels (y): estimation learns from labeled rows")
    task = task or ("classification" if ref.proba is not None else "regression")
    if task == "classification":
        from shipyard.monitoring._cbpe import ClassifierEstimator

        if ref.proba is None:
            raise InvalidInput("estimating a classifier needs its probabilities (proba)")
        return ClassifierEstimator(classes=classes, calibrate=calibrate).fit(ref.y, ref.proba, ref.y_pred)
    if task == "regression":
        from shipyard.monitoring._dle import RegressorEstimator

        if ref.X is None or ref.y_pred is None:
            raise InvalidInput("estimating a regressor needs the features (X) and the predictions (y_pred)")
        return RegressorEstimator(engine=engine).fit(ref.X, ref.y_pred, ref.y)
    raise InvalidInput(f"task must be 'classification' or 'regression', got {task!r}")


def load_estimator(data: Mapping[str, Any]) -> Any:
    """The estimator that ``to_dict`` wrote."""
    kind = data.get("kind")
    if kind == "cbpe":
        from shipyard.monitoring._cbpe import ClassifierEstimator

        return ClassifierEstimator.from_dict(dict(data))
    if kind == "dle":
        from shipyard.monitoring._dle import RegressorEstimator

        return RegressorEstimator.from_dict(dict(data))
    raise InvalidInput(f"not a stored estimator (kind {kind!r})")


def window_estimate(estimator: Any, window: Sample, index: int = 0) -> WindowEstimate:
    """One window's estimate (and its realized metrics when it has labels)."""
    if estimator.task == "classification":
        if window.proba is None:
            raise InvalidInput(f"window {index} has no probabilities (proba)")
        summary, values = estimator.summarize(window.proba, window.y_pred)
        confusion = summary.confusion.round(6).tolist()
    else:
        if window.X is None or window.y_pred is None:
            raise InvalidInput(f"window {index} needs the features (X) and the predictions (y_pred)")
        summary, values = estimator.summarize(window.X, window.y_pred)
        confusion = None
    metrics, bands = split_bands(values)
    realized: dict[str, float] = {}
    if window.y is not None:
        realized = realized_metrics(estimator, window)
        realized = {k: v for k, v in realized.items() if k in metrics}
    return WindowEstimate(index, summary.n, metrics, bands, realized, confusion)


def realized_metrics(estimator: Any, window: Sample) -> dict[str, float]:
    """The metrics from the window's labels, computed the way the estimator estimates them."""
    from shipyard.monitoring._metrics import performance

    if estimator.task == "classification":
        from shipyard.monitoring._cbpe import _as_proba

        p = _as_proba(window.proba)
        y = np.asarray(window.y)
        pred = estimator._pred_column(window.y_pred, p)
        return estimator._exact(p, pred, estimator._column(y))
    return performance(np.asarray(window.y, dtype=np.float64), np.asarray(window.y_pred, dtype=np.float64),
                       task="regression")


def estimate(reference: Sample | Mapping[str, Any] | Any, windows: Sequence[Sample | Mapping[str, Any]], *,
             task: str | None = None, calibrate: bool | str = "auto", classes: Any = None,
             engine: str = "auto") -> EstimationReport:
    """Fit on ``reference`` (or use a fitted estimator given there) and estimate every window."""
    estimator: Any = reference if hasattr(reference, "summarize") else fit_estimator(
        reference, task=task, calibrate=calibrate, classes=classes, engine=engine)
    out = [window_estimate(estimator, Sample.of(w), i) for i, w in enumerate(windows)]
    return EstimationReport(estimator.task, out, dict(estimator.reference_),
                            getattr(estimator, "calibrated_", None), getattr(estimator, "classes_", None))
