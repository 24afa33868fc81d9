"""The whole loop on the rainfall data with short dwell times: harmless drift leaves the model alone;
harmful drift opens an alert, the policy retrains on recent rows, the gate passes, the canary
advances and v2 becomes champion - every step an event, the aliases where they should be."""

from __future__ import annotations

import pytest
from tests.automation.conftest import retrain_on_recent_rows

pytestmark = pytest.mark.anyio


async def replay(served, rainfall, start: int, stop: int, size: int = 250) -> None:
    X, y, _ = rainfall
    for s in range(start, stop, size):
        ids = await served.predict(X[s:s + size])
        await served.feedback(ids, y[s:s + size])
    served.flush()


async def test_drift_retrain_gate_canary_promote(serve_rainfall, rainfall):
    import shipyard
    from shipyard import monitoring
    from shipyard.automation import Policy

    served = serve_rainfall()
    client = shipyard.Client()
    monitoring.create_monitor("rain", "rain-api", window=1000, checks={"performance": {"roc_auc": 0.7}})
    policy = Policy("rain-retrain", deployment="rain-api", model="rain", retrain=retrain_on_recent_rows(),
                    triggers=[{"monitor": "rain", "checks": ["performance.roc_auc"]}],
                    gate={"metric": "roc_auc", "min_delta": 0.05, "minimums": {"accuracy": 0.65}},
                    rollout={"steps": [50, 100], "dwell": 0, "metric": "roc_auc", "min_rows": 100,
                             "max_latency_ratio": 10})  # latency on a shared 2-core test machine is noise

    for start in range(6000, 12_000, 1000):  # drift on visibility, quality holds: nothing happens
        await replay(served, rainfall, start, start + 1000)
        monitoring.run_monitor("rain")
        assert policy.tick(client) is None
    assert client.store.list_policy_events("rain-retrain") == []

    await replay(served, rainfall, 12_000, 13_000)  # the drift that hurts
    assert monitoring.run_monitor("rain").status == "alert"
    outcome = policy.tick(client)
    assert outcome.state == "rolling_out" and outcome.candidate_version == 2
    assert outcome.gate.passed and outcome.gate.candidate["roc_auc"] > outcome.gate.champion["roc_auc"] + 0.05
    assert client.get_model_version_by_alias("rain", "challenger").version == 2
    routes = client.get_deployment("rain-api").current.routes
    assert [(r.version, r.weight) for r in routes] == [(1, 50.0), (2, 50.0)]

    served.refresh()
    await replay(served, rainfall, 13_000, 14_000, size=20)  # half the requests go to the canary
    outcome = policy.tick(client)
    assert outcome.state == "advanced" and outcome.rollout.percent == 100
    served.refresh()
    await replay(served, rainfall, 14_000, 15_000, size=20)
    outcome = policy.tick(client)
    assert outcome.rollout.state == "PROMOTED", outcome.rollout.reason
    assert client.get_model_version_by_alias("rain", "champion").version == 2
    assert client.get_model_version_by_alias("rain", "previous").version == 1
    assert [(r.version, r.weight) for r in client.get_deployment("rain-api").current.routes] == [(2, 100.0)]

    kinds = [e.kind for e in reversed(client.store.list_policy_events("rain-retrain"))]
    assert kinds == ["triggered", "training_started", "training_finished", "gate_passed", "alias_moved",
                     "rollout_started", "rollout_step", "promoted"]
    events = {e.kind: e for e in client.store.list_policy_events("rain-retrain")}
    assert "performance.roc_auc" in events["triggered"].data["checks"]
    assert events["gate_passed"].data["champion_version"] == 1 and events["gate_passed"].data["run_id"]
    step = events["rollout_step"].data["analysis"]
    assert step["verdict"] == "pass" and step["candidate"]["metric"] > step["stable"]["metric"]
    # the gate's evaluation is a tracking run with both models' numbers
    gate_run = client.get_run(events["gate_passed"].data["run_id"])
    assert {"candidate.roc_auc", "champion.roc_auc"} <= set(gate_run.data.metrics)
    assert gate_run.data.tags["shipyard.gate.verdict"] == "passed"
    # every revision the automation wrote says who and why
    history = client.list_deployment_revisions("rain-api")
    assert [r.revision for r in history] == [3, 2, 1]  # 50 %, then 100 % (promoting changes no routes)
    assert all(r.created_by == "shipyard-automation" and "rollout" in r.reason for r in history[:2])
    # v2 keeps its quality on the rest of the drifted data; the alert for v1 resolves as v1 leaves
    served.refresh()
    await replay(served, rainfall, 15_000, 16_000)
    run = monitoring.run_monitor("rain")
    (result,) = run.results
    assert result.version == 2 and result.check("performance.roc_auc").value > 0.75
    assert policy.tick(client) is None  # nothing fires: the loop is closed
