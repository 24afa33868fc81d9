"""A remote training run rides out a 30 s server outage: every point stored once, the run FINISHED.

The servers are real ``shipyard server`` processes on 127.0.0.1, killed with SIGKILL (as a crash or
an OOM kill would) and started again on the same port and store; the trainers are real processes
logging through the fluent API. With SHIPYARD_TEST_POSTGRES_URL set, a PostgreSQL-backed server and
its trainer go through the same outage alongside the SQLite one, so the test takes one outage's time.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from shipyard.store.sql import SqlStore
from tests.conftest import POSTGRES_URL, throwaway_postgres

pytestmark = pytest.mark.integration

OUTAGE_S = 30.0

TRAINER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import shipyard

    stop = Path(sys.argv[1])
    shipyard.set_experiment("restart")
    with shipyard.start_run() as run:
        print("run", run.info.run_id, flush=True)
        step = 0
        while not stop.exists():
            shipyard.log_metric("loss", 1.0 / (step + 1), step=step)
            step += 1
            time.sleep(0.005)
    print("logged", step, flush=True)
""")


class Server:
    """``shipyard server`` over ``store_uri``; the same port on every start after the first."""

    def __init__(self, home: Path, store_uri: str, name: str) -> None:
        self.home, self.store_uri, self.name = home, store_uri, name
        self.artifacts = home / f"{name}-artifacts"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def launch(self) -> None:
        self.log = log = self.home / f"{self.name}-server-{time.monotonic_ns()}.log"
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "shipyard", "server", "--port", str(self.port), "--store-uri",
                 self.store_uri, "--artifact-uri", str(self.artifacts), "--log-level", "warning"],
                env={**os.environ, "SHIPYARD_HOME": str(self.home)}, stdout=out, stderr=subprocess.STDOUT,
                cwd=self.home)

    def wait_ready(self) -> None:
        assert self.proc is not None
        log = self.log
        deadline = time.monotonic() + 60
        while (match := re.search(r"listening on (http://\S+)", log.read_text(errors="replace"))) is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"server did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.05)
        self.url = match.group(1)
        self.port = int(self.url.rsplit(":", 1)[1])

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)


class Trainer:
    def __init__(self, home: Path, server: Server) -> None:
        self.stop_file = home / f"{server.name}.stop"
        self.out, self.err = home / f"{server.name}-trainer.out", home / f"{server.name}-trainer.err"
        env = {**os.environ, "SHIPYARD_TRACKING_URI": server.url, "SHIPYARD_HOME": str(home / f"{server.name}-client"),
               "SHIPYARD_HTTP_RETRY_S": "90"}
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-c", TRAINER, str(self.stop_file)], env=env, stdout=out,
                                         stderr=err, cwd=home)

    def run_id(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while (match := re.search(r"run ([0-9a-f]{32})", self.out.read_text())) is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the trainer did not start a run:\n{self.err.read_text()}")
            time.sleep(0.05)
        return match.group(1)

    def finish(self) -> int:
        self.stop_file.touch()
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        assert self.proc.returncode == 0, self.err.read_text()
        match = re.search(r"logged (\d+)", self.out.read_text())
        assert match is not None, self.out.read_text() + self.err.read_text()
        return int(match.group(1))


@contextmanager
def _databases(tmp_path: Path) -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        uris = {"sqlite": f"sqlite:///{tmp_path / 'server.db'}"}
        if POSTGRES_URL:
            uris["postgresql"] = stack.enter_context(throwaway_postgres("shipyard_restart"))
        yield uris


def test_a_remote_run_survives_a_30_s_server_outage_with_every_point_stored_once(tmp_path: Path) -> None:
    with _databases(tmp_path) as uris, ExitStack() as cleanup:
        servers = {name: Server(tmp_path, uri, name) for name, uri in uris.items()}
        for server in servers.values():
            cleanup.callback(server.kill)
            server.launch()
        for server in servers.values():
            server.wait_ready()
        trainers = {name: Trainer(tmp_path, server) for name, server in servers.items()}
        for trainer in trainers.values():
            cleanup.callback(lambda t=trainer: t.proc.poll() is None and t.proc.kill())
        run_ids = {name: trainer.run_id() for name, trainer in trainers.items()}
        for name, server in servers.items():  # points arrive before the outage
            _wait_for_points(server.url, run_ids[name])
        for server in servers.values():
            server.kill()
        time.sleep(OUTAGE_S)
        for server in servers.values():
            server.launch()  # same port, same store
        for server in servers.values():
            server.wait_ready()
        for name, server in servers.items():  # and after it
            _wait_for_points(server.url, run_ids[name], more_than=_count(server.url, run_ids[name]))
        logged = {name: trainer.finish() for name, trainer in trainers.items()}
        for name, server in servers.items():
            server.kill()
            store = SqlStore(uris[name], str(server.artifacts))
            try:
                run = store.get_run(run_ids[name])
                steps = [m.step for m in store.get_metric_history(run_ids[name], "loss")]
            finally:
                store.close()
            assert run.info.status == "FINISHED", name
            assert logged[name] > 0 and sorted(steps) == list(range(logged[name])), (name, len(steps), logged[name])
            errors = trainers[name].err.read_text()
            assert "is unavailable" in errors and "answers again" in errors, errors  # one warning each way
            assert errors.count("is unavailable") == 1, errors


def _count(url: str, run_id: str) -> int:
    response = httpx.get(f"{url}/api/v1/runs/{run_id}/metrics", params={"key": "loss"}, timeout=30)
    return len(response.json()["metrics"]) if response.status_code == 200 else 0


def _wait_for_points(url: str, run_id: str, more_than: int = 0, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while _count(url, run_id) <= more_than:
        assert time.monotonic() < deadline, "no new points reached the server"
        time.sleep(0.2)
