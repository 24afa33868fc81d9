"""A serving replica and a monitor that hold only the server's URL and a token, as separate processes.

``shipyard server --auth`` keeps the store and the prediction log; ``shipyard serve`` runs with
``SHIPYARD_TRACKING_URI`` and a writer token only (no database URL, no artifact location), logs
every answered row through the server, and is killed with SIGKILL under load and started again:
every row it answered is in the log once (the write-ahead file ships what the kill caught in
memory). ``shipyard monitors run`` from a third process, URL and token only, reads the log through
the server. With SHIPYARD_TEST_POSTGRES_URL set, the server also runs on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pytest
from tests._wait import wait_until
from tests.conftest import throwaway_postgres

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bare_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPYARD_", "AWS_"))}
    return {**env, "SHIPYARD_HOME": str(home), **extra}




@dataclass
class Platform:
    url: str
    tokens: dict[str, str]
    root: Path
    store_uri: str
    rows: list[dict[str, float]]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def env(self, home: Path, role: str) -> dict[str, str]:
        """What a replica or a monitor host gets: the URL and a token, nothing else."""
        return bare_env(home, SHIPYARD_TRACKING_URI=self.url, SHIPYARD_TRACKING_TOKEN=self.tokens[role])

    def logged_ids(self) -> list[str]:
        from shipyard.serving.reader import read_prediction_log

        table = read_prediction_log("rain-api", with_feedback=False,
                                    root=str(self.root / "server-artifacts" / "prediction-logs"))
        return table["request_id"].to_pylist()


def _start_server(root: Path, store_uri: str) -> tuple[subprocess.Popen[bytes], str]:
    log = root / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "shipyard", "server", "--auth", "--port", "0", "--store-uri", store_uri,
             "--artifact-uri", str(root / "server-artifacts"), "--log-level", "warning"],
            env=bare_env(root / "server-home"), stdout=out, stderr=subprocess.STDOUT, cwd=root)
    match = wait_until(lambda: proc.poll() is None and re.search(r"listening on (http://\S+)", log.read_text()),
                     60, f"the server to listen:\n{log.read_text(errors='replace')}")
    return proc, match.group(1)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def platform(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A server with auth on over a store holding model ``rain`` v1 (logged with its training data,
    the monitor's reference), deployment ``rain-api`` and monitor ``rain``; tokens of each role."""
    from sklearn.linear_model import LogisticRegression

    import shipyard
    import shipyard.sklearn
    from shipyard import monitoring
    from shipyard.datasets import RAINFALL_FEATURES, load_rainfall
    from shipyard.store.sql import SqlStore
    from shipyard.store.sql.tokens import TokenStore

    root = tmp_path_factory.mktemp(f"remote-log-{request.param}")
    with contextlib.ExitStack() as stack:
        store_uri = (stack.enter_context(throwaway_postgres("remote_log")) if request.param == "postgresql"
                     else f"sqlite:///{root / 'server.db'}")
        data = load_rainfall()
        X = np.column_stack([data[c][:2000] for c in RAINFALL_FEATURES])
        y = np.asarray(data["rain"][:2000])
        store = SqlStore(store_uri, str(root / "server-artifacts"))
        stack.callback(store.close)
        client = shipyard.Client(store=store)
        model = LogisticRegression(max_iter=500).fit(X, y)
        with _direct(store_uri, root):
            shipyard.sklearn.log_model(model, "model", registered_model_name="rain",
                                       training_data={n: X[:, i] for i, n in enumerate(RAINFALL_FEATURES)})
        client.create_deployment("rain-api", routes=[{"model": "rain", "version": 1}])
        monitoring.create_monitor("rain", "rain-api", window=86_400, store=store)
        tokens = {role: TokenStore(store).create_token(f"{role}-token", role) for role in ("reader", "writer")}
        proc, url = _start_server(root, store_uri)
        rows = [dict(zip(RAINFALL_FEATURES, map(float, r), strict=True)) for r in X[:500]]
        platform = Platform(url, tokens, root, store_uri, rows, [proc])
        try:
            yield platform
        finally:
            for p in platform.procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
                    try:
                        p.wait(30)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()


@contextlib.contextmanager
def _direct(store_uri: str, root: Path) -> Iterator[None]:
    """A run in the store the server will serve (the fluent API pointed at it for the block)."""
    import shipyard
    from shipyard.tracking import fluent

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHIPYARD_ARTIFACT_URI", str(root / "server-artifacts"))
        fluent.set_tracking_uri(store_uri)
        try:
            with shipyard.start_run():
                yield
        finally:
            fluent.set_tracking_uri(None)


def start_replica(platform: Platform, home: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = home / f"serve-{port}.log"
    home.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "shipyard", "serve", "rain-api", "--port", str(port),
                                 "--log-level", "warning", *extra],
                                env=platform.env(home, "writer"), stdout=out, stderr=subprocess.STDOUT, cwd=home)
    platform.procs.append(proc)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"the replica exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        with contextlib.suppress(httpx.TransportError):
            return httpx.get(f"{url}/ready", timeout=2).status_code == 200
        return False

    wait_until(ready, 90, "the replica to be ready")
    return proc, url


