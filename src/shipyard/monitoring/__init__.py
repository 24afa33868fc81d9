"""Monitoring: monitors over a deployment's prediction log, model quality from feedback, alerts, Prometheus.

    from shipyard import monitoring
    monitoring.create_monitor("rain", "rain-api", window="1000 rows",
                              checks={"performance": {"accuracy": 0.75, "roc_auc": 0.7}},
                              channels=[{"type": "webhook", "url": "https://hooks.example/rain"}])
    run = monitoring.run_monitor("rain")              # or `shipyard monitors run rain`, or the scheduler
    monitoring.evaluate(y_true, y_pred, thresholds={"accuracy": 0.8})   # the one-call threshold check
    monitoring.estimate(monitoring.Sample(y=y, proba=p), [monitoring.Sample(proba=p_now)])  # before labels

The settings of a monitor are documented in ``_spec``, the checks in ``_checks``, incidents and
channels in ``_alerts``, the gauges in ``_prometheus``; estimation without labels in ``_estimate``
(``_cbpe`` for classifiers, ``_dle`` for regressors, ``_estimator_store`` per model version).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.monitoring._alerts import AlertEvent, deliver
    from shipyard.monitoring._cbpe import ClassifierEstimator
    from shipyard.monitoring._dle import RegressorEstimator
    from shipyard.monitoring._estimate import (
        EstimationReport,
        NotFittedError,
        Sample,
        WindowEstimate,
        estimate,
        fit_estimator,
        load_estimator,
    )
    from shipyard.monitoring._estimator_store import fit_version_estimator, load_version_estimator
    from shipyard.monitoring._metrics import (
        CLASSIFICATION_METRICS,
        REGRESSION_METRICS,
        Evaluation,
        evaluate,
        performance,
    )
    from shipyard.monitoring._prometheus import MonitorCollector, render_metrics
    from shipyard.monitoring._runner import MonitorJob, MonitorRun, create_monitor, run_monitor, update_monitor
    from shipyard.monitoring._spec import CHECKS, DEFAULT_CHECKS, normalize_spec, parse_window

# Imported on first use (PEP 562): ``shipyard.Client`` carries the monitoring methods, and a client
# that never monitors should not pay for pyarrow and prometheus_client at import.
_LAZY = {
    "AlertEvent": "_alerts", "deliver": "_alerts",
    "ClassifierEstimator": "_cbpe", "RegressorEstimator": "_dle",
    "EstimationReport": "_estimate", "NotFittedError": "_estimate", "Sample": "_estimate",
    "WindowEstimate": "_estimate", "estimate": "_estimate", "fit_estimator": "_estimate",
    "load_estimator": "_estimate",
    "fit_version_estimator": "_estimator_store", "load_version_estimator": "_estimator_store",
    "CLASSIFICATION_METRICS": "_metrics", "REGRESSION_METRICS": "_metrics", "Evaluation": "_metrics",
    "evaluate": "_metrics", "performance": "_metrics",
    "MonitorCollector": "_prometheus", "render_metrics": "_prometheus",
    "MonitorJob": "_runner", "MonitorRun": "_runner", "create_monitor": "_runner", "run_monitor": "_runner",
    "update_monitor": "_runner",
    "CHECKS": "_spec", "DEFAULT_CHECKS": "_spec", "normalize_spec": "_spec", "parse_window": "_spec",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f"shipyard.monitoring.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'shipyard.monitoring' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "CHECKS",
    "CLASSIFICATION_METRICS",
    "DEFAULT_CHECKS",
    "REGRESSION_METRICS",
    "AlertEvent",
    "ClassifierEstimator",
    "EstimationReport",
    "Evaluation",
    "MonitorCollector",
    "MonitorJob",
    "MonitorRun",
    "NotFittedError",
    "RegressorEstimator",
    "Sample",
    "WindowEstimate",
    "create_monitor",
    "deliver",
    "estimate",
    "evaluate",
    "fit_estimator",
    "fit_version_estimator",
    "load_estimator",
    "load_version_estimator",
    "normalize_spec",
    "parse_window",
    "performance",
    "render_metrics",
    "run_monitor",
    "update_monitor",
]
