"""The automation from the command line: `models validate` and `deployments rollout` for a team's CI,
and `policies list|show|trigger|history` over policies defined in a module."""

from __future__ import annotations

import orjson
import pytest
from tests.automation.conftest import retrain_on_recent_rows

from shipyard.cli import main

pytestmark = pytest.mark.anyio

POLICY_MODULE = '''
from shipyard.automation import Policy
from tests.automation.conftest import retrain_on_recent_rows

rain_retrain = Policy("rain-retrain", deployment="rain-api", model="rain", retrain=retrain_on_recent_rows(),
                      triggers=[{"monitor": "rain", "checks": ["performance.roc_auc"]}],
                      gate={"metric": "roc_auc", "min_delta": -1.0}, rollout={"steps": [50, 100], "dwell": "1h"})
'''


@pytest.fixture
def cli(capsys):
    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


async def _with_traffic(serve_rainfall, rainfall):
    X, y, _ = rainfall
    served = serve_rainfall()
    for s in range(6000, 8000, 250):
        ids = await served.predict(X[s:s + 250])
        await served.feedback(ids, y[s:s + 250])
    served.flush()
    return served


async def test_validate_and_rollout_for_ci(serve_rainfall, rainfall, cli):
    await _with_traffic(serve_rainfall, rainfall)
    assert retrain_on_recent_rows()({}) == 2  # v2, with its held-out rows logged
    code, out, _ = cli("--json", "models", "validate", "rain", "2", "--min-delta", "0.5")
    verdict = orjson.loads(out)
    assert code == 4 and not verdict["passed"] and verdict["champion_version"] == 1
    assert "does not beat champion v1" in verdict["reasons"][0] and verdict["candidate"]["roc_auc"] > 0.5
    code, out, _ = cli("models", "validate", "rain", "2", "--min-delta", "-1", "--min", "accuracy=0.5")
    assert code == 0 and "gate passed" in out and "roc_auc" in out
    code, _, err = cli("models", "validate", "rain", "2", "--min", "accuracy")
    assert code == 1 and "METRIC=NUMBER" in err

    # no traffic reaches the canary: the rollout cannot judge it and rolls back
    code, out, err = cli("deployments", "rollout", "rain-api", "--candidate", "rain@2", "--steps", "100",
                         "--dwell", "1s", "--wait", "--poll", "0.5")
    assert code == 4 and "ROLLED_BACK" in out and "not enough traffic" in out
    code, out, _ = cli("--json", "deployments", "rollout-status", "rain-api")
    (rollout,) = orjson.loads(out)
    assert rollout["state"] == "ROLLED_BACK" and rollout["candidate_version"] == 2
    code, _, err = cli("deployments", "rollout", "rain-api", "--candidate", "rain", "--steps", "100")
    assert code == 1 and "MODEL@VERSION" in err


async def test_policies_from_a_module(serve_rainfall, rainfall, cli, tmp_path, monkeypatch):
    await _with_traffic(serve_rainfall, rainfall)
    (tmp_path / "rain_policies.py").write_text(POLICY_MODULE)
    module = str(tmp_path / "rain_policies.py")
    code, out, _ = cli("--json", "policies", "list", "--module", module)
    (listed,) = orjson.loads(out)
    assert code == 0 and listed["name"] == "rain-retrain" and listed["last_event"] == []
    code, out, _ = cli("policies", "trigger", "rain-retrain", "--module", module, "--reason", "labels arrived")
    assert code == 0 and "rolling_out" in out
    code, out, _ = cli("--json", "policies", "history", "rain-retrain")
    kinds = [e["kind"] for e in orjson.loads(out)]
    assert kinds[-1] == "triggered" and "gate_passed" in kinds and kinds[0] == "rollout_started"
    code, out, _ = cli("policies", "show", "rain-retrain", "--module", module)
    assert code == 0 and "RUNNING" in out and "50%" in out
    code, _, err = cli("policies", "trigger", "rain-retrain", "--module", module)
    assert code == 1 and "rollout in progress" in err
    code, _, err = cli("policies", "show", "nope", "--module", module)
    assert code == 1 and "no policy 'nope'" in err


def test_policies_written_in_shipyard_yaml(cli, tmp_path, monkeypatch, shipyard_home):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shipyard.yaml").write_text(
        "policies:\n"
        "  - name: rain-retrain\n"
        "    deployment: rain-api\n"
        "    model: rain\n"
        "    retrain: tests.automation.conftest:retrain_default\n"
        "    triggers: [{performance: {monitor: rain, metric: roc_auc, below: 0.7}}, {schedule: every 7d}]\n"
        "    gate: {metric: roc_auc, min_delta: 0.01, minimums: {accuracy: 0.7}}\n"
        "    rollout: {steps: [10, 50, 100], dwell: 10m, metric: roc_auc}\n"
        "    cooldown: 2h\n")
    import shipyard

    shipyard.Client().store  # the project's store exists (read commands never create one)  # noqa: B018
    code, out, _ = cli("--json", "policies", "list")
    (policy,) = orjson.loads(out)
    assert code == 0 and policy["retrain"] == "retrain_default" and policy["cooldown_s"] == 7200
    assert policy["triggers"][0] == {"performance": {"monitor": "rain", "metric": "roc_auc", "below": 0.7,
                                                     "above": None}}
    assert policy["gate"] == {"metric": "roc_auc", "min_delta": 0.01, "minimums": {"accuracy": 0.7}, "maximums": {}}
    assert policy["rollout"]["steps"] == [10.0, 50.0, 100.0] and policy["rollout"]["metric"] == "roc_auc"
    (tmp_path / "shipyard.yaml").write_text("policies:\n  - name: x\n    retrain: nowhere\n")
    code, _, err = cli("policies", "list")
    assert code == 1 and "module:function" in err
