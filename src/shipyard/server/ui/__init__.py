"""The web UI: server-rendered pages (Jinja2, autoescaped) over the server's store, with small vendored
JavaScript (htmx for forms and partial updates, uPlot for charts) served from ``/static``. No build
step and nothing loaded from the internet.

Pages (see ``docs/ui.md``): experiments and their runs table (``/experiments/<id>``), a run
(``/runs/<id>``), compare (``/compare?run=..&run=..``), models and versions (``/models/...``),
deployments (``/deployments/...``), monitors (``/monitors/...``), feature views (``/features/...``),
pipelines (``/pipelines/...``),
and ``/login`` when auth is on. Chart data comes from ``/series.json`` (downsampled on the server).
None of these routes is in the API's OpenAPI spec.
"""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]


def router() -> APIRouter:
    """Every route of the UI, to mount at the root of the server's app."""
    from shipyard.server.ui import (
        _artifacts,
        _deployments,
        _experiments,
        _features,
        _models,
        _monitors,
        _pipelines,
        _runs,
        _session,
        _web,
    )

    combined = APIRouter(include_in_schema=False)
    for part in (_web.static_router(), _session.router, _experiments.router, _runs.router, _artifacts.router,
                 _models.router, _deployments.router, _monitors.router, _features.router, _pipelines.router):
        combined.include_router(part)
    return combined
