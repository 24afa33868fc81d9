"""Tracking: experiments, runs, metrics, params, tags, datasets and artifacts."""

from __future__ import annotations

from shipyard.tracking.client import TrackingClient

__all__ = ["TrackingClient"]
