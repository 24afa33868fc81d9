"""Several processes logging into one SQLite file at once lose and duplicate nothing."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

import shipyard

pytestmark = pytest.mark.integration


def _log(uri: str, artifacts: str, run_id: str, worker: int, mode: str) -> None:
    client = shipyard.Client(uri, artifact_uri=artifacts)
    steps = range(worker * 2500, (worker + 1) * 2500)
    if mode == "fluent":
        shipyard.set_tracking_uri(uri)
        with shipyard.start_run(run_id=run_id):
            for step in steps:
                shipyard.log_metric("loss", step * 0.5, step=step)
    else:  # one transaction per point: the write lock is contended 10,000 times
        for step in steps:
            client.log_metric(run_id, "loss", step * 0.5, step=step)


@pytest.mark.parametrize("mode", ["fluent", "synchronous"])
def test_four_processes_log_2500_points_each(tmp_path: Path, mode: str) -> None:
    uri, artifacts = f"sqlite:///{tmp_path / 'shared.db'}", str(tmp_path / "artifacts")
    client = shipyard.Client(uri, artifact_uri=artifacts)
    run_id = client.create_run(client.create_experiment("mp")).info.run_id
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_log, args=(uri, artifacts, run_id, w, mode)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
        assert p.exitcode == 0
    history = client.get_metric_history(run_id, "loss")
    steps = [m.step for m in history]
    assert len(steps) == 10_000 and len(set(steps)) == 10_000 and set(steps) == set(range(10_000))
    assert all(m.value == m.step * 0.5 for m in history)
    assert client.get_run(run_id).data.metrics["loss"] == 9999 * 0.5
