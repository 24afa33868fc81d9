"""Serving: deployments with weighted, keyed and shadow routing; the serving ASGI app with native,
MLflow and Open Inference Protocol (V2) endpoints and micro-batching; the prediction log and feedback.

    app = create_app(store, deployments=["churn-api"], prediction_logger=PredictionLogger(root))
    table = read_prediction_log("churn-api", start="2026-11-01", with_feedback=True)
    compact_prediction_log()  # what the scheduler runs every 5 minutes

Heavy parts (the app, pyarrow) are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from shipyard.serving.deployments import DeploymentClient, resolve_routes

__all__ = [
    "CompactionReport",
    "DeploymentClient",
    "PredictionLogger",
    "ServingApp",
    "ServingSettings",
    "compact_prediction_log",
    "create_app",
    "read_prediction_log",
    "resolve_routes",
]

_LAZY = {
    "CompactionReport": "shipyard.serving.compaction",
    "compact_prediction_log": "shipyard.serving.compaction",
    "PredictionLogger": "shipyard.serving.predlog",
    "ServingApp": "shipyard.serving.app",
    "ServingSettings": "shipyard.serving.settings",
    "create_app": "shipyard.serving.app",
    "read_prediction_log": "shipyard.serving.reader",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'shipyard.serving' has no attribute {name!r}")


if TYPE_CHECKING:
    from shipyard.serving.app import ServingApp, create_app
    from shipyard.serving.compaction import CompactionReport, compact_prediction_log
    from shipyard.serving.predlog import PredictionLogger
    from shipyard.serving.reader import read_prediction_log
    from shipyard.serving.settings import ServingSettings
