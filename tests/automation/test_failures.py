"""Failure handling: a gate that rejects, a canary that fails and rolls back, a retraining that
fails - each leaves the stable version serving 100 % and records why; manual triggers; cool-down."""

from __future__ import annotations

import numpy as np
import pytest
from tests.automation.conftest import retrain_on_recent_rows

from shipyard.models import PythonModel

pytestmark = pytest.mark.anyio


async def replay(served, rainfall, start: int, stop: int, size: int = 20) -> None:
    X, y, _ = rainfall
    for s in range(start, stop, size):
        ids = await served.predict_allowing_errors(X[s:s + size])
        if ids:
            await served.feedback(ids, y[s:s + size])
    served.flush()


class BrokenOnSmallBatches(PythonModel):
    """Works offline on a big evaluation set, fails online on small requests: a real kind of bug."""

    input_format = "numpy"

    def __init__(self, model) -> None:
        self.model = model

    def predict(self, model_input):
        if len(model_input) < 50:
            raise RuntimeError("feature cache not warmed up")
        return self.model.predict(model_input)

    def predict_proba(self, model_input):
        if len(model_input) < 50:
            raise RuntimeError("feature cache not warmed up")
        return self.model.predict_proba(model_input)


def broken_retrain(context):
    from sklearn.ensemble import HistGradientBoostingClassifier

    import shipyard
    import shipyard.pyfunc
    from shipyard.automation import Candidate
    from shipyard.datasets import RAINFALL_FEATURES, load_rainfall

    data = load_rainfall()
    X = np.column_stack([data[c][12_000:14_000] for c in RAINFALL_FEATURES])
    y = np.asarray(data["rain"][12_000:14_000], dtype=int)
    model = HistGradientBoostingClassifier(max_iter=50, random_state=0).fit(X[:1500], y[:1500])
    with shipyard.start_run():
        info = shipyard.pyfunc.log_model("model", python_model=BrokenOnSmallBatches(model),
                                         registered_model_name="rain",
                                         input_example={c: X[:60, i].tolist() for i, c in enumerate(RAINFALL_FEATURES)})
    holdout = ({c: X[1500:, i] for i, c in enumerate(RAINFALL_FEATURES)}, y[1500:])
    return Candidate(info.registered_model_version, holdout)


def _policy(retrain, **kwargs):
    from shipyard.automation import Policy

    settings = {"triggers": [{"monitor": "rain", "checks": ["performance.roc_auc"]}],
                "gate": {"metric": "roc_auc", "min_delta": 0.05},
                "rollout": {"steps": [50, 100], "dwell": 0, "min_rows": 50, "max_latency_ratio": 10}}
    settings.update(kwargs)
    return Policy("rain-retrain", deployment="rain-api", model="rain", retrain=retrain, **settings)


async def _drifted(serve_rainfall, rainfall):
    import shipyard
    from shipyard import monitoring

    served = serve_rainfall()
    monitoring.create_monitor("rain", "rain-api", window=1000, checks={"performance": {"roc_auc": 0.7}})
    await replay(served, rainfall, 12_000, 13_000, size=250)
    assert monitoring.run_monitor("rain").status == "alert"
    return served, shipyard.Client()


def _routes(client):
    return [(r.version, r.weight) for r in client.get_deployment("rain-api").current.routes]


async def test_a_candidate_worse_than_the_champion_is_rejected_by_the_gate(serve_rainfall, rainfall):
    _, client = await _drifted(serve_rainfall, rainfall)
    policy = _policy(retrain_on_recent_rows(bad=True), gate={"metric": "roc_auc", "min_delta": 0.0,
                                                            "minimums": {"accuracy": 0.65}})
    outcome = policy.tick(client)
    assert outcome.state == "rejected" and outcome.candidate_version == 2
    assert any("does not beat champion v1" in r for r in outcome.gate.reasons)
    assert any("accuracy" in r for r in outcome.gate.reasons)
    assert _routes(client) == [(1, 100.0)] and client.get_model_version_by_alias("rain", "champion").version == 1
    rejected = client.store.list_policy_events("rain-retrain", kinds=["gate_rejected"])[0]
    assert rejected.data["candidate"]["accuracy"] < 0.65 and rejected.data["champion"] is not None
    assert client.store.list_rollouts("rain-api") == []
    # the same incident does not start a second retraining, nor does the cool-down allow one
    assert policy.tick(client).state == "skipped"


