"""Serving: deployments with weighted, shadow and keyed routing; the serving ASGI app; the prediction log."""

from __future__ import annotations

from shipyard.serving.deployments import DeploymentClient, resolve_routes

__all__ = ["DeploymentClient", "resolve_routes"]
