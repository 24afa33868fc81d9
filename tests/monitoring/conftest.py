"""Monitoring tests use the served-rainfall fixtures of the root conftest."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
