"""A throwaway PostgreSQL database for the pipelines tests when SHIPYARD_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

POSTGRES_URL = os.environ.get("SHIPYARD_TEST_POSTGRES_URL")


@pytest.fixture
def postgres_uri() -> Iterator[str]:
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need SHIPYARD_TEST_POSTGRES_URL")
    import psycopg

    name = f"shipyard_pipelines_{uuid.uuid4().hex[:12]}"
    admin = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield admin.rsplit("/", 1)[0] + "/" + name
    from shipyard.pipelines._execute import _stores

    for key in [k for k in _stores if name in k[0]]:
        _stores.pop(key).close()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
