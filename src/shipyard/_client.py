"""``shipyard.Client``: every tracking and registry operation as an explicit method."""

from __future__ import annotations

from typing import Any

from shipyard.registry.client import RegistryClient
from shipyard.serving.deployments import DeploymentClient

__all__ = ["Client"]


class Client(DeploymentClient, RegistryClient):
    """Like ``mlflow.MlflowClient``: ``Client()`` uses the configured store, or name one.

    ``Client("sqlite:///team.db", artifact_uri="s3://bucket/artifacts")``.
    """

    def register_model(self, model_uri: str, name: str, tags: dict[str, Any] | None = None,
                       description: str = "") -> Any:
        from shipyard.models._log import register_model

        return register_model(model_uri, name, tags, description, client=self)

    def load_model(self, model_uri: str) -> Any:
        from shipyard.models._log import load_model

        return load_model(model_uri, client=self)
