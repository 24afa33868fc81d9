"""``shipyard serve --workers 2`` with extra /metrics text: every worker imports the source by name."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.serving.test_process_serve import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_every_worker_serves_the_extra_metrics(client, register, tmp_path) -> None:
    register("rain")
    client.create_deployment("api", routes=[{"model": "rain", "version": 1}])
    port = free_port()
    # A callable, not a string: run() must turn it into the name the workers import.
    script = ("import sys; from shipyard.serving.server import ServeOptions, run; "
              "from tests.serving._extra_metrics import scrape; "
              f"sys.exit(run(ServeOptions(names=('api',), port={port}, workers=2, prediction_log=False, "
              "log_level='warning', extra_metrics=scrape)))")
    output = tmp_path / "serve.log"
    with output.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        pids: set[str] = set()
        deadline = time.monotonic() + 90
        while len(pids) < 2 and time.monotonic() < deadline:
            assert proc.poll() is None, output.read_text(errors="replace")
            with contextlib.suppress(httpx.TransportError):
                # a fresh connection each time: the kernel spreads them over both workers
                r = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"connection": "close"}, timeout=5)
                assert r.status_code == 200 and "shipyard_serving_requests" in r.text
                pids.update(re.findall(r'test_monitor_gauge\{pid="(\d+)"\} 1\.5', r.text))
                continue
            time.sleep(0.2)
        assert len(pids) == 2, output.read_text(errors="replace")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=45)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output.read_text(errors="replace")
