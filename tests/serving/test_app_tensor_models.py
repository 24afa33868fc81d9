"""PyTorch and ONNX models served over HTTP: native and V2 tensor requests agree with in-process
predictions, bad shapes and dtypes are 4xx naming the input, and the prediction log holds the rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tests.serving.conftest import http

pytestmark = pytest.mark.anyio


@pytest.fixture
def mlp(rain: Any) -> Any:
    torch = pytest.importorskip("torch")
    X, _, _ = rain
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(X.shape[1], 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))


def _cnn() -> Any:
    torch = pytest.importorskip("torch")

    class SmallCNN(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 4, 3)
            self.head = torch.nn.Linear(4, 3)

        def forward(self, x: Any) -> Any:
            return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))

    torch.manual_seed(0)
    return SmallCNN()


def _deploy(client: Any, name: str, info: Any) -> None:
    client.create_deployment(f"{name}-api", routes=[{"model": name, "version": int(info.registered_model_version)}])


async def test_pytorch_mlp_native_mlflow_and_v2_agree_with_the_model(client, make_app, rain, mlp, pred_log):
    import shipyard
    import shipyard.pytorch

    X, _, names = rain
    example = {n: X[:3, i].tolist() for i, n in enumerate(names)}  # named columns: the log keeps the names
    with shipyard.start_run():
        info = shipyard.pytorch.log_model(mlp, "model", input_example=example, training_data=X,
                                          registered_model_name="mlp")
    _deploy(client, "mlp", info)
    local = client.load_model("models:/mlp/1")
    expected = local.predict(X[:6])
    app = make_app(["mlp-api"], prediction_logger=pred_log)
    async with http(app) as c:
        native = (await c.post("/v1/deployments/mlp-api/predict", json={"inputs": X[:6].tolist()})).json()
        mlflow = (await c.post("/invocations", json={"inputs": X[:6].tolist()})).json()
        for dtype in ("FP32", "FP64"):
            v2 = (await c.post("/v2/models/mlp-api/infer", json={"inputs": [
                {"name": "x", "shape": [6, len(names)], "datatype": dtype, "data": X[:6].ravel().tolist()}]})).json()
            assert np.allclose(v2["outputs"][0]["data"], expected, atol=1e-5)
            assert v2["outputs"][0]["datatype"] == "FP32" and v2["outputs"][0]["shape"] == [6]
        ints = (await c.post("/v2/models/mlp-api/infer", json={"inputs": [
            {"name": "x", "shape": [2, len(names)], "datatype": "INT64", "data": list(range(2 * len(names)))}]})).json()
        meta = (await c.get("/v2/models/mlp-api")).json()
        bad = await c.post("/v2/models/mlp-api/infer", json={"inputs": [
            {"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [0.0] * 6}]})
    assert np.allclose(native["predictions"], expected, atol=1e-6)
    assert np.allclose(mlflow["predictions"], expected, atol=1e-6)
    assert meta["platform"] == "shipyard_pytorch" and meta["parameters"]["device"] in ("cpu", "cuda")
    as_floats = np.arange(2 * len(names), dtype=np.float64).reshape(2, -1)
    assert np.allclose(ints["outputs"][0]["data"], local.predict(as_floats), atol=1e-5)
    assert bad.status_code == 400
    logged = [r for r in pred_log.records if r["deployment"] == "mlp-api"]
    assert len(logged) == 6 * 4 + 2 and np.isclose(logged[0]["prediction"], expected[0], atol=1e-5)
    assert logged[0]["features"] == dict(zip(names, X[0].tolist(), strict=True))


async def test_pytorch_classifier_serves_labels_and_logs_probabilities(client, make_app, rain, mlp, pred_log):
    """Logged with classes=, a sigmoid MLP is a classifier to serving: labels answered, probabilities in
    the answer and the log, so monitors and canaries can compute roc_auc from feedback."""
    import torch

    import shipyard
    import shipyard.pytorch

    X, _, names = rain
    net = torch.nn.Sequential(mlp, torch.nn.Sigmoid())
    example = {n: X[:3, i].tolist() for i, n in enumerate(names)}
    with shipyard.start_run():
        info = shipyard.pytorch.log_model(net, "model", input_example=example, classes=[0, 1],
                                          registered_model_name="mlp-clf")
    _deploy(client, "mlp-clf", info)
    with torch.inference_mode():
        p = net(torch.from_numpy(X[:6].astype(np.float32)))[:, 0].numpy()
    app = make_app(["mlp-clf-api"], prediction_logger=pred_log)
    async with http(app) as c:
        native = (await c.post("/v1/deployments/mlp-clf-api/predict", json={"inputs": X[:6].tolist()})).json()
    assert native["predictions"] == (p > 0.5).astype(int).tolist()
    assert np.allclose(np.array(native["probabilities"])[:, 1], p, atol=1e-6)
    logged = [r for r in pred_log.records if r["deployment"] == "mlp-clf-api"]
    assert len(logged) == 6 and np.isclose(logged[0]["probabilities"][1], p[0], atol=1e-6)


async def test_small_cnn_takes_image_tensors_and_refuses_a_wrong_shape_or_dtype(client, make_app, pred_log):
    import shipyard
    import shipyard.pytorch

    images = np.random.default_rng(0).random((5, 1, 8, 8)).astype(np.float32)
    with shipyard.start_run():
        info = shipyard.pytorch.log_model(_cnn(), "model", input_example=images[:2], registered_model_name="cnn")
    _deploy(client, "cnn", info)
    expected = client.load_model("models:/cnn/1").predict(images)
    assert expected.shape == (5, 3)
    app = make_app(["cnn-api"], prediction_logger=pred_log)
    async with http(app) as c:
        v2 = (await c.post("/v2/models/cnn-api/infer", json={"inputs": [
            {"name": "input", "shape": [5, 1, 8, 8], "datatype": "FP32", "data": images.ravel().tolist()}]})).json()
        native = (await c.post("/v1/deployments/cnn-api/predict", json={"inputs": images.tolist()})).json()
        meta = (await c.get("/v2/models/cnn-api")).json()
        wrong_shape = await c.post("/v2/models/cnn-api/infer", json={"inputs": [
            {"name": "input", "shape": [1, 1, 7, 8], "datatype": "FP32", "data": [0.0] * 56}]})
        wrong_dtype = await c.post("/v2/models/cnn-api/infer", json={"inputs": [
            {"name": "input", "shape": [1, 1, 8, 8], "datatype": "BYTES", "data": ["a"] * 64}]})
    assert v2["outputs"][0]["shape"] == [5, 3] and np.allclose(v2["outputs"][0]["data"], expected.ravel(), atol=1e-5)
    assert np.allclose(native["predictions"], expected, atol=1e-5)
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 1, 8, 8]}]
    for answer in (wrong_shape, wrong_dtype):
        assert answer.status_code == 400 and "'input'" in answer.json()["message"], answer.text
    assert len([r for r in pred_log.records if r["deployment"] == "cnn-api"]) == 10


async def test_onnx_from_sklearn_serves_labels_and_probabilities(client, make_app, rain, pred_log):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("skl2onnx")
    from sklearn.linear_model import LogisticRegression

    import shipyard
    import shipyard.onnx

    X, y, names = rain
    model = LogisticRegression(max_iter=500).fit(X, y)
    proto = shipyard.onnx.from_sklearn(model, X[:100])
    example = {n: X[:3, i].tolist() for i, n in enumerate(names)}
    with shipyard.start_run():
        info = shipyard.onnx.log_model(proto, "model", input_example=example, training_data=X,
                                       registered_model_name="rain-onnx")
    _deploy(client, "rain-onnx", info)
    app = make_app(["rain-onnx-api"], prediction_logger=pred_log)
    rows = [dict(zip(names, r, strict=True)) for r in X[:8].tolist()]
    async with http(app) as c:
        native = (await c.post("/v1/deployments/rain-onnx-api/predict", json={"records": rows})).json()
        v2 = (await c.post("/v2/models/rain-onnx-api/infer", json={"inputs": [
            {"name": n, "shape": [8], "datatype": "FP32", "data": X[:8, i].tolist()}
            for i, n in enumerate(names)]})).json()
        missing = await c.post("/v1/deployments/rain-onnx-api/predict", json={"records": [{"x": 1.0}]})
    assert native["predictions"] == model.predict(X[:8]).tolist()
    assert np.allclose(native["probabilities"], model.predict_proba(X[:8]), atol=1e-5)
    assert v2["outputs"][0]["data"] == model.predict(X[:8]).tolist()
    assert v2["outputs"][1]["name"] == "predict_proba" and v2["outputs"][1]["shape"] == [8, 2]
    assert missing.status_code == 400 and names[0] in missing.json()["message"]
    logged = [r for r in pred_log.records if r["deployment"] == "rain-onnx-api"]
    assert len(logged) == 16 and len(logged[0]["probabilities"]) == 2


async def test_concurrent_image_requests_share_forward_passes(client, make_app, pred_log):
    """Single-image requests arriving together are stacked along the batch dimension: fewer
    forward passes than requests, and every answer is the one the image gets alone."""
    import asyncio

    import shipyard
    import shipyard.pytorch

    images = np.random.default_rng(1).random((24, 1, 8, 8)).astype(np.float32)
    with shipyard.start_run():
        info = shipyard.pytorch.log_model(_cnn(), "model", input_example=images[:2], registered_model_name="cnn")
    _deploy(client, "cnn", info)
    alone = client.load_model("models:/cnn/1")
    app = make_app(["cnn-api"], prediction_logger=pred_log)
    blocks: list[Any] = []
    real_append = pred_log.append

    def append(deployment: str, records: Any) -> None:  # one block per forward pass
        blocks.append(records)
        real_append(deployment, records)

    pred_log.append = append
    async with http(app) as c:
        async def one(i: int) -> Any:
            return (await c.post("/v2/models/cnn-api/infer", json={"inputs": [
                {"name": "input", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": images[i].ravel().tolist()}]}))

        answers = await asyncio.gather(*(one(i) for i in range(24)))
    for i, answer in enumerate(answers):
        assert answer.status_code == 200
        assert np.allclose(answer.json()["outputs"][0]["data"], alone.predict(images[i:i + 1]).ravel(), atol=1e-5)
    assert len(pred_log.records) == 24 and len(blocks) < 24
