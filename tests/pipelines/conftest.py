"""A throwaway PostgreSQL database for the pipelines tests when SHIPYARD_TEST_POSTGRES_URL is set."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import throwaway_postgres


@pytest.fixture
def postgres_uri() -> Iterator[str]:
    with throwaway_postgres("shipyard_pipelines") as uri:
        yield uri
