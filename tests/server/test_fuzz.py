"""Fuzzing the API from its own OpenAPI spec (schemathesis): no 5xx, and every answer matches its schema.

One test per operation, each against a fresh store on the live test server, with a small, fixed
number of generated requests (derandomized, so a run is repeatable), to stay within a minute or two.
"""

from __future__ import annotations

import types

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from shipyard.server import create_app

pytestmark = pytest.mark.integration

# The spec does not depend on the store: build it once, at collection, from an app over nothing.
schema = schemathesis.openapi.from_dict(create_app(types.SimpleNamespace(artifact_root="/nonexistent")).openapi())
CHECKS = [checks.not_a_server_error, checks.response_schema_conformance, checks.status_code_conformance,
          checks.content_type_conformance]


@pytest.fixture
def server_url(live_server) -> str:
    return live_server(max_artifact_bytes=10_000).url


@schema.parametrize()
@settings(max_examples=15, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api(case, server_url: str) -> None:
    case.call_and_validate(base_url=server_url, checks=CHECKS)