class Load:
    """``threads`` clients sending one-row requests until stopped (or ``limit`` requests each); the
    request ids of every 200 answer are kept: what the replica answered."""

    def __init__(self, url: str, rows: list[dict[str, float]], threads: int, limit: int) -> None:
        self.answered: list[str] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client, args=(url, rows, k, limit), daemon=True)
                         for k in range(threads)]
        for thread in self._threads:
            thread.start()

    def _client(self, url: str, rows: list[dict[str, float]], k: int, limit: int) -> None:
        with httpx.Client(base_url=url, timeout=10) as http:
            for i in range(limit):
                if self.stop.is_set():
                    return
                row = rows[(k * 97 + i) % len(rows)]
                try:
                    response = http.post("/v1/deployments/rain-api/predict", json={"records": [row]})
                except httpx.TransportError:  # its process was killed: no answer, try again
                    time.sleep(0.05)
                    continue
                if response.status_code == 200:
                    with self._lock:
                        self.answered += response.json()["request_ids"]

    def join(self) -> list[str]:
        for thread in self._threads:
            thread.join(60)
        return self.answered


def test_a_replica_and_a_monitor_with_only_the_url_and_a_token(platform: Platform) -> None:
    replica, url = start_replica(platform, platform.root / "replica-a")
    answered = Load(url, platform.rows, threads=2, limit=100).join()
    assert len(answered) == 200
    wait_until(lambda: len(platform.logged_ids()) >= 200, 30, "the rows to reach the server's log")
    assert sorted(platform.logged_ids()) == sorted(answered)
    monitor = subprocess.run([sys.executable, "-m", "shipyard", "--json", "monitors", "run", "rain"],
                             env=platform.env(platform.root / "monitor-home", "writer"), capture_output=True,
                             timeout=120, cwd=platform.root)
    assert monitor.returncode in (0, 3), monitor.stderr.decode()
    outcome = json.loads(monitor.stdout)
    assert sum(r["rows"] for r in outcome["results"]) == 200
    replica.send_signal(signal.SIGTERM)
    assert replica.wait(60) == 0
    assert not list((platform.root / "replica-a").rglob("*.wal"))  # a clean stop ships everything


def test_kill_9_under_load_loses_no_answered_row_and_duplicates_none(platform: Platform) -> None:
    home = platform.root / "replica-b"
    before = set(platform.logged_ids())
    replica, url = start_replica(platform, home)
    load = Load(url, platform.rows, threads=8, limit=10_000)
    wait_until(lambda: len(load.answered) >= 300, 60, "answered requests")
    replica.kill()  # SIGKILL: no handler runs, the in-memory buffer is gone
    replica.wait(30)
    load.stop.set()
    answered = load.join()
    assert list(home.rglob("*.wal"))  # the last rows are only in the write-ahead file
    start_replica(platform, home)  # the same folder: the new process ships them
    wait_until(lambda: not any(p.stat().st_size for p in home.rglob("*.wal")), 30, "the write-ahead files to ship")
    logged = platform.logged_ids()
    assert len(logged) == len(set(logged))  # none twice
    mine = [rid for rid in logged if rid not in before]
    missing = set(answered) - set(mine)
    assert not missing, f"{len(missing)} answered row(s) lost"
    # rows logged but never answered: requests the kill cut off after the model ran (at most one per client)
    assert len(set(mine) - set(answered)) <= 8



def test_kill_9_of_one_worker_its_restarted_successor_ships_what_it_answered(platform: Platform) -> None:
    if platform.store_uri.startswith("postgresql"):
        pytest.skip("the store plays no part in this one: SQLite is enough")
    home = platform.root / "replica-c"
    before = set(platform.logged_ids())
    replica, url = start_replica(platform, home, "--workers", "2")
    children = Path(f"/proc/{replica.pid}/task/{replica.pid}/children")
    workers = wait_until(lambda: [int(p) for p in children.read_text().split()][:2], 30, "two workers")
    load = Load(url, platform.rows, threads=8, limit=10_000)
    wait_until(lambda: len(load.answered) >= 300, 60, "answered requests")
    os.kill(workers[0], signal.SIGKILL)  # the supervisor starts another worker on the same folder
    wait_until(lambda: len(load.answered) >= 600, 60, "answers after the kill")
    load.stop.set()
    answered = load.join()
    # the new worker ships the dead one's write-ahead file once it has started (a model load away)
    wait_until(lambda: set(answered) <= set(platform.logged_ids()), 90, "every answered row in the log")
    replica.send_signal(signal.SIGTERM)
    assert replica.wait(60) == 0
    logged = platform.logged_ids()
    assert len(logged) == len(set(logged))
    mine = set(logged) - before
    assert not set(answered) - mine, f"{len(set(answered) - mine)} answered row(s) lost"
    assert len(mine - set(answered)) <= 8
    assert not any(p.stat().st_size for p in home.rglob("*.wal"))
