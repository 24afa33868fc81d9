"""Store fixtures: a fresh SQLite file per test; PostgreSQL when SHIPYARD_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.store.sql import SqlStore

POSTGRES_URL = os.environ.get("SHIPYARD_TEST_POSTGRES_URL")


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqlStore]:
    store = SqlStore(f"sqlite:///{tmp_path / 'store.db'}", str(tmp_path / "artifacts"))
    yield store
    store.close()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A throwaway database on the test server, dropped at the end of the session."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need SHIPYARD_TEST_POSTGRES_URL (set by .ci/run)")
    import psycopg

    name = f"shipyard_test_{uuid.uuid4().hex[:12]}"
    admin = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.rsplit("/", 1)[0] + "/" + name
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_store(postgres_database: str, tmp_path: Path) -> Iterator[SqlStore]:
    store = SqlStore(postgres_database, str(tmp_path / "artifacts"))
    from sqlalchemy import text

    from shipyard.store.sql.schema import metadata

    with store._engine.begin() as conn:  # every test starts from empty tables
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    yield store
    store.close()
