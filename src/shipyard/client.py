"""``from mlflow.client import MlflowClient`` as ``from shipyard.client import MlflowClient``."""

from __future__ import annotations

from shipyard._mlflow_face import MlflowClient

__all__ = ["MlflowClient"]
