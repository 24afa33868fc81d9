"""Strict, typed serving input, in-process: each kind of bad input is a 4xx naming the problem (the
column and row where there is one), never reaches the model, and never shows up as a model failure
in the prediction log, so the error rate that monitors and rollouts compute stays where it was.
Feedback must name a request this deployment answered and carry a label of the model's type."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from tests.serving.conftest import http

pytestmark = pytest.mark.anyio

BAD_INPUTS = [
    # (what, body, status, message pattern)
    ("null in a float column", {"records": [{"temp": 1.0, "month": 3}, {"temp": None, "month": 4}]},
     400, "column 'temp' row 1: a value is required"),
    ("string in a float column", {"records": [{"temp": "warm", "month": 3}]},
     400, "column 'temp' row 0: expects float64, got str 'warm'"),
    ("2**64 in an int64 column", {"records": [{"temp": 1.0, "month": 3}, {"temp": 1.0, "month": 2**64}]},
     400, "column 'month' row 1: 1.8446744073709552e\\+19 is out of range for int64"),
    ("2**63 in an int64 column", {"columns": {"temp": [1.0], "month": [2**63]}},
     400, "column 'month' row 0: 9.22\\d*e\\+18 is out of range for int64"),
    ("a fraction in an int64 column", {"inputs": [[1.0, 2.5]]}, 400, "column 'month' row 0: expects int64"),
    ("100k rows", {"inputs": [[0.5, 1]] * 100_000}, 413, "request has 100000 rows, over the limit of 10000"),
]


def month_model_data(n: int = 3000) -> tuple[Any, np.ndarray]:
    """A DataFrame (float ``temp``, int64 ``month``) and a 0/1 label that depends on both."""
    import pandas as pd

    rng = np.random.default_rng(7)
    df = pd.DataFrame({"temp": rng.normal(10, 5, n), "month": rng.integers(1, 13, n).astype(np.int64)})
    y = ((df["temp"] + df["month"] / 2 + rng.normal(0, 2, n)) > 13).astype(int).to_numpy()
    return df, y


def log_month_model(name: str) -> Any:
    """A classifier fitted on a DataFrame and logged with ``training_data`` only (no input example,
    no signature given): the signature is inferred from the training data."""
    from sklearn.linear_model import LogisticRegression

    import shipyard
    import shipyard.sklearn

    df, y = month_model_data()
    model = LogisticRegression(max_iter=500).fit(df, y)
    with shipyard.start_run():
        info = shipyard.sklearn.log_model(model, "model", registered_model_name=name, training_data=df)
    return info


@pytest.fixture
def strict(client: Any, make_app: Any, tmp_path: Any) -> Any:
    from shipyard.serving.predlog import PredictionLogger
    from shipyard.serving.settings import ServingSettings

    info = log_month_model("months")
    assert [(c.name, c.type, c.required) for c in info.signature.inputs] == [("temp", "float64", True),
                                                                             ("month", "int64", True)]
    client.create_deployment("months-api", routes=[{"model": "months", "version": 1}])
    plog = PredictionLogger(str(tmp_path / "log"), max_seconds=0.2)
    settings = ServingSettings(poll_interval_s=None, max_body_bytes=64 << 20)
    return make_app(["months-api"], prediction_logger=plog, settings=settings), plog


def _error_rate(plog: Any, root: str) -> tuple[int, int]:
    """(rows logged, rows the monitor counts as model failures)."""
    from shipyard.monitoring._checks import split_failed
    from shipyard.serving.reader import read_prediction_log

    plog.flush()
    table = read_prediction_log("months-api", with_feedback=False, root=root)
    return table.num_rows, split_failed(table)[1]


def _errors_by_status(metrics: bytes) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in metrics.decode().splitlines():
        if line.startswith("shipyard_serving_errors_total{"):
            code = line.split('code="')[1].split('"')[0]
            out[code] = out.get(code, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


async def test_bad_input_is_4xx_naming_column_and_row_and_never_a_model_failure(strict, tmp_path):
    app, plog = strict
    good = {"records": [{"temp": 12.5, "month": 6}, {"temp": 3.0, "month": 1}]}
    async with http(app) as c:
        first = await c.post("/v1/deployments/months-api/predict", json=good)
        assert first.status_code == 200, first.text
        before = _error_rate(plog, str(tmp_path / "log"))
        assert before == (2, 0)
        for what, body, status, pattern in BAD_INPUTS:
            answer = await c.post("/v1/deployments/months-api/predict", json=body)
            assert answer.status_code == status, (what, answer.text)
            assert answer.json()["message"] and __import__("re").search(pattern, answer.json()["message"]), \
                (what, answer.json())
        # MLflow's and V2's endpoints go through the same checks
        mlflow = await c.post("/invocations", json={"dataframe_split": {"columns": ["temp", "month"],
                                                                         "data": [[None, 1]]}})
        assert mlflow.status_code == 400 and "column 'temp' row 0" in mlflow.json()["message"]
        v2 = await c.post("/v2/models/months-api/infer", json={"inputs": [
            {"name": "temp", "shape": [1], "datatype": "FP64", "data": [1.0]},
            {"name": "month", "shape": [1], "datatype": "FP64", "data": [1e30]}]})
        assert v2.status_code == 400 and "column 'month' row 0" in v2.json()["message"]
        v2_null = await c.post("/v2/models/months-api/infer", json={"inputs": [
            {"name": "temp", "shape": [2], "datatype": "FP64", "data": [1.0, None]},
            {"name": "month", "shape": [2], "datatype": "INT64", "data": [1, 2]}]})
        assert v2_null.status_code == 400 and "column 'temp' row 1: a value is required" in v2_null.json()["message"]
        v2_big = await c.post("/v2/models/months-api/infer", json={"inputs": [
            {"name": "temp", "shape": [1], "datatype": "FP64", "data": [1.0]},
            {"name": "month", "shape": [1], "datatype": "INT64", "data": [2**64]}]})
        assert v2_big.status_code == 400 and "input 'month': data is not INT64" in v2_big.json()["message"]
        last = await c.post("/v1/deployments/months-api/predict", json=good)
        assert last.status_code == 200
        metrics = _errors_by_status((await c.get("/metrics")).content)
    # only the two good requests were logged, with no failure: the error rate is 0 before and after
    assert _error_rate(plog, str(tmp_path / "log")) == (4, 0)
    assert "500" not in metrics and metrics.get("413") == 1 and metrics.get("400") == len(BAD_INPUTS) - 1 + 4


async def test_the_row_cap_is_configurable(client, make_app):
    from shipyard.serving.settings import ServingSettings

    log_month_model("months")
    client.create_deployment("months-api", routes=[{"model": "months", "version": 1}])
    app = make_app(["months-api"], settings=ServingSettings(poll_interval_s=None, max_rows=50))
    async with http(app) as c:
        ok = await c.post("/v1/deployments/months-api/predict", json={"inputs": [[1.0, 2]] * 50})
        over = await c.post("/v1/deployments/months-api/predict", json={"inputs": [[1.0, 2]] * 51})
    assert ok.status_code == 200 and len(ok.json()["predictions"]) == 50
    assert over.status_code == 413 and over.json() == {
        "error_code": "REQUEST_TOO_LARGE",
        "message": "request has 51 rows, over the limit of 50 rows per request: send them in several requests"}


async def test_feedback_needs_an_answered_request_id_and_a_label_of_the_models_type(strict, client):
    app, _ = strict
    async with http(app) as c:
        ids = (await c.post("/v1/deployments/months-api/predict",
                            json={"records": [{"temp": 12.5, "month": 6}]})).json()["request_ids"]
        forged = ids[0][:12] + "7" + "0" * 19  # the right shape and time, never answered
        unknown = await c.post("/v1/deployments/months-api/feedback", json={"request_id": forged, "label": 1})
        assert unknown.status_code == 404
        assert f"request id {forged!r} was not answered by deployment 'months-api'" in unknown.json()["message"]
        malformed = await c.post("/v1/deployments/months-api/feedback", json={"request_id": "r-1", "label": 1})
        assert malformed.status_code == 400 and "not a request id" in malformed.json()["message"]
        for label in ([1, 0], {"class": 1}, None, "yes", 0.5, [[1]]):
            bad = await c.post("/v1/deployments/months-api/feedback", json={"request_id": ids[0], "label": label})
            assert bad.status_code == 400, (label, bad.text)
            assert "must be an integer (a class)" in bad.json()["message"], bad.json()
        # a batch is all or nothing: one unknown id and nothing is stored
        mixed = await c.post("/v1/deployments/months-api/feedback", json={"feedback": [
            {"request_id": ids[0], "label": 1}, {"request_id": forged, "label": 0}]})
        assert mixed.status_code == 404
        assert client.store.get_feedback("months-api") == []
        good = await c.post("/v1/deployments/months-api/feedback", json={"request_id": ids[0], "label": 1})
        assert good.status_code == 200 and good.json() == {"stored": 1}
    assert [(f.request_id, f.label) for f in client.store.get_feedback("months-api")] == [(ids[0], 1)]


async def test_feedback_for_another_replica_is_found_in_the_prediction_log(client, make_app, tmp_path):
    """Two replicas share one prediction log; feedback reaching the replica that did not answer is
    found once the answering one wrote its segment (the receiving one waits that long, once)."""
    from shipyard.serving.predlog import PredictionLogger
    from shipyard.serving.settings import ServingSettings

    log_month_model("months")
    client.create_deployment("months-api", routes=[{"model": "months", "version": 1}])
    root = str(tmp_path / "log")
    settings = ServingSettings(poll_interval_s=None)
    a = make_app(["months-api"], prediction_logger=PredictionLogger(root, max_seconds=0.3), settings=settings)
    b = make_app(["months-api"], prediction_logger=PredictionLogger(root, max_seconds=0.3), settings=settings)
    async with http(a) as ca, http(b) as cb:
        ids = (await ca.post("/v1/deployments/months-api/predict",
                             json={"inputs": [[12.5, 6], [3.0, 1]]})).json()["request_ids"]
        # not written yet when it arrives: b waits for a's flush interval and then finds both
        now = await cb.post("/v1/deployments/months-api/feedback", json={"feedback": [
            {"request_id": ids[0], "label": 1}, {"request_id": ids[1], "label": 0}]})
        assert now.status_code == 200, now.text
        await asyncio.sleep(0.5)
        wrong = await cb.post("/v1/deployments/months-api/feedback", json={"request_id": ids[0], "label": "x"})
        assert wrong.status_code == 400  # the label check uses the model the log says answered
    assert {f.request_id: f.label for f in client.store.get_feedback("months-api")} == {ids[0]: 1, ids[1]: 0}
