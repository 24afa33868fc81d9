"""Fuzzing the API from its own OpenAPI spec (schemathesis): no 5xx, and every answer matches its schema.

Every operation gets 50 generated requests (strings may hold NUL bytes and any other code point),
against a server over SQLite and one over PostgreSQL (when ``SHIPYARD_TEST_POSTGRES_URL`` is set, as
``.ci/run`` does). One store per database serves all operations, so later requests meet the
experiments, runs and models earlier ones made. Derandomized: a run is repeatable, and a failure
names the request that caused it. Marked ``slow`` (part of the default run; ``-m "not slow"`` skips it).
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from shipyard.server import create_app
from shipyard.store.sql import SqlStore
from tests.conftest import throwaway_postgres
from tests.server.conftest import LiveServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLES_PER_OPERATION = 50

# The spec does not depend on the store: build it once, at collection, from an app over nothing.
schema = schemathesis.openapi.from_dict(create_app(types.SimpleNamespace(artifact_root="/nonexistent")).openapi())
schema.config.generation.update(allow_x00=True, codec="utf-8")
CHECKS = [checks.not_a_server_error, checks.response_schema_conformance, checks.status_code_conformance,
          checks.content_type_conformance]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server on 127.0.0.1 over a store on each database, shared by every operation's test."""
    root: Path = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    sqlite = nullcontext(f"sqlite:///{root / 'fuzz.db'}")
    with throwaway_postgres("fuzz") if request.param == "postgresql" else sqlite as uri:
        store = SqlStore(uri, str(root / "artifacts"))
        server = LiveServer(create_app(store, max_artifact_bytes=10_000))
        try:
            yield server.url
        finally:
            server.stop()
            store.close()


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api(case, server_url: str) -> None:
    # A generous timeout: this asks for no 5xx, not for speed on a shared CI machine (by the end,
    # /metrics reads every monitor the fuzzing made).
    case.call_and_validate(base_url=server_url, checks=CHECKS, timeout=60)
