"""``shipyard serve`` as a real process: canary split, sticky keys, shadow, rollback and revision
changes under load, worker restart, SIGTERM under load (answered rows = logged rows), the MLflow
and V2 protocols, and bad input.

Every server runs on 127.0.0.1 with a free port and a temporary SHIPYARD_HOME; every load is bounded
in requests and time; every process is terminated in a fixture teardown.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

pytestmark = pytest.mark.integration

READY_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Home:
    path: Path
    rows: list[dict[str, float]]  # real feature rows to send (600)

    @property
    def store_uri(self) -> str:
        return f"sqlite:///{self.path / 'shipyard.db'}"

    @property
    def artifact_uri(self) -> str:
        return str(self.path / "artifacts")

    def client(self) -> Any:
        import shipyard

        return shipyard.Client(self.store_uri, artifact_uri=self.artifact_uri)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
        env["SHIPYARD_HOME"] = str(self.path)
        return env

    def log(self, deployment: str) -> Any:
        from shipyard.serving.reader import read_prediction_log

        return read_prediction_log(deployment, with_feedback=False, root=f"{self.artifact_uri}/prediction-logs")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    """A store with model ``rain``: v1 LogisticRegression, v2 a small forest, both on rainfall rows;
    deployments: canary (v1 90 / v2 10), flips (v1 90 / v2 10), shadowed (v1, shadow v2), solo and strict (v1)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    import shipyard
    import shipyard.sklearn
    from shipyard.datasets import RAINFALL_FEATURES, load_rainfall
    from shipyard.tracking import fluent

    path = tmp_path_factory.mktemp("serve-home")
    data = load_rainfall()
    X = np.column_stack([data[c][:2000] for c in RAINFALL_FEATURES])
    y = np.asarray(data["rain"][:2000])
    example = {n: X[:3, i].tolist() for i, n in enumerate(RAINFALL_FEATURES)}
    with pytest.MonkeyPatch.context() as mp:
        for var in ("SHIPYARD_TRACKING_URI", "SHIPYARD_STORE_URI", "SHIPYARD_ARTIFACT_URI"):
            mp.delenv(var, raising=False)
        mp.setenv("SHIPYARD_HOME", str(path))
        fluent.set_tracking_uri(None)
        for model in (LogisticRegression(max_iter=500), RandomForestClassifier(n_estimators=10, max_depth=5)):
            model.fit(X, y)
            with shipyard.start_run():
                shipyard.sklearn.log_model(model, "model", registered_model_name="rain", input_example=example)
        client = shipyard.Client()
        split = [{"model": "rain", "version": 1, "weight": 90}, {"model": "rain", "version": 2, "weight": 10}]
        client.create_deployment("canary", routes=split)
        client.create_deployment("flips", routes=split)
        client.create_deployment("shadowed", routes=[{"model": "rain", "version": 1}],
                                 shadow=[{"model": "rain", "version": 2}])
        client.create_deployment("solo", routes=[{"model": "rain", "version": 1}])
        client.create_deployment("strict", routes=[{"model": "rain", "version": 1}])
    fluent.set_tracking_uri(None)
    rows = [dict(zip(RAINFALL_FEATURES, map(float, r), strict=True)) for r in X[:600]]
    yield Home(path, rows)


