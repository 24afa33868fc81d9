"""The native predict endpoint, feedback, health and metrics, in-process."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tests.serving.conftest import http

pytestmark = pytest.mark.anyio


def _records(rain: Any, n: int, start: int = 0) -> list[dict[str, float]]:
    X, _, names = rain
    return [dict(zip(names, row, strict=True)) for row in X[start:start + n].tolist()]


async def test_predict_records_columns_inputs_agree_with_model(client, register, make_app, rain, pred_log):
    register("rain")
    client.create_deployment("rain-api", routes=[{"model": "rain", "version": 1}])
    app = make_app(["rain-api"], prediction_logger=pred_log)
    X, _, names = rain
    local = client.load_model("models:/rain/1")
    expected = local.predict(X[:5]).tolist()
    rows = _records(rain, 5)
    async with http(app) as c:
        by_records = (await c.post("/v1/deployments/rain-api/predict", json={"records": rows})).json()
        by_columns = (await c.post("/v1/deployments/rain-api/predict",
                                   json={"columns": {n: X[:5, i].tolist() for i, n in enumerate(names)}})).json()
        by_inputs = (await c.post("/v1/deployments/rain-api/predict", json={"inputs": X[:5].tolist()})).json()
    for answer in (by_records, by_columns, by_inputs):
        assert answer["predictions"] == expected
        assert np.allclose(answer["probabilities"], local.predict_proba(X[:5]))
        assert answer["model"] == "rain" and answer["version"] == 1 and answer["revision"] == 1
        assert len(answer["request_ids"]) == 5 == len(set(answer["request_ids"]))
    assert len(pred_log.records) == 15
    rec = pred_log.records[0]
    assert rec["request_id"] == by_records["request_ids"][0] and rec["shadow"] is False
    assert rec["features"] == rows[0] and rec["prediction"] == expected[0]
    assert rec["deployment"] == "rain-api" and rec["revision"] == 1 and rec["version"] == 1
    assert len(rec["probabilities"]) == 2 and rec["latency_ms"] > 0 and rec["timestamp_ms"] > 0


async def test_feedback_health_ready_metrics(client, register, make_app, rain):
    register("rain")
    client.create_deployment("rain-api", routes=[{"model": "rain", "version": 1}])
    app = make_app()
    async with http(app) as c:
        ids = (await c.post("/v1/deployments/rain-api/predict", json={"records": _records(rain, 2)})).json()[
            "request_ids"]
        one = await c.post("/v1/deployments/rain-api/feedback", json={"request_id": ids[0], "label": 1})
        many = await c.post("/v1/deployments/rain-api/feedback",
                            json={"feedback": [{"request_id": i, "label": 0} for i in ids]})
        assert one.json() == {"stored": 1} and many.json() == {"stored": 2}
        assert (await c.post("/v1/deployments/rain-api/feedback", json={"label": 1})).status_code == 400
        assert (await c.get("/health")).json() == {"status": "ok"}
        ready = await c.get("/ready")
        assert ready.status_code == 200 and ready.json() == {"ready": True, "deployments": {"rain-api": 1}}
        await c.post("/v1/deployments/rain-api/predict", json={"records": [{"nope": 1}]})
        text = (await c.get("/metrics")).text
    labels = 'deployment="rain-api",model="rain",revision="1",version="1"'
    assert f"shipyard_serving_requests_total{{{labels}}} 1.0" in text
    assert f"shipyard_serving_rows_total{{{labels}}} 2.0" in text
    assert f"shipyard_serving_request_latency_seconds_count{{{labels}}} 1.0" in text
    assert f"shipyard_serving_batch_size_sum{{{labels}}} 2.0" in text
    assert 'shipyard_serving_errors_total{code="400",' in text
    stored = client.store.get_feedback("rain-api")
    assert {f.request_id: f.label for f in stored} == {ids[0]: 0, ids[1]: 0}


async def test_lifespan_starts_polling_and_closes_the_logger(client, register, make_app, pred_log):
    from shipyard.serving.settings import ServingSettings

    register("rain")
    client.create_deployment("rain-api", routes=[{"model": "rain", "version": 1}])
    app = make_app(["rain-api"], prediction_logger=pred_log, settings=ServingSettings(poll_interval_s=0.05))
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "lifespan.startup.complete":
            assert app.runtime._poller is not None and not pred_log.closed

    await app({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert pred_log.closed and app.runtime._poller is None


async def test_a_batch_of_concurrent_requests_is_logged_once_per_row_as_few_blocks(client, register, make_app,
                                                                                     rain, pred_log):
    """Concurrent requests share predict calls, and the logger gets one block per call: every
    answered row exactly once, with its own request id, time, latency, features and prediction."""
    import asyncio
    import time
    import uuid

    register("rain")
    client.create_deployment("rain-api", routes=[{"model": "rain", "version": 1}])
    app = make_app(["rain-api"], prediction_logger=pred_log)
    blocks: list[Any] = []
    real_append = pred_log.append

    def append(deployment: str, records: Any) -> None:
        blocks.append(records)
        real_append(deployment, records)

    pred_log.append = append
    local = client.load_model("models:/rain/1")
    started = int(time.time() * 1000)
    async with http(app) as c:
        async def one(i: int) -> tuple[list[dict[str, float]], dict[str, Any]]:
            rows = _records(rain, 1 + i % 3, start=i * 3)
            return rows, (await c.post("/v1/deployments/rain-api/predict", json={"records": rows})).json()

        answers = await asyncio.gather(*(one(i) for i in range(40)))
    by_id = {r["request_id"]: r for r in pred_log.records}
    answered = [(rid, row, pred) for rows, a in answers
                for rid, row, pred in zip(a["request_ids"], rows, a["predictions"], strict=True)]
    assert len(pred_log.records) == len(by_id) == len(answered) == sum(1 + i % 3 for i in range(40))
    assert len(blocks) < 40  # batches, not requests
    for rid, row, pred in answered:
        rec = by_id[rid]
        assert uuid.UUID(rid).version == 7 and rid == uuid.UUID(rid).hex
        assert int(rid[:12], 16) == rec["timestamp_ms"]  # the id carries the row's millisecond
        assert rec["features"] == row and rec["prediction"] == pred
        assert rec["prediction"] == local.predict(np.array([list(row.values())]))[0]
        assert started <= rec["timestamp_ms"] <= int(time.time() * 1000) and rec["latency_ms"] > 0
        assert rec["shadow"] is False and rec["error"] is None and rec["version"] == 1
