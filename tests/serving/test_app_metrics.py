"""/metrics with extra text (monitoring gauges): appended to the serving metrics, a failing source
never hides them, and ``shipyard serve`` passes a source to its workers by name."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest
from tests.serving import _extra_metrics
from tests.serving.conftest import http

from shipyard.errors import InvalidInput
from shipyard.serving.metrics import extra_metrics_spec, resolve_extra_metrics

pytestmark = pytest.mark.anyio


@pytest.fixture
def api(client: Any, register: Any) -> str:
    register("rain")
    client.create_deployment("api", routes=[{"model": "rain", "version": 1}])
    return "api"


@pytest.mark.parametrize("text", [b"extra_gauge 1\n", "extra_gauge 1", b""])
async def test_extra_text_is_appended_to_the_serving_metrics(make_app, api, text):
    app = make_app([api], extra_metrics=lambda: text)
    async with http(app) as c:
        r = await c.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    serving, _, extra = r.text.partition("extra_gauge")
    assert "shipyard_serving_models_loaded 1.0" in serving
    assert r.text.endswith("\n")
    assert (extra == " 1\n") if text else (extra == "")


async def test_a_failing_source_is_logged_and_the_serving_metrics_still_served(make_app, api, caplog):
    calls = []

    def broken() -> bytes:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("monitor store unreachable")
        return b"back 1\n"

    app = make_app([api], extra_metrics=broken)
    with caplog.at_level(logging.WARNING, logger="shipyard.serving.handlers"):
        async with http(app) as c:
            first, second, third = [await c.get("/metrics") for _ in range(3)]
    for r in (first, second):
        assert r.status_code == 200 and "shipyard_serving_models_loaded" in r.text and "back" not in r.text
    assert third.text.endswith("back 1\n")
    messages = [(rec.levelno, rec.getMessage(), rec.exc_info is not None) for rec in caplog.records]
    assert messages[0][0] == logging.ERROR and messages[0][2]  # the traceback, once
    assert "still failing: RuntimeError: monitor store unreachable" in messages[1][1] and not messages[1][2]


async def test_a_source_that_returns_no_text_counts_as_failing(make_app, api):
    app = make_app([api], extra_metrics=lambda: 3)
    async with http(app) as c:
        r = await c.get("/metrics")
    assert r.status_code == 200 and "shipyard_serving_requests" in r.text


def test_resolve_and_name_a_source() -> None:
    spec = "tests.serving._extra_metrics:scrape"
    assert resolve_extra_metrics(spec) is _extra_metrics.scrape
    assert resolve_extra_metrics(None) is None and resolve_extra_metrics(len) is len
    assert extra_metrics_spec(_extra_metrics.scrape) == spec and extra_metrics_spec(spec) == spec
    assert extra_metrics_spec(None) is None
    for bad, message in [("tests.serving._extra_metrics", "module:function"), ("a:b:c", "module:function"),
                         ("no_such_module_x:f", "cannot be imported"),
                         ("tests.serving._extra_metrics:missing", "cannot be imported"),
                         ("tests.serving._extra_metrics:not_callable", "not callable")]:
        with pytest.raises(InvalidInput, match=message):
            resolve_extra_metrics(bad)
    with pytest.raises(InvalidInput, match="cannot be imported by a worker"):
        extra_metrics_spec(lambda: "x")

    def local() -> str:
        return ""

    with pytest.raises(InvalidInput, match="cannot be imported by a worker"):
        extra_metrics_spec(local)


def test_serve_checks_the_source_before_listening_and_names_it_for_workers(api, monkeypatch) -> None:
    from shipyard.serving import server

    with pytest.raises(InvalidInput, match="cannot be imported"):
        server.run(server.ServeOptions(names=(api,), port=0, extra_metrics="tests.serving._extra_metrics:nope"))
    with pytest.raises(InvalidInput, match="worker"):
        server.run(server.ServeOptions(names=(api,), port=0, workers=2, extra_metrics=lambda: ""))

    started: dict[str, Any] = {}

    class FakeSupervisor:
        def __init__(self, command: Any, count: int, **kw: Any) -> None:
            started.update(kw["env"])

        def run(self) -> int:
            return 0

    monkeypatch.setattr(server, "Supervisor", FakeSupervisor)
    monkeypatch.setattr(server, "_configure_logging", lambda level: None)
    options = server.ServeOptions(names=(api,), port=0, workers=2, extra_metrics=_extra_metrics.scrape)
    assert server.run(options, say=lambda text: None) == 0
    worker_options = orjson.loads(started["SHIPYARD_SERVE_WORKER_OPTIONS"])
    assert worker_options["extra_metrics"] == "tests.serving._extra_metrics:scrape"


def _series(text: str, name: str) -> dict[str, float]:
    """``{labels: value}`` of one metric in Prometheus text."""
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            labels, _, value = line[len(name):].rpartition(" ")
            out[labels] = float(value)
    return out


async def test_traffic_share_follows_the_current_revision(make_app, client, register):
    from shipyard.entities import Route

    register("rain")
    register("rain")
    client.create_deployment("api", routes=[{"model": "rain", "version": 1}])
    app = make_app(["api"])
    async with http(app) as c:
        first = _series((await c.get("/metrics")).text, "shipyard_serving_traffic_share")
        client.store.update_deployment("api", routes=[Route("rain", 1, 90.0), Route("rain", 2, 10.0)],
                                       shadow=[Route("rain", 2, 100.0)])
        app.runtime.refresh()
        second = _series((await c.get("/metrics")).text, "shipyard_serving_traffic_share")
    assert first == {'{deployment="api",model="rain",revision="1",role="route",version="1"}': 1.0}
    # the old revision's series are gone; the canary's shares add up to 1 and the shadow answers none
    assert second == {'{deployment="api",model="rain",revision="2",role="route",version="1"}': 0.9,
                      '{deployment="api",model="rain",revision="2",role="route",version="2"}': 0.1,
                      '{deployment="api",model="rain",revision="2",role="shadow",version="2"}': 0.0}


async def test_prediction_log_lag_and_counts_are_exported(make_app, api, rain, tmp_path):
    from shipyard.serving.predlog import PredictionLogger

    X, _, names = rain
    logger = PredictionLogger(str(tmp_path), max_seconds=3600)
    app = make_app([api], prediction_logger=logger)
    body = orjson.dumps({"dataframe_split": {"columns": names, "data": X[:3].tolist()}})
    async with http(app) as c:
        r = await c.post(f"/v1/deployments/{api}/predict", content=body,
                         headers={"content-type": "application/json"})
        assert r.status_code == 200, r.text
        before = (await c.get("/metrics")).text
        logger.flush()
        after = (await c.get("/metrics")).text
    assert _series(before, "shipyard_prediction_log_buffered_rows") == {"": 3.0}
    assert _series(before, "shipyard_prediction_log_lag_seconds")[""] > 0
    assert _series(after, "shipyard_prediction_log_buffered_rows") == {"": 0.0}
    assert _series(after, "shipyard_prediction_log_lag_seconds") == {"": 0.0}
    assert _series(after, "shipyard_prediction_log_written_rows_total") == {"": 3.0}
    assert _series(after, "shipyard_prediction_log_dropped_rows_total") == {"": 0.0}


def test_route_series_are_what_prometheus_client_would_write() -> None:
    """Requests, rows and latency are kept as plain numbers and exported at scrape time: the same
    samples a prometheus_client Counter and Histogram fed the same requests write, values on a
    bucket's bound included (Prometheus' ``le`` is "at most")."""
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from shipyard.serving.metrics import _LABELS, _LATENCY_BUCKETS, ServingMetrics

    ours = ServingMetrics()
    route = ours.route("api", 3, "rain", 2)
    other = ours.route("api", 3, "rain", 1)
    registry = CollectorRegistry()
    requests = Counter("shipyard_serving_requests", "x", _LABELS, registry=registry)
    rows = Counter("shipyard_serving_rows", "x", _LABELS, registry=registry)
    latency = Histogram("shipyard_serving_request_latency_seconds", "x", _LABELS, buckets=_LATENCY_BUCKETS,
                        registry=registry)
    seconds = [*_LATENCY_BUCKETS, 0.0, 0.0003, 0.0007, 0.003, 0.7, 11.0, 1e-9, *(b + 1e-12 for b in _LATENCY_BUCKETS)]
    for i, s in enumerate(seconds):
        route.answered(1 + i % 3, s)
        requests.labels("api", "3", "rain", "2").inc()
        rows.labels("api", "3", "rain", "2").inc(1 + i % 3)
        latency.labels("api", "3", "rain", "2").observe(s)
    route.shadow_answered(5)
    rows.labels("api", "3", "rain", "2").inc(5)
    other.answered(1, 0.001)

    def samples(text: bytes, version: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text.decode()) for s in family.samples
                if s.labels.get("version") == version and not s.name.endswith("_created")
                and family.name in ("shipyard_serving_requests", "shipyard_serving_rows",
                                    "shipyard_serving_request_latency_seconds")}

    expected = samples(generate_latest(registry), "2")
    got = samples(ours.render(), "2")
    assert got == expected and len(got) == len(_LATENCY_BUCKETS) + 5  # buckets, +Inf, count, sum, requests, rows
    assert samples(ours.render(), "1")[("shipyard_serving_requests_total", (("deployment", "api"), ("model", "rain"),
                                                                             ("revision", "3"), ("version", "1")))] == 1
    assert b"shipyard_serving_request_latency_seconds_created{" in ours.render()
