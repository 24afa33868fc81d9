"""RestStore on its own, through httpx's MockTransport: how it reads what a server (or a proxy) answers,
and how it rides out a server that is restarting."""

from __future__ import annotations

import itertools
import logging
import time

import httpx
import orjson
import pytest

from shipyard.entities import Metric
from shipyard.errors import FilterSyntaxError, InvalidInput, ShipyardError, StoreUnavailable
from shipyard.store import open_store
from shipyard.store.rest import RestStore


def store_answering(handler, retry_s: float = 0) -> RestStore:
    return RestStore("http://server:5000/", None, token="shy_t", transport=httpx.MockTransport(handler),
                     retry_s=retry_s)


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


RUN = {"info": {"run_id": "r" * 32, "experiment_id": "e", "run_name": "n", "status": "RUNNING", "start_time": 1,
                "end_time": None, "artifact_uri": "shipyard-artifacts:/e/r", "lifecycle_stage": "active",
                "user_id": "", "parent_run_id": None},
       "data": {"metrics": {}, "params": {}, "tags": {}}, "inputs": {"dataset_inputs": []}}


def test_connection_errors_and_503s_are_retried_until_the_server_answers(caplog) -> None:
    calls: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic())
        if len(calls) <= 2:
            raise httpx.ConnectError("connection refused", request=request)
        if len(calls) <= 4:
            return httpx.Response(503, json={"error_code": "STORE_UNAVAILABLE", "message": "database restarting"})
        return httpx.Response(200, json=RUN)

    store = store_answering(handler, retry_s=30)
    with caplog.at_level(logging.WARNING, logger="shipyard._http"):
        assert store.get_run("r" * 32).info.run_id == "r" * 32
    assert len(calls) == 5
    pauses = [b - a for a, b in itertools.pairwise(calls)]
    assert 0.1 <= pauses[0] <= 0.3 and pauses[-1] > pauses[0]  # backoff grows
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2  # once down, once back: not once per try
    assert "unavailable" in messages[0] and "ConnectError" in messages[0] and "SHIPYARD_HTTP_RETRY_S" in messages[0]
    assert "answers again" in messages[1]
    store.close()


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 500])
def test_other_answers_are_not_retried(status: int) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(status, json={"error_code": "X", "message": "no"})

    store = store_answering(handler, retry_s=30)
    with pytest.raises(ShipyardError):
        store.get_run("r" * 32)
    assert len(calls) == 1
    store.close()


def test_giving_up_after_the_retry_time_raises_store_unavailable(monkeypatch) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    store = store_answering(handler, retry_s=1)
    start = time.monotonic()
    with pytest.raises(StoreUnavailable, match=r"ConnectError.*retried for 1 s"):
        store.get_run("r" * 32)
    assert 0.9 <= time.monotonic() - start < 3
    monkeypatch.setenv("SHIPYARD_HTTP_RETRY_S", "0.5")
    start = time.monotonic()
    with pytest.raises(StoreUnavailable):
        store_answering(handler, retry_s=None).get_run("r" * 32)  # the environment sets the default
    assert 0.4 <= time.monotonic() - start < 2
    monkeypatch.setenv("SHIPYARD_HTTP_RETRY_S", "soon")
    with pytest.raises(InvalidInput, match="SHIPYARD_HTTP_RETRY_S"):
        store_answering(handler, retry_s=None).get_run("r" * 32)
    store.close()


def test_a_resent_batch_carries_the_same_batch_id() -> None:
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(orjson.loads(request.content))
        if len(seen) == 1:  # the server got it, the answer was lost
            raise httpx.ReadError("connection reset", request=request)
        return httpx.Response(200, json={})

    store = store_answering(handler, retry_s=10)
    store.log_batch("r" * 32, [Metric("m", 1.0, 1, 0)])
    assert len(seen) == 2 and seen[0] == seen[1] and len(seen[0]["batch_id"]) == 32
    store.log_batch("r" * 32, [Metric("m", 1.0, 1, 0)])
    assert seen[2]["batch_id"] != seen[0]["batch_id"]  # a new call is a new batch
    store.close()
