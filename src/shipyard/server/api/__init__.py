"""The platform API, ``/api/v1/...``: one router per aggregate of the Store, and artifacts."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import APIRouter

__all__ = ["PREFIX", "routers"]

PREFIX = "/api/v1"


def routers() -> list[APIRouter]:
    from shipyard.server.api import (
        artifacts,
        automation,
        deployments,
        features,
        monitors,
        pipelines,
        predlog,
        registry,
        tracking,
    )

    return [tracking.router, registry.router, deployments.router, predlog.router, pipelines.router, monitors.router,
            automation.router, features.router, artifacts.router]
