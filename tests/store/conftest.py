"""Store fixtures: a fresh SQLite file per test; PostgreSQL when SHIPYARD_TEST_POSTGRES_URL is set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.store.sql import SqlStore
from tests.conftest import throwaway_postgres


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqlStore]:
    store = SqlStore(f"sqlite:///{tmp_path / 'store.db'}", str(tmp_path / "artifacts"))
    yield store
    store.close()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A throwaway database on the test server, dropped at the end of the session."""
    with throwaway_postgres("shipyard_test") as uri:
        yield uri


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
