"""Tracking: experiments, runs, metrics, params, tags, datasets and artifacts."""

from __future__ import annotations

from shipyard.tracking.client import TrackingClient
from shipyard.tracking.unsent import resend_unsent

__all__ = ["TrackingClient", "resend_unsent"]
