"""The HTTP face of the server: one error shape, no 500 for bad input, artifacts, /metrics, the spec."""

from __future__ import annotations

import math
from collections.abc import Iterator

import httpx
import pytest

from shipyard.entities import Metric, Route
from shipyard.errors import NotFound, StoreUnavailable
from shipyard.store.rest import RestStore
from shipyard.store.sql import SqlStore

pytestmark = pytest.mark.integration


@pytest.fixture
def http(live_server) -> Iterator[httpx.Client]:
    server = live_server(max_artifact_bytes=1000, max_request_bytes=10_000)
    with httpx.Client(base_url=server.url) as client:
        yield client


def _run(sql_store: SqlStore) -> str:
    return sql_store.create_run(sql_store.create_experiment("e")).info.run_id


def test_errors_have_one_shape_and_the_status_of_their_class(http: httpx.Client) -> None:
    r = http.get(f"/api/v1/runs/{'0' * 32}")
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    r = http.post("/api/v1/experiments", json={"name": ""})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert http.post("/api/v1/experiments", json={"name": "x"}).status_code == 200
    r = http.post("/api/v1/experiments", json={"name": "x"})
    assert r.status_code == 409 and r.json() == {"error_code": "RESOURCE_ALREADY_EXISTS",
                                                 "message": r.json()["message"]} and "x" in r.json()["message"]


