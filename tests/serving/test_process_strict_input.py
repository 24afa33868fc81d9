"""Strict input through a real ``shipyard serve`` (2 workers sharing one prediction log): every bad
input is a 4xx with a message, none is logged as a model failure, and feedback is checked, also
when it reaches the worker that did not answer the request."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.serving.test_app_strict_input import BAD_INPUTS, log_month_model
from tests.serving.test_process_serve import Home, Server

pytestmark = pytest.mark.integration


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    import shipyard
    from shipyard.tracking import fluent

    path = tmp_path / "serve-home"
    monkeypatch.setenv("SHIPYARD_HOME", str(path))
    fluent.set_tracking_uri(None)
    log_month_model("months")
    shipyard.Client().create_deployment("months-api", routes=[{"model": "months", "version": 1}])
    fluent.set_tracking_uri(None)
    return Home(path, [])


def test_bad_input_and_feedback_through_shipyard_serve(home: Home) -> None:
    from shipyard.monitoring._checks import split_failed

    server = Server(home, "months-api", "--workers", "2").wait_ready()
    url = f"{server.url}/v1/deployments/months-api"
    answered: list[str] = []
    try:
        with httpx.Client(timeout=30) as http:
            for _ in range(4):  # requests spread over both workers
                good = http.post(f"{url}/predict", json={"records": [{"temp": 12.5, "month": 6}]})
                assert good.status_code == 200, good.text
                answered += good.json()["request_ids"]
            for what, body, status, pattern in BAD_INPUTS:
                answer = http.post(f"{url}/predict", json=body)
                assert answer.status_code == status, (what, answer.text)
                assert re.search(pattern, answer.json()["message"]), (what, answer.json())
            forged = answered[0][:12] + "7" + "0" * 19
            unknown = http.post(f"{url}/feedback", json={"request_id": forged, "label": 1})
            assert unknown.status_code == 404 and "was not answered" in unknown.json()["message"]
            shape = http.post(f"{url}/feedback", json={"request_id": answered[0], "label": [1, 0]})
            assert shape.status_code == 400 and "must be an integer" in shape.json()["message"]
            labels = http.post(f"{url}/feedback", json={"feedback": [
                {"request_id": rid, "label": 1} for rid in answered]})  # some answered by the other worker
            assert labels.status_code == 200 and labels.json() == {"stored": 4}, labels.text
    finally:
        assert server.stop() == 0
    table = home.log("months-api")
    assert table.num_rows == 4 and split_failed(table)[1] == 0  # nothing but the good rows, no failure
    stored: Any = home.client().store.get_feedback("months-api")
    assert sorted(f.request_id for f in stored) == sorted(answered)
