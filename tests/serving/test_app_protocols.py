"""MLflow scoring protocol and Open Inference Protocol V2 payloads, shaped as their documentation shows."""

from __future__ import annotations

import numpy as np
import pytest
from tests.serving.conftest import http

pytestmark = pytest.mark.anyio


@pytest.fixture
def served(client, register, make_app, rain):
    register("rain")
    client.create_deployment("rain-api", routes=[{"model": "rain", "version": 1}])
    X, _, names = rain
    model = client.load_model("models:/rain/1")
    return make_app(["rain-api"]), X[:3], names, model


async def test_mlflow_four_input_formats(served):
    app, X, names, model = served
    expected = model.predict(X).tolist()
    records = [dict(zip(names, row, strict=True)) for row in X.tolist()]
    payloads = [
        {"dataframe_split": {"columns": names, "data": X.tolist()}},
        {"dataframe_split": {"index": [0, 1, 2], "columns": names[::-1], "data": X[:, ::-1].tolist()}},
        {"dataframe_records": records},
        {"instances": records},
        {"instances": X.tolist()},
        {"inputs": {n: X[:, i].tolist() for i, n in enumerate(names)}},
        {"inputs": X.tolist()},
    ]
    async with http(app) as c:
        for payload in payloads:
            r = await c.post("/invocations", json=payload)
            assert r.status_code == 200, r.text
            assert r.json() == {"predictions": expected}
        csv = ",".join(names) + "\n" + "\n".join(",".join(map(str, row)) for row in X.tolist())
        r = await c.post("/invocations", content=csv, headers={"Content-Type": "text/csv"})
        assert r.json() == {"predictions": expected}
        assert (await c.get("/ping")).status_code == 200
        assert (await c.get("/version")).status_code == 200
        bad = await c.post("/invocations", json={"dataframe_split": {"columns": names, "data": [[1.0]]}})
        assert bad.status_code == 400 and "values" in bad.json()["message"]


async def test_invocations_needs_exactly_one_deployment(client, register, make_app):
    register("rain")
    client.create_deployment("a", routes=[{"model": "rain", "version": 1}])
    client.create_deployment("b", routes=[{"model": "rain", "version": 1}])
    async with http(make_app()) as c:
        r = await c.post("/invocations", json={"inputs": [[1.0]]})
        assert r.status_code == 404 and "exactly one" in r.json()["message"]


async def test_v2_metadata_ready_and_infer(served):
    app, X, names, model = served
    expected = model.predict(X).tolist()
    async with http(app) as c:
        assert (await c.get("/v2/health/live")).json() == {"live": True}
        assert (await c.get("/v2/health/ready")).json() == {"ready": True}
        assert (await c.get("/v2/models/rain-api/ready")).json() == {"name": "rain-api", "ready": True}
        assert (await c.get("/v2/models/rain-api/versions/1/ready")).status_code == 200
        assert (await c.get("/v2/models/rain-api/versions/9/ready")).status_code == 404
        meta = (await c.get("/v2/models/rain-api")).json()
        assert meta["name"] == "rain-api" and meta["versions"] == ["1"] and meta["platform"] == "shipyard_sklearn"
        assert [i["name"] for i in meta["inputs"]] == names
        assert {i["datatype"] for i in meta["inputs"]} == {"FP64"} and meta["inputs"][0]["shape"] == [-1]
        assert [o["name"] for o in meta["outputs"]] == ["predict", "predict_proba"]
        # one named tensor per column, as in the protocol's example request (id echoed, outputs chosen)
        by_column = {"id": "42", "inputs": [
            {"name": n, "shape": [3], "datatype": "FP32" if i % 2 else "FP64", "data": X[:, i].tolist()}
            for i, n in enumerate(names)], "outputs": [{"name": "predict"}]}
        r = (await c.post("/v2/models/rain-api/infer", json=by_column)).json()
        assert r["id"] == "42" and r["model_name"] == "rain-api" and r["model_version"] == "1"
        assert r["outputs"] == [{"name": "predict", "shape": [3], "datatype": "INT64", "data": expected}]
        # one 2-D tensor, data flat in row-major order (the spec's tensor data layout)
        flat = {"inputs": [{"name": "input-0", "shape": [3, len(names)], "datatype": "FP64",
                            "data": X.ravel().tolist()}]}
        r = (await c.post("/v2/models/rain-api/versions/1/infer", json=flat)).json()
        assert r["outputs"][0]["data"] == expected and r["outputs"][1]["shape"] == [3, 2]
        assert np.allclose(np.reshape(r["outputs"][1]["data"], (3, 2)), model.predict_proba(X))
        nested = {"inputs": [{"name": "input-0", "shape": [3, len(names)], "datatype": "FP64", "data": X.tolist()}]}
        assert (await c.post("/v2/models/rain-api/infer", json=nested)).json()["outputs"][0]["data"] == expected
        short = {"inputs": [{"name": "x", "shape": [2, 8], "datatype": "FP64", "data": [1.0, 2.0]}]}
        r = await c.post("/v2/models/rain-api/infer", json=short)
        assert r.status_code == 400 and "shape" in r.json()["message"]
        r = await c.post("/v2/models/rain-api/infer", json={"inputs": [{"name": "x", "shape": [1], "datatype": "FP8",
                                                                        "data": [1]}]})
        assert r.status_code == 400 and "datatype" in r.json()["message"]
