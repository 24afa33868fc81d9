"""``shipyard server`` as a process, and ``shipyard tokens``."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shipyard.cli import main

pytestmark = pytest.mark.integration


class ServerProcess:
    def __init__(self, home: Path, *args: str) -> None:
        self.log = home / f"server-{time.monotonic_ns()}.log"
        env = {**os.environ, "SHIPYARD_HOME": str(home)}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "shipyard", "server", "--port", "0", *args],
                                         env=env, stdout=out, stderr=subprocess.STDOUT, cwd=home)
        deadline = time.monotonic() + 60
        while (match := re.search(r"listening on (http://\S+)", self.text())) is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"server did not start:\n{self.text()}")
            time.sleep(0.1)
        self.url = match.group(1)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


@pytest.fixture
def home(shipyard_home: Path) -> Iterator[Path]:
    shipyard_home.mkdir(parents=True, exist_ok=True)
    yield shipyard_home


def test_server_says_where_it_stores_things_and_that_auth_is_off(home: Path) -> None:
    server = ServerProcess(home, "--scheduler")
    try:
        text = server.text()
        assert f"store: sqlite:///{home / 'shipyard.db'}" in text
        assert f"artifacts: {home / 'artifacts'}" in text
        assert "WARNING: auth is OFF" in text and "scheduler: on" in text
        assert httpx.get(f"{server.url}/health").json()["status"] == "ok"
        assert httpx.post(f"{server.url}/api/v1/experiments", json={"name": "x"}).status_code == 200
    finally:
        assert server.stop() == 0


def test_server_with_auth_and_tokens_from_the_cli(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tokens", "create", "--name", "ci", "--role", "writer"]) == 0
    captured = capsys.readouterr()
    token = captured.out.strip()
    assert token.startswith("shy_") and "not shown again" in captured.err
    assert main(["tokens", "create", "--name", "ci", "--role", "reader"]) == 1  # names are unique
    server = ServerProcess(home, "--auth")
    try:
        assert "auth: on" in server.text() and "auth is OFF" not in server.text()
        assert httpx.get(f"{server.url}/api/v1/experiments").status_code == 401
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.post(f"{server.url}/api/v1/experiments", json={"name": "x"}, headers=headers).status_code == 200
        capsys.readouterr()
        assert main(["--json", "tokens", "list"]) == 0
        listed = capsys.readouterr().out
        assert '"name": "ci"' in listed and '"role": "writer"' in listed and token not in listed
        assert '"last_used_time": null' not in listed
        assert main(["tokens", "revoke", "ci"]) == 0
        assert httpx.get(f"{server.url}/api/v1/experiments", headers=headers).status_code == 401
    finally:
        assert server.stop() == 0


def test_tokens_need_the_servers_database(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tokens", "list", "--store-uri", "http://127.0.0.1:5000"]) == 1
    assert "server's database" in capsys.readouterr().err
    assert main(["server", "--store-uri", "http://127.0.0.1:5000", "--port", "0"]) == 1
    assert "needs a database" in capsys.readouterr().err


def test_server_scheduler_runs_the_same_jobs_as_shipyard_scheduler(home: Path) -> None:
    """Policies and rollouts too, not only pipelines and monitors: one job list for both commands."""
    (home / "project.py").write_text(
        "from shipyard.automation import Policy\n"
        "def retrain():\n"
        "    return None\n"
        "checker = Policy('checker', deployment='nowhere', model='nothing', retrain=retrain, check_every='every 1s')\n")
    server = ServerProcess(home, "--scheduler", "--module", "project.py")
    try:
        assert "1 policy(ies) and the running rollouts" in server.text()
        deadline = time.monotonic() + 60
        ticks: dict[str, object] = {}
        while time.monotonic() < deadline and not all(ticks.get(n) for n in ("policy.checker", "rollouts")):
            for name in ("policy.checker", "rollouts"):
                ticks[name] = httpx.get(f"{server.url}/api/v1/schedule-ticks/last",
                                        params={"name": name}).json()["tick_time"]
            time.sleep(0.2)
        assert ticks["policy.checker"] and ticks["rollouts"], (ticks, server.text())
    finally:
        assert server.stop() == 0
