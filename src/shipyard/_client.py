"""``shipyard.Client``: every tracking and registry operation as an explicit method."""

from __future__ import annotations

from typing import Any

from shipyard.monitoring._client import MonitorClient
from shipyard.registry.client import RegistryClient
from shipyard.serving.deployments import DeploymentClient

__all__ = ["Client"]


class Client(DeploymentClient, MonitorClient, RegistryClient):
    """Like ``mlflow.MlflowClient``: ``Client()`` uses the configured store, or name one.

    ``Client("sqlite:///team.db", artifact_uri="s3://bucket/artifacts")``.
    """

    def create_monitor(self, name: str, deployment: str, *, window: Any, schedule: str | None = None,
                       **settings: Any) -> Any:
        """A monitor of ``deployment`` (see :func:`shipyard.monitoring.create_monitor`); ``schedule``
        ("every 10m" or cron) is checked here, where the scheduler's parser may be used."""
        _check_schedule(schedule)
        return super().create_monitor(name, deployment, window=window, schedule=schedule, **settings)

    def update_monitor(self, name: str, **changes: Any) -> Any:
        _check_schedule(changes.get("schedule"))
        return super().update_monitor(name, **changes)

    def register_model(self, model_uri: str, name: str, tags: dict[str, Any] | None = None,
                       description: str = "") -> Any:
        from shipyard.models._log import register_model

        return register_model(model_uri, name, tags, description, client=self)

    def load_model(self, model_uri: str) -> Any:
        from shipyard.models._log import load_model

        return load_model(model_uri, client=self)


def _check_schedule(schedule: str | None) -> None:
    if schedule is not None:
        from shipyard.pipelines._schedule import Schedule

        Schedule.parse(schedule)  # InvalidInput naming the accepted forms
