"""Killing the scheduler in the middle of a rollout: another scheduler resumes it from the store, and
traffic is never split without a running rollout that owns it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytestmark = pytest.mark.integration


def _register_two_versions():
    from sklearn.linear_model import LogisticRegression

    import shipyard
    import shipyard.sklearn
    from shipyard.datasets import RAINFALL_FEATURES, load_rainfall

    data = load_rainfall()
    X = np.column_stack([data[c][:1000] for c in RAINFALL_FEATURES])
    y = np.asarray(data["rain"][:1000])
    for c in (0.1, 1.0):
        with shipyard.start_run():
            shipyard.sklearn.log_model(LogisticRegression(C=c).fit(X, y), "model", registered_model_name="rain")
    return shipyard.Client(), X, list(RAINFALL_FEATURES)


def _traffic(client, X, names, seconds: float) -> None:
    """Prediction-log rows of both versions for the next ``seconds`` (the rows the analysis reads)."""
    from shipyard.serving._predlog_schema import RecordBlock
    from shipyard.serving.predlog import PredictionLogger

    now = int(time.time() * 1000)
    with PredictionLogger(f"{client.store.artifact_root}/prediction-logs", replica_id="test") as log:
        for i, stamp in enumerate(range(now - 1000, now + int(seconds * 1000), 100)):
            for version in (1, 2):
                rows = X[(i * 5) % 900:(i * 5) % 900 + 5]
                log.append("rain-api", RecordBlock(
                    request_ids=[f"{version}-{i}-{j}" for j in range(5)], timestamp_ms=stamp, deployment="rain-api",
                    revision=1, model="rain", version=version, shadow=False, features=rows, feature_names=names,
                    predictions=np.zeros(5), latency_ms=2.0))


def _scheduler(env, log):
    with open(log, "wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "shipyard", "scheduler", "--poll", "0.2"], env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _split_has_owner(client) -> None:
    routes = client.get_deployment("rain-api").current.routes
    if len(routes) > 1:
        assert client.store.get_active_rollout("rain-api") is not None, routes


def test_a_killed_scheduler_leaves_a_rollout_the_next_one_finishes(shipyard_home):
    from shipyard.automation import RolloutPlan, start_rollout

    client, X, names = _register_two_versions()
    client.set_registered_model_alias("rain", "champion", 1)
    client.create_deployment("rain-api", routes=[{"model": "rain", "version": 1}])
    _traffic(client, X, names, seconds=60)
    rollout = start_rollout(client, "rain-api", "rain", 2, RolloutPlan(steps=(50, 100), dwell=1, min_rows=10))
    assert [(r.version, r.weight) for r in client.get_deployment("rain-api").current.routes] == [(1, 50), (2, 50)]

    env = {**os.environ, "SHIPYARD_HOME": str(shipyard_home)}
    first = _scheduler(env, shipyard_home / "scheduler-1.log")
    try:
        _wait(lambda: client.store.get_rollout(rollout.rollout_id).step == 1, 30, "the first scheduler to advance")
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # mid-rollout, without any chance to clean up
        first.wait(10)
    stuck = client.store.get_rollout(rollout.rollout_id)
    assert stuck.state == "RUNNING" and stuck.percent == 100  # the store still owns the rollout
    _split_has_owner(client)
    steps = client.store.list_policy_events(deployment="rain-api", kinds=["rollout_step"])
    assert len(steps) == 1  # the step and its record were written together

    second = _scheduler(env, shipyard_home / "scheduler-2.log")
    try:
        done = _wait(lambda: (r := client.store.get_rollout(rollout.rollout_id)).state != "RUNNING" and r, 30,
                     "the second scheduler to finish the rollout")
        _wait(lambda: client.get_model_version_by_alias("rain", "champion").version == 2, 10, "the alias")
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(10)
    assert done.state == "PROMOTED"
    assert client.get_model_version_by_alias("rain", "champion").version == 2
    assert client.get_model_version_by_alias("rain", "previous").version == 1
    assert [(r.version, r.weight) for r in client.get_deployment("rain-api").current.routes] == [(2, 100.0)]
    _split_has_owner(client)
    kinds = [e.kind for e in reversed(client.store.list_policy_events(deployment="rain-api"))]
    assert kinds == ["rollout_started", "rollout_step", "promoted"]