@pytest.mark.parametrize(("method", "path", "kwargs"), [
    ("POST", "/api/v1/experiments", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
    ("POST", "/api/v1/experiments", {"json": {"name": 5}}),
    ("POST", "/api/v1/experiments", {"json": {"name": "x", "surprise": 1}}),
    ("POST", "/api/v1/runs/search", {"json": {"experiment_ids": "abc", "max_results": 10**30}}),
    ("GET", "/api/v1/registered-models/m/versions/notanumber", {}),
    ("GET", "/api/v1/registered-models/m/versions/99999999999", {}),
    ("POST", "/api/v1/runs/search", {"json": {"experiment_ids": [], "filter": "metrics.x >"}}),
    ("POST", "/api/v1/runs/search", {"json": {"experiment_ids": ["e"], "filter": "(" * 330 + "a.x='x'" + ")" * 330}}),
    ("POST", "/api/v1/runs/search", {"json": {"experiment_ids": ["e"], "filter": " or ".join(["a.run_id='x'"] * 201)}}),
    ("POST", "/api/v1/runs/search", {"json": {"experiment_ids": ["e"], "filter": "params.a = 'x\x00'"}}),
    ("POST", "/api/v1/runs/search", {"json": {"experiment_ids": ["e\x00"]}}),
    ("POST", "/api/v1/experiments", {"json": {"name": "x", "artifact_location": "/tmp/\x00"}}),
])
def test_bad_input_is_a_4xx_with_a_message(http: httpx.Client, method: str, path: str, kwargs: dict) -> None:
    r = http.request(method, path, **kwargs)
    assert 400 <= r.status_code < 500, r.text
    body = r.json()
    assert body["error_code"] in ("INVALID_PARAMETER_VALUE", "INVALID_FILTER") and body["message"]


def test_a_runs_table_filter_too_deep_is_an_inline_error(http: httpx.Client, sql_store: SqlStore) -> None:
    eid = sql_store.create_experiment("e")
    # The page's first render compiles its templates: seconds on a busy machine.
    r = http.get(f"/experiments/{eid}", params={"filter": "(" * 330 + "params.a = 'x'" + ")" * 330}, timeout=60)
    assert r.status_code == 400 and 'id="filter-error"' in r.text and "more than 20 deep" in r.text


def test_unknown_paths_and_too_large_bodies(http: httpx.Client) -> None:
    r = http.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    r = http.post("/api/v1/experiments", json={"name": "x" * 20_000})
    assert r.status_code == 413 and "too large" in r.json()["message"]

    def chunked():  # no Content-Length: counted while it streams
        yield b'{"name": "'
        for _ in range(20):
            yield b"x" * 1000
        yield b'"}'

    r = http.post("/api/v1/experiments", content=chunked(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_non_finite_metric_values_in_raw_json(http: httpx.Client, sql_store: SqlStore) -> None:
    rid = _run(sql_store)
    metrics = [{"key": "m", "value": v, "timestamp": i, "step": i} for i, v in enumerate(["NaN", "Infinity", 1.5])]
    assert http.post(f"/api/v1/runs/{rid}/log-batch", json={"metrics": metrics}).status_code == 200
    history = [m.value for m in sql_store.get_metric_history(rid, "m")]
    assert math.isnan(history[0]) and history[1:] == [math.inf, 1.5]
    assert [m["value"] for m in http.get(f"/api/v1/runs/{rid}/metrics", params={"key": "m"}).json()["metrics"]] \
        == ["NaN", "Infinity", 1.5]


def test_artifacts_upload_download_list_and_limits(http: httpx.Client, sql_store: SqlStore) -> None:
    assert http.put("/api/v1/artifacts/e/r/notes.txt", content=b"hello").json() == {"path": "e/r/notes.txt",
                                                                                     "size": 5}
    assert http.get("/api/v1/artifacts/e/r/notes.txt").content == b"hello"
    listing = http.get("/api/v1/artifacts", params={"path": "e/r"}).json()
    assert listing["is_dir"] and listing["files"] == [{"path": "e/r/notes.txt", "is_dir": False, "size": 5}]
    assert http.get("/api/v1/artifacts", params={"path": "e/r/notes.txt"}).json()["size"] == 5
    assert not http.get("/api/v1/artifacts", params={"path": "nope"}).json()["exists"]
    for bad in ("..%2F..%2Fetc%2Fpasswd", "a/../../x", "%2Fetc%2Fpasswd"):
        r = http.put(f"/api/v1/artifacts/{bad}", content=b"x")
        assert r.status_code in (400, 404), (bad, r.text)
    assert http.get("/api/v1/artifacts", params={"path": "../x"}).status_code == 400
    r = http.put("/api/v1/artifacts/big.bin", content=b"x" * 1001)
    assert r.status_code == 413 and "limit" in r.json()["message"]
    r = http.put("/api/v1/artifacts/big.bin", content=iter([b"x" * 600, b"x" * 600]))  # chunked: counted
    assert r.status_code == 413
    assert http.get("/api/v1/artifacts/big.bin").status_code == 404
    assert http.put("/api/v1/artifacts/e/r/notes.txt/inner", content=b"x").status_code == 409
    assert http.get("/api/v1/artifacts/e/r").status_code == 400  # a directory: list it instead
    root = sql_store.artifact_root
    assert sorted(p.name for p in __import__("pathlib").Path(root, "e", "r").iterdir()) == ["notes.txt"]


def test_artifact_locations_in_answers_name_the_server_not_its_disk(http: httpx.Client, sql_store: SqlStore) -> None:
    rid = _run(sql_store)
    info = http.get(f"/api/v1/runs/{rid}").json()["info"]
    assert info["artifact_uri"].startswith("shipyard-artifacts:/") and sql_store.artifact_root not in str(info)


def test_metrics_has_request_counters_and_monitor_gauges(http: httpx.Client, sql_store: SqlStore) -> None:
    sql_store.create_model_version("churn", "/m")
    sql_store.create_deployment("api", [Route("churn", 1, 100)])
    sql_store.create_monitor("mon", "api", {})
    http.get("/api/v1/experiments")
    text = http.get("/metrics").text
    assert 'shipyard_server_requests_total{method="GET",route="/api/v1/experiments",status="200"} 1.0' in text
    assert 'shipyard_monitor_open_alerts{monitor="mon"} 0.0' in text


def test_health_docs_and_spec(http: httpx.Client) -> None:
    assert http.get("/health").json()["status"] == "ok"
    assert http.get("/docs").status_code == 200
    spec = http.get("/openapi.json").json()
    assert "/api/v1/runs/{run_id}" in spec["paths"] and "HTTPValidationError" not in spec["components"]["schemas"]
    assert spec["paths"]["/api/v1/runs"]["post"]["responses"]["422"]["content"]["application/json"]["schema"] == \
        {"$ref": "#/components/schemas/ErrorBody"}
    info = http.get("/api/v1/server-info").json()
    assert info["artifacts_proxied"] and info["artifact_root"] == "shipyard-artifacts:/" and not info["auth"]


def test_rest_store_reports_an_unreachable_server_as_store_unavailable() -> None:
    store = RestStore("http://127.0.0.1:9", None, timeout=2, retry_s=0)  # retries: tests/store/test_rest.py
    with pytest.raises(StoreUnavailable, match="cannot reach"):
        store.get_run("0" * 32)
    store.close()


def test_rest_store_errors_are_the_server_errors(live_server) -> None:
    store = RestStore(live_server().url)
    with pytest.raises(NotFound, match="not found"):
        store.log_batch("0" * 32, [Metric("m", 1.0, 1, 0)])
    store.close()


def test_api_docs_work_without_network(http: httpx.Client) -> None:
    import re

    page = http.get("/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/") for s in sources), sources  # nothing from another host
    for source in sources:
        assert http.get(source).status_code == 200, source
    assert http.get("/docs/..%2Fapp.py").status_code == 404
