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


async def test_a_failed_prediction_is_logged_with_its_error_and_bad_input_is_not(client, register, make_app, rain,
                                                                                 pred_log):
    register("rain")
    client.create_deployment("api", routes=[{"model": "rain", "version": 1}])
    app = make_app(["api"], prediction_logger=pred_log)
    X, _, names = rain
    rows = [dict(zip(names, X[i].tolist(), strict=True)) for i in range(2)]
    model = app.runtime.get("api").routes[0].pyfunc.raw_model
    coef = model.coef_
    url = "/v1/deployments/api/predict"
    async with http(app) as c:
        ok = (await c.post(url, json={"records": rows[:1]})).json()
        model.coef_ = np.zeros((1, 3))  # the model now raises on any input
        failed = await c.post(url, json={"records": rows})
        assert failed.status_code == 500
        assert (await c.post(url, json={"records": [{"temperature": 1.0}]})).status_code == 400
        model.coef_ = coef
    assert len(pred_log.records) == 3  # one answered row, two failed, none for the 400
    answered, *bad = pred_log.records
    assert answered["request_id"] == ok["request_ids"][0] and answered["error"] is None
    assert [r["request_id"] for r in bad] == failed.json()["request_ids"]
    for i, rec in enumerate(bad):
        assert rec["prediction"] is None and rec["probabilities"] is None and rec["shadow"] is False
        assert rec["error"].startswith("ValueError: ") and len(rec["error"]) <= 500
        assert (rec["model"], rec["version"], rec["revision"]) == ("rain", 1, 1)
        assert rec["features"] == rows[i] and rec["latency_ms"] > 0
    assert bad[0]["timestamp_ms"] >= answered["timestamp_ms"]


async def test_failures_reach_the_parquet_log_next_to_answered_rows(client, register, make_app, rain, tmp_path):
    from shipyard.serving.predlog import PredictionLogger
    from shipyard.serving.reader import read_prediction_log

    register("rain")
    client.create_deployment("api", routes=[{"model": "rain", "version": 1}])
    app = make_app(["api"], prediction_logger=PredictionLogger(str(tmp_path)))
    X, _, names = rain
    body = {"records": [dict(zip(names, X[0].tolist(), strict=True))]}
    model = app.runtime.get("api").routes[0].pyfunc.raw_model
    coef = model.coef_
    async with http(app) as c:
        for broken in (False, True, False):
            model.coef_ = np.zeros((1, 3)) if broken else coef
            await c.post("/v1/deployments/api/predict", json=body)
    await app.aclose()  # flushes the log
    table = read_prediction_log("api", with_feedback=False, root=str(tmp_path))
    assert table.num_rows == 3 and table.schema.field("error").type.equals("string")
    errors = table["error"].to_pylist()
    assert sum(e is not None for e in errors) == 1 and table["prediction"].null_count == 1
    assert table["feature.temperature"].null_count == 0  # the failed row keeps what the model was given


async def test_a_failed_shadow_is_logged_as_a_shadow_row_with_its_error(client, register, make_app, rain, pred_log):
    from sklearn.linear_model import LogisticRegression

    import shipyard
    import shipyard.sklearn

    register("rain")
    register("broken", LogisticRegression(max_iter=500))
    X, y, _ = rain
    narrow = LogisticRegression().fit(X[:, :2], y)  # wants columns a and b, which no request has
    with shipyard.start_run():
        shipyard.sklearn.log_model(narrow, "model", registered_model_name="narrow",
                                   input_example={"a": X[:3, 0].tolist(), "b": X[:3, 1].tolist()})
    client.create_deployment("api", routes=[{"model": "rain", "version": 1}],
                             shadow=[{"model": "broken", "version": 1}, {"model": "narrow", "version": 1}])
    app = make_app(["api"], prediction_logger=pred_log)
    app.runtime.get("api").shadows[0].pyfunc.raw_model.coef_ = None  # breaks predict after loading
    _, _, names = rain
    async with http(app) as c:
        r = await c.post("/v1/deployments/api/predict", json={"records": [dict(zip(names, X[0].tolist(),
                                                                                   strict=True))]})
        assert r.status_code == 200
        await asyncio.wait(list(app._shadow_tasks) or [asyncio.sleep(0)])
    by_model = {rec["model"]: rec for rec in pred_log.records}
    assert set(by_model) == {"rain", "broken", "narrow"}
    assert by_model["rain"]["error"] is None and by_model["rain"]["shadow"] is False
    for name in ("broken", "narrow"):
        rec = by_model[name]
        assert rec["shadow"] is True and rec["request_id"] == r.json()["request_ids"][0]
        assert rec["prediction"] is None and rec["error"]
    assert by_model["broken"]["features"]["temperature"] == X[0, names.index("temperature")]
    assert by_model["narrow"]["features"] == {} and "InvalidInput" in by_model["narrow"]["error"]