class Server:
    """A ``shipyard serve`` subprocess; :meth:`stop` sends SIGTERM and waits, kill as a last resort."""

    def __init__(self, home: Home, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.output = home.path / f"serve-{self.port}.log"
        with self.output.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "shipyard", "serve", *args, "--port", str(self.port), "--log-level", "warning"],
                env=home.env(), stdout=out, stderr=subprocess.STDOUT)
        self._ready = False

    def wait_ready(self) -> Server:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self._ready and time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited with {self.proc.returncode}:\n{self.text()}")
            with contextlib.suppress(httpx.TransportError):
                self._ready = httpx.get(f"{self.url}/ready", timeout=2).status_code == 200
            if not self._ready:
                time.sleep(0.2)
        if not self._ready:
            self.stop()
            pytest.fail(f"server not ready within {READY_TIMEOUT_S}s:\n{self.text()}")
        return self

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def stop(self, timeout: float = 45.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def children(self) -> list[int]:
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.fixture(scope="module")
def servers(home: Home) -> Iterator[dict[str, Server]]:
    """Every server of this module, started at once (they load models in parallel) and stopped at
    the end: ``shared`` (canary + flips, 2 workers), ``solo`` and ``strict`` (1 worker each) and
    ``shadowed`` (2 workers; the SIGTERM test stops it)."""
    specs = {"shared": ("canary", "flips", "--workers", "2"), "solo": ("solo",), "strict": ("strict",),
             "shadowed": ("shadowed", "--workers", "2")}
    started: dict[str, Server] = {}
    try:
        for key, args in specs.items():
            started[key] = Server(home, *args)
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture
def shared(servers: dict[str, Server]) -> Server:
    return servers["shared"].wait_ready()


# --- load --------------------------------------------------------------------------------------


@dataclass
class Load:
    answers: list[dict[str, Any]]
    failures: list[str]


class Connection:
    """A minimal keep-alive HTTP/1.1 client over asyncio streams: httpx costs more CPU per request
    than the server on this 2-core machine, and a load generator must not be the bottleneck."""

    def __init__(self, url: str) -> None:
        host, _, port = url.removeprefix("http://").partition("/")[0].partition(":")
        self.host, self.port = host, int(port)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.writer.write(f"POST {path} HTTP/1.1\r\nhost: {self.host}\r\ncontent-type: application/json\r\n"
                          f"content-length: {len(body)}\r\n{extra}\r\n".encode() + body)
        try:
            head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
            status = int(head.split(" ", 2)[1])
            if "transfer-encoding: chunked" in head:
                chunks = []
                while size := int((await self.reader.readuntil(b"\r\n"))[:-2], 16):
                    chunks.append((await self.reader.readexactly(size + 2))[:-2])
                await self.reader.readuntil(b"\r\n")
                payload = b"".join(chunks)
            else:
                length = int(head.split("content-length:", 1)[1].split("\r\n", 1)[0])
                payload = await self.reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.close()
            raise
        if "connection: close" in head:
            await self.close()
        return status, payload

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError):
                await self.writer.wait_closed()
            self.writer = self.reader = None


async def _fire(url: str, bodies: list[dict[str, Any]], concurrency: int, seconds: float,
                headers: list[dict[str, str]] | None = None, stop: asyncio.Event | None = None) -> Load:
    """Send ``bodies`` (for at most ``seconds``) over ``concurrency`` keep-alive connections."""
    import orjson

    load = Load([], [])
    queue = list(enumerate(bodies))[::-1]
    deadline = time.monotonic() + seconds
    path = "/" + url.removeprefix("http://").partition("/")[2]

    async def worker() -> None:
        conn = Connection(url)
        try:
            while queue and time.monotonic() < deadline and not (stop and stop.is_set()):
                i, body = queue.pop()
                try:
                    status, payload = await asyncio.wait_for(
                        conn.post(path, orjson.dumps(body), headers[i] if headers else None), 10)
                except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                    load.failures.append(f"{type(exc).__name__}: {exc}")
                    await conn.close()
                    continue
                if status == 200:
                    load.answers.append({**orjson.loads(payload), "_i": i})
                else:
                    load.failures.append(f"{status}: {payload!r}")
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return load


def fire(url: str, bodies: list[dict[str, Any]], concurrency: int = 8, seconds: float = 30.0,
         headers: list[dict[str, str]] | None = None) -> Load:
    return asyncio.run(_fire(url, bodies, concurrency, seconds, headers))


def bodies(home: Home, n: int) -> list[dict[str, Any]]:
    return [{"records": [home.rows[i % len(home.rows)]]} for i in range(n)]


def share(answers: list[dict[str, Any]], version: int) -> float:
    return sum(a["version"] == version for a in answers) / max(len(answers), 1)


def predict_url(server: Server, deployment: str) -> str:
    return f"{server.url}/v1/deployments/{deployment}/predict"