async def test_a_canary_with_errors_is_rolled_back(serve_rainfall, rainfall):
    served, client = await _drifted(serve_rainfall, rainfall)
    policy = _policy(broken_retrain)
    outcome = policy.tick(client)
    assert outcome.state == "rolling_out" and outcome.gate.passed  # offline, on 500 rows, it is fine
    served.refresh()
    await replay(served, rainfall, 13_000, 14_000)
    outcome = policy.tick(client)
    assert outcome.rollout.state == "ROLLED_BACK" and "error rate" in outcome.rollout.reason
    assert _routes(client) == [(1, 100.0)]
    assert client.get_model_version_by_alias("rain", "champion").version == 1
    back = client.store.list_policy_events("rain-retrain", kinds=["rolled_back"])[0]
    assert back.data["analysis"]["candidate"]["error_rate"] == 1.0 and back.data["analysis"]["stable"]["errors"] == 0


async def test_a_failed_retraining_changes_nothing_and_says_why(serve_rainfall, rainfall):
    _, client = await _drifted(serve_rainfall, rainfall)

    def crash(context):
        raise ValueError("the feature store is down")

    outcome = _policy(crash).tick(client)
    assert outcome.state == "failed" and "feature store" in outcome.message
    failed = client.store.list_policy_events("rain-retrain", kinds=["training_failed"])[0]
    assert "ValueError: the feature store is down" in failed.data["error"]
    assert _routes(client) == [(1, 100.0)]


async def test_manual_trigger_and_no_trigger_while_rolling_out(serve_rainfall, rainfall):
    from shipyard.errors import Conflict

    served = serve_rainfall()
    await replay(served, rainfall, 6000, 8000, size=250)
    import shipyard

    client = shipyard.Client()
    policy = _policy(retrain_on_recent_rows(), gate={"metric": "roc_auc", "min_delta": -1.0})  # accept any
    outcome = policy.trigger(client, reason="new labels arrived")
    assert outcome.state == "rolling_out"
    triggered = client.store.list_policy_events("rain-retrain", kinds=["triggered"])[0]
    assert triggered.data["trigger"] == "manual" and triggered.data["reason"] == "new labels arrived"
    with pytest.raises(Conflict, match="rollout in progress"):
        policy.trigger(client)


# -- a retraining pipeline: its candidate is the version its task's tracking run registered ------------

from shipyard import pipeline, task  # noqa: E402 (kept next to the pipeline it serves)


@task
def fit_on_recent_rows(trigger: dict) -> int:
    return retrain_on_recent_rows()(trigger)


@pipeline
def retrain_pipeline(trigger: dict):
    fit_on_recent_rows(trigger)


@task
def broken_step(trigger: dict) -> int:
    raise RuntimeError("the training data could not be read")


@pipeline
def broken_pipeline(trigger: dict):
    broken_step(trigger)


async def test_a_retraining_pipeline_produces_the_candidate(serve_rainfall, rainfall):
    _, client = await _drifted(serve_rainfall, rainfall)
    outcome = _policy(retrain_pipeline).tick(client)
    assert outcome.state == "rolling_out" and outcome.candidate_version == 2, outcome.message
    (run,) = client.store.list_pipeline_runs("retrain_pipeline")
    assert run.state == "SUCCEEDED" and run.params["trigger"]["trigger"] == "monitor"
    assert run.start_time <= client.get_model_version("rain", 2).creation_timestamp <= run.end_time


async def test_a_failed_retraining_pipeline_changes_nothing(serve_rainfall, rainfall):
    _, client = await _drifted(serve_rainfall, rainfall)
    outcome = _policy(broken_pipeline).tick(client)
    assert outcome.state == "failed" and "FAILED" in outcome.message
    assert _routes(client) == [(1, 100.0)]
    assert client.store.list_policy_events("rain-retrain", kinds=["training_failed"])
