"""Metrics of a training process killed with SIGKILL: the window it loses, and flush-every-N closing it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shipyard.errors import InvalidInput
from shipyard.store.sql import SqlStore
from shipyard.tracking.batcher import MetricBatcher

pytestmark = pytest.mark.integration

TRAINER = textwrap.dedent("""
    import os, signal, sys
    import shipyard

    shipyard.set_tracking_uri(sys.argv[1])
    with shipyard.start_run() as run:
        print(run.info.run_id, flush=True)
        for step in range(50):
            shipyard.log_metric("loss", 1.0 / (step + 1), step=step)
        os.kill(os.getpid(), signal.SIGKILL)  # mid-run: no end_run, no atexit flush
""")


def _killed_trainer(tmp_path: Path, flush_every: str | None) -> int:
    uri = f"sqlite:///{tmp_path / 'train.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_HOME"] = str(tmp_path)
    if flush_every is not None:
        env["SHIPYARD_METRICS_FLUSH_EVERY"] = flush_every
    proc = subprocess.run([sys.executable, "-c", TRAINER, uri], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    store = SqlStore(uri, str(tmp_path / "artifacts"))
    try:
        return len(store.get_metric_history(proc.stdout.strip(), "loss"))
    finally:
        store.close()


def test_flush_every_point_loses_nothing_to_a_kill(tmp_path: Path) -> None:
    assert _killed_trainer(tmp_path, "1") == 50


def test_flush_every_n_loses_fewer_than_n(tmp_path: Path) -> None:
    assert _killed_trainer(tmp_path, "20") >= 40  # 50 points: written at 20 and 40, the last 10 in memory


def test_a_bad_setting_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from shipyard.tracking.batcher import flush_every_from_env

    monkeypatch.setenv("SHIPYARD_METRICS_FLUSH_EVERY", "often")
    with pytest.raises(InvalidInput):
        flush_every_from_env()
    with pytest.raises(InvalidInput):
        MetricBatcher(SqlStore(f"sqlite:///{tmp_path / 'x.db'}", str(tmp_path)), flush_every=0)
