"""Bad input is a 4xx naming the problem and never logged; a model that raises is a 500 with the
request id, and the app keeps serving."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from tests.serving.conftest import http

from shipyard.serving.settings import ServingSettings

pytestmark = pytest.mark.anyio


async def test_bad_input_is_4xx_with_message_and_not_logged(client, register, make_app, rain, pred_log):
    register("rain")
    client.create_deployment("api", routes=[{"model": "rain", "version": 1}])
    app = make_app(["api"], prediction_logger=pred_log, settings=ServingSettings(poll_interval_s=None,
                                                                                 max_body_bytes=4096))
    X, _, names = rain
    row = dict(zip(names, X[0].tolist(), strict=True))
    missing = {k: v for k, v in row.items() if k != "visibility"}
    url = "/v1/deployments/api/predict"
    async with http(app) as c:
        cases = [
            (await c.post("/v1/deployments/nope/predict", json={"records": [row]}), 404, "nope"),
            (await c.post(url, json={"records": [missing]}), 400, "visibility"),
            (await c.post(url, json={"records": [{**row, "dew point": "wet"}]}), 400, "dew point"),
            (await c.post(url, content=b""), 400, "empty"),
            (await c.post(url, content=b"{not json"), 400, "malformed JSON"),
            (await c.post(url, json={"rows": [row]}), 400, "exactly one of"),
            (await c.post(url, json={"records": []}), 400, "no rows"),
            (await c.post(url, json={"inputs": [[1.0, 2.0], [1.0]]}), 400, "same number"),
            (await c.post(url, content=b"[" + b"1.0," * 2000 + b"1.0]"), 413, "limit"),
            (await c.post("/v1/deployments/api/explode", json={}), 404, "no endpoint"),
        ]

        async def chunks():
            for _ in range(10):
                yield b" " * 1000

        cases.append((await c.post(url, content=chunks()), 413, "limit"))  # no Content-Length: counted
        for response, status, fragment in cases:
            assert response.status_code == status, response.text
            body = response.json()
            assert set(body) == {"error_code", "message"} and fragment in body["message"], body
        assert (await c.post(url, json={"records": [row]})).status_code == 200
    assert len(pred_log.records) == 1


async def test_model_that_raises_is_500_with_request_id_and_serving_continues(client, register, make_app, rain):
    register("rain")
    client.create_deployment("api", routes=[{"model": "rain", "version": 1}])
    app = make_app(["api"])
    X, _, names = rain
    body = {"records": [dict(zip(names, X[0].tolist(), strict=True))]}
    model = app.runtime.get("api").routes[0].pyfunc.raw_model
    coef = model.coef_
    async with http(app) as c:
        model.coef_ = np.zeros((1, 3))  # the model now raises on any input
        r = await c.post("/v1/deployments/api/predict", json=body)
        assert r.status_code == 500
        doc = r.json()
        assert doc["error_code"] == "PREDICTION_FAILED" and doc["request_ids"][0] in doc["message"]
        model.coef_ = coef
        assert (await c.post("/v1/deployments/api/predict", json=body)).status_code == 200


async def test_batching_never_changes_an_answer_and_isolates_failures(client, register, make_app, rain):
    from sklearn.ensemble import RandomForestClassifier

    register("forest", RandomForestClassifier(n_estimators=20, random_state=0))
    client.create_deployment("api", routes=[{"model": "forest", "version": 1}],
                             batching={"max_batch_size": 32, "max_wait_ms": 5})
    app = make_app(["api"])
    X, _, names = rain
    rows = [dict(zip(names, r, strict=True)) for r in X[:60].tolist()]
    url = "/v1/deployments/api/predict"
    sizes: list[int] = []
    batcher = app.runtime.get("api").routes[0].batcher
    observe = batcher._on_batch
    batcher._on_batch = lambda n: (sizes.append(n), observe(n))
    async with http(app) as c:
        alone = [(await c.post(url, json={"records": [r]})).json() for r in rows]
        sizes.clear()
        bad = {"records": [{"temperature": 1.0}]}
        together = await asyncio.gather(*[c.post(url, json=b) for b in [{"records": [r]} for r in rows] + [bad]])
    assert max(sizes) > 1  # concurrent requests did share predict calls
    assert together[-1].status_code == 400
    for one, many in zip(alone, together[:-1], strict=True):
        assert many.status_code == 200
        assert many.json()["predictions"] == one["predictions"]
        assert many.json()["probabilities"] == one["probabilities"]
