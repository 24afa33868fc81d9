"""Every test gets its own shipyard home (store + artifacts) and a clean fluent session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

POSTGRES_URL = os.environ.get("SHIPYARD_TEST_POSTGRES_URL")


@contextmanager
def throwaway_postgres(prefix: str) -> Iterator[str]:
    """A fresh database on the test server (dropped afterwards); skips when none is configured."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need SHIPYARD_TEST_POSTGRES_URL (set by .ci/run)")
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        from shipyard.tracking.client import _stores

        for key in [k for k in _stores if k[0].endswith("/" + name)]:
            _stores.pop(key).close()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(autouse=True)
def shipyard_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "shipyard-home"
    for var in ("SHIPYARD_TRACKING_URI", "SHIPYARD_STORE_URI", "SHIPYARD_ARTIFACT_URI", "SHIPYARD_EXPERIMENT_NAME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SHIPYARD_HOME", str(home))
    from shipyard.tracking import fluent

    while fluent.active_run() is not None:
        fluent.end_run()
    fluent.set_tracking_uri(None)
    yield home
    while fluent.active_run() is not None:
        fluent.end_run()
    fluent.set_tracking_uri(None)
