"""The ``estimated_performance`` check: a window's quality estimated from its predictions alone.

Each estimated metric is a CheckResult ``estimated_performance.<metric>`` with the 95 % band in
``low``/``high``. Thresholds work as for ``performance`` (given ones, else the primary metric
``relative_drop`` below the version's validation number), so an incident opens before any label
arrives. When the window holds at least ``min_labeled`` labeled rows, the labeled rows are
estimated on their own and compared with their realized metrics: ``realized``, ``error``
(estimated - realized) and ``within_band``. When the realized value fell outside the band in
``misses`` labeled windows in a row (this one and the version's previous ones), the estimate's
assumptions no longer hold (most often concept drift: P(y | x) changed, which no estimate from
x alone can see): ``estimated_performance.assumptions`` fails and the metrics stop deciding
(``passed`` None), so no policy acts on an estimate that the labels contradict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.monitoring._messages import passes
from shipyard.monitoring._metrics import HIGHER_IS_BETTER
from shipyard.monitoring._spec import EstimatedSettings, Threshold

if TYPE_CHECKING:
    import pyarrow as pa

    from shipyard.monitoring._checks import WindowChecks

__all__ = ["PRIMARY_ESTIMATED", "Estimation", "estimated_checks"]

PRIMARY_ESTIMATED = ("roc_auc", "accuracy", "f1", "mae", "rmse", "mape", "precision", "recall")


@dataclass
class Estimation:
    """What the runner hands the check: the version's estimator (or why there is none) and, per
    metric, whether each of the version's previous labeled windows was within the band (oldest first)."""

    estimator: Any = None
    reason: str | None = None
    history: dict[str, list[bool]] = field(default_factory=dict)


def _thresholds(cfg: EstimatedSettings, baseline: dict[str, float], metrics: dict[str, float]) -> dict[str, Threshold]:
    out = {t.metric: t for t in cfg.thresholds}
    if cfg.relative_drop is not None:
        metric = next((m for m in PRIMARY_ESTIMATED if m in baseline and m in metrics and m not in out), None)
        if metric is not None and not out:
            value = baseline[metric]
            margin = abs(value) * cfg.relative_drop
            op = "min" if metric in HIGHER_IS_BETTER else "max"
            out[metric] = Threshold(metric, op, value - margin if op == "min" else value + margin)
    return out


def _window(checks: WindowChecks, table: pa.Table) -> Any:
    from shipyard.monitoring._checks import _numpy, probabilities
    from shipyard.monitoring._estimate import Sample

    est = checks.estimation.estimator
    pred = _numpy(table["prediction"])
    if est.task == "classification":
        return Sample(y_pred=pred, proba=probabilities(table))
    X = {name: _numpy(table[column]) for name, column in checks.features.items()}
    return Sample(y_pred=pred, X=X)


