"""The shipyard server: the platform's HTTP API (and, beside it, the web UI) over one store.

``create_app(store)`` builds the FastAPI app; ``shipyard server`` runs it with uvicorn. The SDK never
imports this package: remote clients speak to it through :class:`shipyard.store.rest.RestStore`.
"""

from __future__ import annotations

from shipyard.server.app import create_app

__all__ = ["create_app"]
