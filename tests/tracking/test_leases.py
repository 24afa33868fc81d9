"""Runs of a dead process do not stay RUNNING: a killed trainer's run becomes FAILED once its lease
runs out, a live trainer's heartbeat keeps its run RUNNING past it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import shipyard
from shipyard.errors import InvalidInput
from shipyard.tracking.batcher import run_lease_s

pytestmark = pytest.mark.integration

TRAINER = textwrap.dedent("""
    import os, signal, sys, time
    import shipyard

    with shipyard.start_run() as run:
        shipyard.log_metric("loss", 0.5, step=1, synchronous=True)
        print(run.info.run_id, flush=True)
        if sys.argv[1] == "die":
            os.kill(os.getpid(), signal.SIGKILL)  # no end_run, no atexit: as kill -9 or a lost machine
        time.sleep(float(sys.argv[2]))
""")


def _trainer(tmp_path: Path, uri: str, mode: str, seconds: float = 0) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "SHIPYARD_TRACKING_URI": uri, "SHIPYARD_ARTIFACT_URI": str(tmp_path / "artifacts"),
           "SHIPYARD_RUN_LEASE_S": "2"}
    proc = subprocess.Popen([sys.executable, "-c", TRAINER, mode, str(seconds)], env=env, stdout=subprocess.PIPE,
                            text=True, cwd=tmp_path)
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    proc.stdout.close()
    return proc, run_id


def test_the_run_of_a_killed_process_becomes_failed_when_its_lease_runs_out(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'db.sqlite'}"
    proc, run_id = _trainer(tmp_path, uri, "die")
    assert proc.wait(60) == -9
    client = shipyard.Client(uri, artifact_uri=str(tmp_path / "artifacts"))
    time.sleep(2.5)
    [run] = client.search_runs(client.get_run(run_id).info.experiment_id)  # listing reaps
    assert run.info.status == "FAILED" and run.info.end_time is not None
    assert "no heartbeat" in run.data.tags["shipyard.lease.expired"]
    assert run.data.metrics == {"loss": 0.5}  # what it logged stays


def test_a_live_process_keeps_its_run_running_past_the_lease(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'db.sqlite'}"
    proc, run_id = _trainer(tmp_path, uri, "sleep", 6)
    client = shipyard.Client(uri, artifact_uri=str(tmp_path / "artifacts"))
    time.sleep(4)  # two leases long: only the heartbeats (every 0.5 s here) keep it
    [run] = client.search_runs(client.get_run(run_id).info.experiment_id)
    assert run.info.status == "RUNNING"
    assert proc.wait(60) == 0
    assert client.get_run(run_id).info.status == "FINISHED"


def test_the_lease_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHIPYARD_RUN_LEASE_S", raising=False)
    assert run_lease_s() == 300
    monkeypatch.setenv("SHIPYARD_RUN_LEASE_S", "0")
    assert run_lease_s() is None  # leases off
    for bad in ("soon", "0.5", "-3"):
        monkeypatch.setenv("SHIPYARD_RUN_LEASE_S", bad)
        with pytest.raises(InvalidInput, match="SHIPYARD_RUN_LEASE_S"):
            run_lease_s()