async def _wait_revision(url: str, body: dict[str, Any], revision: int, limit_s: float) -> float:
    """Seconds until ``url`` answers with ``revision`` (fails after ``limit_s``)."""
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=10) as client:
        while time.monotonic() - started < limit_s:
            # Both workers must have switched: several answers in a row on fresh connections (the
            # kernel spreads connections over the workers by hash; 12 in a row all land on one
            # worker with a chance of 1 in 2,048).
            answers = [(await client.post(url, json=body, headers={"connection": "close"})).json()
                       for _ in range(12)]
            if all(a["revision"] == revision for a in answers):
                return time.monotonic() - started
            await asyncio.sleep(0.05)
    pytest.fail(f"revision {revision} not served within {limit_s}s")


# --- routing: canary, sticky keys, rollback, revision change under load ----------------------------


def test_canary_split_lands_within_3_percent(shared: Server, home: Home) -> None:
    load = fire(predict_url(shared, "canary"), bodies(home, 5000), concurrency=16, seconds=90)
    assert load.failures == []
    assert len(load.answers) == 5000
    assert {a["revision"] for a in load.answers} == {1}
    assert abs(share(load.answers, 2) - 0.10) <= 0.03, Counter(a["version"] for a in load.answers)


def test_the_same_routing_key_lands_on_the_same_version(shared: Server, home: Home) -> None:
    """100 keys, 6 requests each: 3 with the X-Routing-Key header, 3 with a routing_key field."""
    keys = [f"customer-{i}" for i in range(100)]
    sent = [{"records": [home.rows[i]]} if i % 2 else {"records": [home.rows[i]], "routing_key": keys[i % 100]}
            for i in range(600)]
    headers = [{"x-routing-key": keys[i % 100]} if i % 2 else {} for i in range(600)]
    load = fire(predict_url(shared, "canary"), sent, concurrency=8, seconds=60, headers=headers)
    assert load.failures == []
    assert len(load.answers) == 600
    versions: dict[str, set[int]] = {}
    for a in load.answers:
        versions.setdefault(keys[a["_i"] % 100], set()).add(a["version"])
    assert all(len(v) == 1 for v in versions.values()), versions
    assert {next(iter(v)) for v in versions.values()} == {1, 2}  # the keys spread over both versions


def test_rollback_restores_the_previous_split_within_5_s(shared: Server, home: Home) -> None:
    from shipyard.cli import main

    client = home.client()
    url, body = predict_url(shared, "canary"), {"records": [home.rows[0]]}
    start = client.get_deployment("canary").revision
    client.update_deployment("canary", routes=[{"model": "rain", "version": 1, "weight": 50},
                                               {"model": "rain", "version": 2, "weight": 50}], reason="wider canary")
    asyncio.run(_wait_revision(url, body, start + 1, limit_s=10))
    half = fire(url, bodies(home, 1000), concurrency=8)
    assert {a["revision"] for a in half.answers} == {start + 1}
    assert abs(share(half.answers, 2) - 0.5) <= 0.06

    assert main(["--tracking-uri", home.store_uri, "deployments", "rollback", "canary", "--reason", "test"]) == 0
    took = asyncio.run(_wait_revision(url, body, start + 2, limit_s=10))
    assert took < 5.0
    restored = fire(url, bodies(home, 2000), concurrency=8)
    assert restored.failures == []
    assert {a["revision"] for a in restored.answers} == {start + 2}
    assert abs(share(restored.answers, 2) - 0.10) <= 0.03


def test_a_revision_change_under_load_fails_no_request(shared: Server, home: Home) -> None:
    client = home.client()
    url, first = predict_url(shared, "flips"), client.get_deployment("flips").revision

    async def scenario() -> Load:
        stop = asyncio.Event()
        load = asyncio.create_task(_fire(url, bodies(home, 50_000), 8, 45.0, stop=stop))
        await asyncio.sleep(1.0)
        await asyncio.to_thread(client.update_deployment, "flips",
                                routes=[{"model": "rain", "version": 2, "weight": 100}], reason="all in")
        await _wait_revision(url, {"records": [home.rows[0]]}, first + 1, limit_s=10)
        await asyncio.to_thread(client.update_deployment, "flips",
                                routes=[{"model": "rain", "version": 1, "weight": 100}], reason="back")
        await _wait_revision(url, {"records": [home.rows[0]]}, first + 2, limit_s=10)
        await asyncio.sleep(0.5)
        stop.set()
        return await load

    load = asyncio.run(scenario())
    assert load.failures == []
    assert {a["revision"] for a in load.answers} >= {first, first + 1, first + 2}
    assert {a["version"] for a in load.answers if a["revision"] == first + 1} == {2}
    assert {a["version"] for a in load.answers if a["revision"] == first + 2} == {1}


