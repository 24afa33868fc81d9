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