def estimated_checks(checks: WindowChecks, cfg: EstimatedSettings) -> None:
    """Add the check's results to ``checks`` (see the module's doc)."""
    from shipyard.errors import ShipyardError
    from shipyard.monitoring._checks import _numpy, labeled
    from shipyard.monitoring._estimate import realized_metrics, split_bands

    est = checks.estimation.estimator
    given = {t.metric: t for t in cfg.thresholds}
    if est is None or checks._too_few():
        why = checks._too_few() or checks.estimation.reason or "no estimator for this version"
        for g in given.values():
            checks._add(f"estimated_performance.{g.metric}", g.metric, None, g.bound, g.op, reason=why)
        if not given:
            checks._add("estimated_performance", "estimated", None, reason=why)
        return
    try:
        window = _window(checks, checks.ok)
        if est.task == "classification" and window.proba is None:
            raise ShipyardError("the log holds no probabilities for every row of this window")
        summary, values = est.summarize(window.proba, window.y_pred) if est.task == "classification" else \
            est.summarize(window.X, window.y_pred)
    except (ShipyardError, ValueError, TypeError) as exc:  # rows the estimator cannot read: undecided
        for g in given.values():
            checks._add(f"estimated_performance.{g.metric}", g.metric, None, g.bound, g.op, reason=str(exc))
        if not given:
            checks._add("estimated_performance", "estimated", None, reason=str(exc))
        return
    metrics, bands = split_bands(values)
    # the realized side: estimate the labeled rows alone, compare with what their labels say
    side: dict[str, dict[str, Any]] = {}
    rows = labeled(checks.ok)
    if rows.num_rows >= checks.spec.min_labeled:
        try:
            lw = _window(checks, rows)
            lw.y = _numpy(rows["label"])
            on_labeled = est.estimate(lw.proba, lw.y_pred) if est.task == "classification" else \
                est.estimate(lw.X, lw.y_pred)
            realized = realized_metrics(est, lw)
        except (ShipyardError, ValueError, TypeError):
            realized, on_labeled = {}, {}
        lm, lb = split_bands(on_labeled)
        for m, value in realized.items():
            if m in lm and m in lb:
                lo, hi = lb[m]
                side[m] = {"realized": value, "estimated_labeled": lm[m], "error": lm[m] - value,
                           "within_band": bool(lo <= value <= hi)}
    thresholds = _thresholds(cfg, checks.baseline, metrics)
    judged = [m for m in thresholds if m in metrics] or \
        [next((m for m in PRIMARY_ESTIMATED if m in metrics), next(iter(metrics)))]
    broken = _assumptions(checks, cfg, judged, side)
    confusion = np.asarray(summary.confusion).round(3).tolist() if est.task == "classification" else None
    for metric, value in metrics.items():
        t = thresholds.get(metric)
        band = bands.get(metric)
        detail: dict[str, Any] = {"low": band[0] if band else None, "high": band[1] if band else None,
                                  **side.get(metric, {})}
        if metric == "accuracy" and confusion is not None:  # the expected confusion matrix, rows true class
            detail.update(confusion=confusion, classes=list(est.classes_))
        if t is not None and cfg.bound(metric) is None:
            detail.update(baseline=checks.baseline.get(metric), relative_drop=cfg.relative_drop)
        if t is None:
            checks._add(f"estimated_performance.{metric}", metric, value, **detail)
        elif broken:
            checks._add(f"estimated_performance.{metric}", metric, value, t.bound, t.op, None,
                        "the estimate's assumptions no longer hold (see estimated_performance.assumptions)", **detail)
        else:
            checks._add(f"estimated_performance.{metric}", metric, value, t.bound, t.op,
                        passes(t.op, value, t.bound), **detail)
    for m, t in thresholds.items():
        if m not in metrics:
            checks._add(f"estimated_performance.{m}", m, None, t.bound, t.op,
                        reason=f"{m} cannot be estimated for this model")


def _assumptions(checks: WindowChecks, cfg: EstimatedSettings, judged: list[str],
                 side: dict[str, dict[str, Any]]) -> bool:
    """Record whether the labels contradict the estimate; True when they have for ``misses`` windows."""
    runs: dict[str, list[bool]] = {}
    for m in judged:
        past = list(checks.estimation.history.get(m, []))
        if m in side:
            past.append(bool(side[m]["within_band"]))
        runs[m] = past
    if not any(m in side for m in judged):
        return False  # no labels in this window: nothing to contradict the estimate
    streak = max((_trailing_misses(v) for v in runs.values()), default=0)
    broken = streak >= cfg.misses
    labeled_windows = max((len(v) for v in runs.values()), default=0)
    missed = sum(not ok for v in runs.values() for ok in v[-cfg.misses:])
    reason = None
    if broken:
        reason = (f"the realized {', '.join(judged)} fell outside the estimate's band in {streak} labeled windows in "
                  "a row: the estimate's assumptions no longer hold (likely concept drift, P(y | x) changed); "
                  "trust the realized performance")
    checks._add("estimated_performance.assumptions", "misses", float(streak), float(cfg.misses - 1), "max",
                not broken, reason, labeled_windows=labeled_windows, recent_misses=missed, metrics=judged)
    return broken


def _trailing_misses(flags: list[bool]) -> int:
    n = 0
    for ok in reversed(flags):
        if ok:
            break
        n += 1
    return n
