"""Tracking: experiments, runs, metrics, params, tags, datasets and artifacts."""

from __future__ import annotations

from typing import Any

from shipyard.tracking.client import TrackingClient
from shipyard.tracking.unsent import resend_unsent

__all__ = ["TrackingClient", "resend_unsent"]


def __getattr__(name: str) -> Any:
    # ``from mlflow.tracking import MlflowClient``: the client lives in the face (it spans layers),
    # imported only when this name is asked for.
    if name == "MlflowClient":
        from shipyard._mlflow_face import MlflowClient

        return MlflowClient
    raise AttributeError(f"module 'shipyard.tracking' has no attribute {name!r}")