def test_two_workers_have_no_delayed_ack_stall(shared: Server, home: Home) -> None:
    """Keep-alive at concurrency 1: the stall uvicorn's --workers has shows as a ~40 ms median."""
    url, body = predict_url(shared, "canary"), {"records": [home.rows[0]]}
    took = []
    with httpx.Client(timeout=10) as client:
        for _ in range(200):
            t = time.perf_counter()
            assert client.post(url, json=body).status_code == 200
            took.append(time.perf_counter() - t)
    assert float(np.median(took)) < 0.020, f"median {np.median(took) * 1000:.1f} ms"


# --- shadow and SIGTERM: every answered row is in the prediction log ------------------------------


def test_sigterm_under_load_loses_no_row_and_the_shadow_sees_every_request(
        servers: dict[str, Server], home: Home) -> None:
    server = servers["shadowed"].wait_ready()
    url = predict_url(server, "shadowed")

    async def scenario() -> Load:
        load = asyncio.create_task(_fire(url, bodies(home, 30_000), 8, 30.0))
        await asyncio.sleep(2.0)
        server.proc.send_signal(signal.SIGTERM)
        return await load

    load = asyncio.run(scenario())
    assert server.proc.wait(timeout=45) == 0, server.text()
    answered = [rid for a in load.answers for rid in a["request_ids"]]
    assert len(answered) > 100, load.failures[:3]
    assert {a["version"] for a in load.answers} == {1}  # the shadow (v2) never answers
    assert load.failures, "the load should have outlived the server"

    log = home.log("shadowed").to_pylist()
    served = [r["request_id"] for r in log if not r["shadow"]]
    shadow = [r["request_id"] for r in log if r["shadow"]]
    assert len(served) == len(answered)
    assert set(served) == set(answered)
    assert sorted(shadow) == sorted(answered)
    assert {r["version"] for r in log if r["shadow"]} == {2}


# --- protocols --------------------------------------------------------------------------------------


def test_mlflow_scoring_protocol(servers: dict[str, Server], home: Home) -> None:
    """The four JSON inputs of MLflow's /invocations docs (and CSV), /ping and /version."""
    server = servers["solo"].wait_ready()
    rows = home.rows[:2]
    columns = list(rows[0])
    payloads = [
        {"dataframe_split": {"columns": columns, "data": [[r[c] for c in columns] for r in rows]}},
        {"dataframe_records": rows},
        {"instances": rows},
        {"inputs": {c: [r[c] for r in rows] for c in columns}},
    ]
    expected = None
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for payload in payloads:
            r = client.post("/invocations", json=payload)
            assert r.status_code == 200, (payload, r.text)
            assert set(r.json()) == {"predictions"}
            expected = expected or r.json()["predictions"]
            assert r.json()["predictions"] == expected
            assert len(expected) == 2
        csv = ",".join(columns) + "\n" + "\n".join(",".join(str(r[c]) for c in columns) for r in rows)
        r = client.post("/invocations", content=csv, headers={"content-type": "text/csv"})
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == expected
        assert client.get("/ping").status_code == 200
        assert client.get("/version").status_code == 200


