"""RestStore on its own, through httpx's MockTransport: how it reads what a server (or a proxy) answers."""

from __future__ import annotations

import httpx
import orjson
import pytest

from shipyard.entities import Metric
from shipyard.errors import FilterSyntaxError, InvalidInput, ShipyardError, StoreUnavailable
from shipyard.store import open_store
from shipyard.store.rest import RestStore


def store_answering(handler) -> RestStore:
    return RestStore("http://server:5000/", None, token="shy_t", transport=httpx.MockTransport(handler))


def test_requests_carry_the_token_and_artifact_locations_become_server_urls() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"experiment_id": "e", "name": "x", "lifecycle_stage": "active",
                                         "artifact_location": "shipyard-artifacts:/e", "tags": {},
                                         "creation_time": 1, "last_update_time": 1})

    store = store_answering(handler)
    experiment = store.get_experiment("e")
    assert experiment.artifact_location == "http://server:5000/api/v1/artifacts/e"
    assert seen[0].headers["authorization"] == "Bearer shy_t" and seen[0].url.path == "/api/v1/experiments/e"
    store.create_experiment("x", artifact_location="http://server:5000/api/v1/artifacts/custom")
    assert orjson.loads(seen[1].content)["artifact_location"] == "shipyard-artifacts:/custom"
    store.close()


def test_error_answers_become_exceptions() -> None:
    answers = iter([
        httpx.Response(400, json={"error_code": "INVALID_FILTER", "message": "bad at position 3"}),
        httpx.Response(418, json={"error_code": "SOMETHING_NEW", "message": "teapot"}),
        httpx.Response(502, text="<html>Bad Gateway</html>"),
    ])
    store = store_answering(lambda request: next(answers))
    with pytest.raises(FilterSyntaxError, match="position 3"):
        store.search_runs(["e"], "x")
    with pytest.raises(ShipyardError, match="teapot"):
        store.get_run("0" * 32)
    with pytest.raises(StoreUnavailable, match="502"):
        store.get_run("0" * 32)
    store.close()


def test_bad_values_are_refused_before_any_request() -> None:
    store = store_answering(lambda request: pytest.fail("no request expected"))
    with pytest.raises(InvalidInput, match="not a number"):
        store.log_batch("r" * 32, [Metric("m", "high", 1, 0)])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="JSON"):
        store.create_pipeline_run("etl", {"x": object()})
    with pytest.raises(InvalidInput, match="empty"):
        store.get_deployment("")
    store.close()


def test_http_uris_open_a_rest_store() -> None:
    store = open_store("https://shipyard.example:8443", "https://shipyard.example:8443/api/v1/artifacts")
    assert isinstance(store, RestStore) and store.artifacts_url == "https://shipyard.example:8443/api/v1/artifacts"
    store.close()
