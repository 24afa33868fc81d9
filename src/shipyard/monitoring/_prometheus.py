"""Prometheus gauges of the monitors' latest results, read from the store at scrape time.

The serving process and the server both append :func:`render_metrics` to their ``/metrics``
(``shipyard serve`` wires it as the serving app's ``extra_metrics``), so whichever one Prometheus
scrapes shows the same numbers; nothing is kept in memory between scrapes.

- ``shipyard_monitor_status{monitor, deployment, model, version}``: 0 ok, 1 alert, 2 no data
- ``shipyard_monitor_feature_drift_score{..., feature, test}`` and ``shipyard_monitor_feature_drifted``
- ``shipyard_monitor_performance{..., metric}``: accuracy, roc_auc, mae, ... from feedback
- ``shipyard_monitor_estimated_performance{..., metric, bound}``: estimated without labels, with
  ``bound`` "value", "low" and "high" (the 95 % band); ``shipyard_monitor_estimation_error{..., metric}``:
  estimated - realized on the window's labeled rows, when it has enough of them
- ``shipyard_monitor_check_value{..., check}`` and ``shipyard_monitor_check_failed{..., check}``
- ``shipyard_monitor_open_alerts{monitor}`` and ``shipyard_monitor_last_run_timestamp_seconds{monitor}``
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

if TYPE_CHECKING:
    from collections.abc import Iterator

    from shipyard.store.base import Store

__all__ = ["MonitorCollector", "render_metrics"]

_STATUS = {"ok": 0, "alert": 1, "no_data": 2}
_VERSION_LABELS = ["monitor", "deployment", "model", "version"]


class MonitorCollector:
    """A prometheus_client collector over the store (register it in any CollectorRegistry)."""

    def __init__(self, store: Store, monitors: list[str] | None = None) -> None:
        self.store, self.monitors = store, monitors

    def collect(self) -> Iterator[GaugeMetricFamily]:
        status = GaugeMetricFamily("shipyard_monitor_status", "Latest monitor status per model version "
                                   "(0 ok, 1 alert, 2 no data)", labels=_VERSION_LABELS)
        score = GaugeMetricFamily("shipyard_monitor_feature_drift_score", "Drift statistic per feature",
                                  labels=[*_VERSION_LABELS, "feature", "test"])
        drifted = GaugeMetricFamily("shipyard_monitor_feature_drifted", "1 if the feature drifted",
                                    labels=[*_VERSION_LABELS, "feature"])
        perf = GaugeMetricFamily("shipyard_monitor_performance", "Model quality from feedback",
                                 labels=[*_VERSION_LABELS, "metric"])
        estimated = GaugeMetricFamily("shipyard_monitor_estimated_performance",
                                      "Model quality estimated from predictions alone, with its 95 % band",
                                      labels=[*_VERSION_LABELS, "metric", "bound"])
        est_error = GaugeMetricFamily("shipyard_monitor_estimation_error",
                                      "Estimated minus realized quality on the window's labeled rows",
                                      labels=[*_VERSION_LABELS, "metric"])
        value = GaugeMetricFamily("shipyard_monitor_check_value", "Value of each check",
                                  labels=[*_VERSION_LABELS, "check"])
        failed = GaugeMetricFamily("shipyard_monitor_check_failed", "1 if the check crossed its threshold",
                                   labels=[*_VERSION_LABELS, "check"])
        alerts = GaugeMetricFamily("shipyard_monitor_open_alerts", "Open incidents", labels=["monitor"])
        last = GaugeMetricFamily("shipyard_monitor_last_run_timestamp_seconds", "When the monitor last ran",
                                 labels=["monitor"])
        open_by_monitor: dict[str, int] = {}
        for alert in self.store.list_alerts(state="OPEN", max_results=10_000):
            open_by_monitor[alert.monitor] = open_by_monitor.get(alert.monitor, 0) + 1
        for monitor in self.store.list_monitors():
            if self.monitors is not None and monitor.name not in self.monitors:
                continue
            alerts.add_metric([monitor.name], open_by_monitor.get(monitor.name, 0))
            results = self.store.list_monitor_results(monitor.name, max_results=50)
            if not results:
                continue
            newest = results[-1].run_time
            last.add_metric([monitor.name], newest / 1000)
            for r in (r for r in results if r.run_time == newest):
                labels = [monitor.name, monitor.deployment, r.model, str(r.version)]
                status.add_metric(labels, _STATUS.get(r.status, 2))
                for f in r.features:
                    if f.get("statistic") is not None:
                        score.add_metric([*labels, f["column"], f["test"]], f["statistic"])
                    drifted.add_metric([*labels, f["column"]], 1 if f.get("drifted") else 0)
                for c in r.checks:
                    if c.value is None:
                        continue
                    value.add_metric([*labels, c.check], c.value)
                    if c.passed is not None:
                        failed.add_metric([*labels, c.check], 0 if c.passed else 1)
                    if c.check.startswith("performance."):
                        perf.add_metric([*labels, c.metric], c.value)
                    elif c.check.startswith("estimated_performance.") and c.metric != "misses":
                        estimated.add_metric([*labels, c.metric, "value"], c.value)
                        for bound in ("low", "high"):
                            if isinstance(c.detail.get(bound), int | float):
                                estimated.add_metric([*labels, c.metric, bound], c.detail[bound])
                        if isinstance(c.detail.get("error"), int | float):
                            est_error.add_metric([*labels, c.metric], c.detail["error"])
        yield from (status, score, drifted, perf, estimated, est_error, value, failed, alerts, last)


def render_metrics(store: Store | None = None, monitors: list[str] | None = None) -> bytes:
    """The gauges in the Prometheus text format (``store``: the configured one when None)."""
    if store is None:  # imported only then: the runner pulls in SciPy and pyarrow, which made a server's
        # first scrape take 6 s on a busy 2-core machine (past httpx's and near Prometheus' timeouts)
        from shipyard.monitoring._runner import _store

        store = _store(None)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MonitorCollector(store, monitors))  # type: ignore[arg-type]
    return generate_latest(registry)
