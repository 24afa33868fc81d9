"""The monitoring methods of ``shipyard.Client`` (a mixin over the client's ``store``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.entities import Alert, Monitor, MonitorResult
    from shipyard.monitoring._runner import MonitorRun
    from shipyard.store.base import Store

__all__ = ["MonitorClient"]


class MonitorClient:
    store: Store

    def create_monitor(self, name: str, deployment: str, *, window: Any, reference: Any = "model",
                       checks: dict[str, Any] | None = None, channels: list[Any] | None = None,
                       schedule: str | None = None, task: str | None = None, min_rows: int = 30,
                       min_labeled: int = 30, description: str = "") -> Monitor:
        """A monitor of ``deployment``; see :func:`shipyard.monitoring.create_monitor`."""
        from shipyard.monitoring._runner import create_monitor

        return create_monitor(name, deployment, window=window, reference=reference, checks=checks, channels=channels,
                              schedule=schedule, task=task, min_rows=min_rows, min_labeled=min_labeled,
                              description=description, store=self.store)

    def update_monitor(self, name: str, **changes: Any) -> Monitor:
        from shipyard.monitoring._runner import update_monitor

        return update_monitor(name, store=self.store, **changes)

    def get_monitor(self, name: str) -> Monitor:
        return self.store.get_monitor(name)

    def list_monitors(self, deployment: str | None = None) -> list[Monitor]:
        return self.store.list_monitors(deployment)

    def delete_monitor(self, name: str) -> None:
        self.store.delete_monitor(name)

    def run_monitor(self, name: str, *, now: int | None = None) -> MonitorRun:
        """Run the monitor once now; the results are stored and incidents updated."""
        from shipyard.monitoring._runner import run_monitor

        return run_monitor(name, store=self.store, now=now)

    def get_monitor_results(self, name: str, *, model: str | None = None, version: int | None = None,
                            since: int | None = None, until: int | None = None,
                            max_results: int = 1000) -> list[MonitorResult]:
        """The monitor's time series (oldest first), optionally of one model version."""
        return self.store.list_monitor_results(name, model, version, since, until, max_results)

    def list_alerts(self, monitor: str | None = None, state: str | None = None, max_results: int = 100) -> list[Alert]:
        """Incidents, newest first; ``state`` "OPEN" or "RESOLVED"."""
        return self.store.list_alerts(monitor, state, max_results)
