"""The prediction logger across processes: replicas side by side, normal exit, SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shipyard.serving.reader import read_prediction_log

CHILD = """
import signal, sys, time
from shipyard.serving.predlog import PredictionLogger

root, mode, prefix, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
# Thresholds far away: only close() (atexit or the handler) writes, unless mode says otherwise.
plog = PredictionLogger(root, max_rows=500 if mode == "busy" else 10**9, max_seconds=0.05 if mode == "busy" else 600)
if mode == "sigterm":
    signal.signal(signal.SIGTERM, lambda *a: (plog.close(), sys.exit(0)))
now = int(time.time() * 1000)
for i in range(0, n, 7):
    plog.append("d", [{"request_id": f"{prefix}-{j}", "timestamp_ms": now, "deployment": "d", "revision": 1,
                       "model": "m", "version": 1, "shadow": False, "features": {"x": j}, "prediction": j,
                       "probabilities": None, "latency_ms": 0.1} for j in range(i, min(i + 7, n))])
print("appended", flush=True)
if mode == "sigterm":
    while True:
        time.sleep(0.05)
"""


def child(tmp_path: Path, mode: str, prefix: str, n: int) -> subprocess.Popen[str]:
    script = tmp_path / "child.py"
    if not script.exists():
        script.write_text(textwrap.dedent(CHILD))
    return subprocess.Popen([sys.executable, str(script), str(tmp_path / "log"), mode, prefix, str(n)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def ids(tmp_path: Path) -> list[str]:
    return read_prediction_log("d", with_feedback=False, root=str(tmp_path / "log"))["request_id"].to_pylist()


def test_normal_exit_writes_the_buffer_through_atexit(tmp_path: Path) -> None:
    proc = child(tmp_path, "exit", "a", 3000)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert sorted(ids(tmp_path)) == sorted(f"a-{j}" for j in range(3000))


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_with_a_handler_that_closes_loses_no_row(tmp_path: Path) -> None:
    proc = child(tmp_path, "sigterm", "s", 2500)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "appended"
    assert list((tmp_path / "log").rglob("*.parquet")) == []  # all of it still in memory
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert sorted(ids(tmp_path)) == sorted(f"s-{j}" for j in range(2500))


def test_two_replica_processes_on_one_root_write_every_row_once(tmp_path: Path) -> None:
    procs = [child(tmp_path, "busy", prefix, 4000) for prefix in ("p", "q")]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    got = ids(tmp_path)
    assert len(got) == 8000 and set(got) == {f"{p}-{j}" for p in "pq" for j in range(4000)}
    replicas = {p.name.split("~")[0].rsplit("-", 1)[0] for p in (tmp_path / "log").rglob("*.parquet")}
    assert len(replicas) == 2
