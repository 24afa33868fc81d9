"""``shipyard ui``: the web UI on the local store, as ``mlflow ui`` users expect."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import shipyard

pytestmark = pytest.mark.integration


def test_ui_serves_the_local_store_on_the_loopback(shipyard_home: Path) -> None:
    shipyard.Client().create_experiment("visible-in-the-ui")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_HOME"] = str(shipyard_home)
    log = shipyard_home / "ui.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "shipyard", "ui", "--port", "0", "--log-level", "warning"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", log.read_text())
            url = found.group(1) if found else None
            time.sleep(0.2)
        assert url is not None, log.read_text()
        page = httpx.get(f"{url}/", follow_redirects=True, timeout=10)
        assert page.status_code == 200 and "visible-in-the-ui" in page.text
        assert "store: sqlite:///" + str(shipyard_home / "shipyard.db") in log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