def test_open_inference_protocol_v2(servers: dict[str, Server], home: Home) -> None:
    """Payloads shaped like the KServe V2 docs: one named tensor per column, or one [n, k] tensor."""
    server = servers["solo"].wait_ready()
    rows = home.rows[:2]
    columns = list(rows[0])
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/v2/health/live").json() == {"live": True}
        assert client.get("/v2/health/ready").status_code == 200
        assert client.get("/v2/models/solo/ready").status_code == 200
        meta = client.get("/v2/models/solo").json()
        assert meta["name"] == "solo"
        assert [i["name"] for i in meta["inputs"]] == columns
        per_column = {"id": "42", "inputs": [{"name": c, "shape": [2], "datatype": "FP64", "data": [r[c] for r in rows]}
                                             for c in columns]}
        matrix = {"inputs": [{"name": "input-0", "shape": [2, len(columns)], "datatype": "FP32",
                              "data": [[r[c] for c in columns] for r in rows]}]}
        answers = []
        for payload in (per_column, matrix):
            r = client.post("/v2/models/solo/infer", json=payload)
            assert r.status_code == 200, r.text
            answers.append(r.json())
        assert answers[0]["id"] == "42"
        assert answers[0]["model_name"] == "solo"
        assert answers[0]["model_version"] == "1"
        outputs = {o["name"]: o for o in answers[0]["outputs"]}
        assert outputs["predict"]["shape"] == [2]
        assert outputs["predict_proba"]["shape"] == [2, 2]
        assert answers[1]["outputs"][0]["data"] == outputs["predict"]["data"]
        native = client.post("/v1/deployments/solo/predict", json={"records": rows}).json()
        assert native["predictions"] == outputs["predict"]["data"]


# --- bad input -------------------------------------------------------------------------------------


def test_bad_input_is_a_4xx_with_a_message_and_nothing_is_logged(servers: dict[str, Server], home: Home) -> None:
    server = servers["strict"].wait_ready()
    row = home.rows[0]
    missing = {k: v for k, v in row.items() if k != "visibility"}
    wrong_type = {**row, "visibility": "far"}
    big = b'{"records": [' + b",".join([orjson_row(row)] * 80_000) + b"]}"  # ~16 MB, over the 10 MB limit
    cases = {
        "unknown deployment": ("/v1/deployments/nope/predict", {"json": {"records": [row]}}, {404}),
        "missing column": ("/v1/deployments/strict/predict", {"json": {"records": [missing]}}, {400, 422}),
        "wrong type": ("/v1/deployments/strict/predict", {"json": {"records": [wrong_type]}}, {400, 422}),
        "empty body": ("/v1/deployments/strict/predict", {"content": b""}, {400}),
        "malformed JSON": ("/v1/deployments/strict/predict", {"content": b'{"records": [{'}, {400}),
        "no rows": ("/v1/deployments/strict/predict", {"json": {"records": []}}, {400, 422}),
        "oversized body": ("/v1/deployments/strict/predict", {"content": big}, {413}),
        "unknown endpoint": ("/v1/nothing", {"json": {}}, {404}),
    }
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for what, (path, kwargs, statuses) in cases.items():
            r = client.post(path, headers={"content-type": "application/json"}, **kwargs)
            assert r.status_code in statuses, (what, r.status_code, r.text)
            assert r.json()["message"], what
        r = client.post("/v1/deployments/strict/predict", json={"records": [missing]})
        assert "visibility" in r.json()["message"]
        good = client.post("/v1/deployments/strict/predict", json={"records": [row, row]})
        assert good.status_code == 200
        assert client.get("/health").status_code == 200
    assert server.stop() == 0
    log = home.log("strict").to_pylist()
    assert sorted(r["request_id"] for r in log) == sorted(good.json()["request_ids"])


def orjson_row(row: dict[str, float]) -> bytes:
    import orjson

    return orjson.dumps(row)


# --- the supervisor ----------------------------------------------------------------------------------


def test_a_crashed_worker_is_restarted_and_the_port_keeps_answering(shared: Server, home: Home) -> None:
    before = shared.children()
    assert len(before) == 2
    os.kill(before[0], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (len(shared.children()) < 2 or before[0] in shared.children()):
        time.sleep(0.1)
    after = shared.children()
    assert len(after) == 2 and before[0] not in after and before[1] in after
    load = fire(predict_url(shared, "canary"), bodies(home, 200), concurrency=4)
    assert load.failures == []
    assert "exited with code -9; restarting" in shared.text()
