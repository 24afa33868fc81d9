"""`shipyard demo --no-serve`: the whole loop on the rainfall data, through the real HTTP endpoint."""

from __future__ import annotations

import orjson
import pytest

pytestmark = pytest.mark.integration


def test_demo_closes_the_loop(tmp_path, capsys, monkeypatch):
    from shipyard.cli import main

    monkeypatch.setenv("COLUMNS", "1000")  # one narration line per line, unwrapped

    code = main(["--json", "demo", "--no-serve", "--dir", str(tmp_path / "demo")])
    out = capsys.readouterr()
    summary = orjson.loads(out.out)
    assert code == 0
    # the data's README: about 0.84 before row 12,000, under 0.5 after; retrained, back above 0.8
    assert summary["v1_auc_before_drift"] > 0.8
    assert summary["v1_auc_after_drift"] < 0.6
    assert summary["v2"] == 2 and summary["v2_auc_after_drift"] > 0.75
    assert summary["promoted"] == [2] and summary["rolled_back"] == [3]
    assert summary["retrainings"] == 1  # drift before row 12,000 started none
    log = out.err
    assert "drift without harm" in log and "gate passed" in log and "rolled back" in log
    lines = [line for line in log.splitlines() if line.strip()]
    assert len(lines) == len(set(lines)), [line for line in lines if lines.count(line) > 1]  # nothing said twice
    assert "performance.roc_auc and performance.accuracy pass" in log  # the policy names the checks it watches

    import shipyard

    client = shipyard.Client()  # the demo left its store in --dir, where SHIPYARD_HOME now points
    assert client.get_model_version_by_alias("rain", "champion").version == 2
    assert client.get_model_version_by_alias("rain", "previous").version == 1
    assert [(r.version, r.weight) for r in client.get_deployment("rain-api").current.routes] == [(2, 100.0)]
    kinds = [e.kind for e in reversed(client.store.list_policy_events(deployment="rain-api", max_results=100))]
    assert kinds[:5] == ["triggered", "training_started", "training_finished", "gate_passed", "alias_moved"]
    assert kinds[-1] == "rolled_back" and "promoted" in kinds
