"""The shipped Grafana dashboard against a real Prometheus scraping a live ``shipyard serve`` and
``shipyard server``: every expression the dashboard uses returns data.

Prometheus is Debian's ``prometheus`` package (``.ci/run`` installs it when missing); without the
binary the test skips and says so. Every process binds 127.0.0.1 on a free port, runs in a temporary
SHIPYARD_HOME and is stopped by this test; the traffic is a bounded number of requests.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from tests.serving.test_process_serve import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "docs" / "grafana" / "shipyard-dashboard.json"
SCRAPE_CONFIG = REPO / "docs" / "grafana" / "prometheus.yml"
PROMETHEUS = shutil.which("prometheus")


def _expressions() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query of the dashboard."""
    board = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in board["panels"] for t in p.get("targets", [])]


def _concrete(expr: str) -> str:
    """The expression as Grafana sends it with every deployment selected."""
    return expr.replace("$__rate_interval", "15s").replace("$deployment", ".*")


def test_the_dashboard_is_well_formed() -> None:
    board = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    assert {v["name"] for v in board["templating"]["list"]} == {"datasource", "deployment"}
    titles = " | ".join(title for title, _ in _expressions())
    for topic in ("Request rate", "Latency", "failure rate", "Traffic split", "Prediction-log lag",
                  "Drift score", "Open alerts", "Performance", "scheduler health"):
        assert topic in titles
    for title, expr in _expressions():
        assert expr.count("(") == expr.count(")"), title


@pytest.mark.skipif(PROMETHEUS is None, reason="Debian's prometheus package is not installed "
                    "(.ci/run installs it: apt-get install prometheus)")
def test_the_shipped_scrape_config_is_valid() -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None
    out = subprocess.run([promtool, "check", "config", str(SCRAPE_CONFIG)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


class _Process:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)

    def wait_http(self, url: str, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text(errors="replace")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        pytest.fail(f"{url} not ready within {timeout_s}s:\n{self.log.read_text(errors='replace')}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, list[str], np.ndarray, np.ndarray]]:
    """A store with model ``rain`` v1 deployed as ``api`` and a monitor ``rain`` on it."""
    from sklearn.linear_model import LogisticRegression

    import shipyard
    import shipyard.sklearn
    from shipyard import monitoring
    from shipyard.datasets import RAINFALL_FEATURES, load_rainfall
    from shipyard.tracking import fluent

    for var in ("SHIPYARD_TRACKING_URI", "SHIPYARD_STORE_URI", "SHIPYARD_ARTIFACT_URI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path))
    fluent.set_tracking_uri(None)
    data = load_rainfall()
    X = np.column_stack([data[c][:3000] for c in RAINFALL_FEATURES])
    y = np.asarray(data["rain"][:3000])
    with shipyard.start_run():
        shipyard.sklearn.log_model(LogisticRegression(max_iter=500).fit(X[:2000], y[:2000]), "model",
                                   registered_model_name="rain", training_data=X[:2000],
                                   input_example={n: X[:3, i].tolist() for i, n in enumerate(RAINFALL_FEATURES)})
    shipyard.Client().create_deployment("api", routes=[{"model": "rain", "version": 1}])
    monitoring.create_monitor("rain", "api", window=200, checks={"performance": {"accuracy": 0.99}})
    yield tmp_path, list(RAINFALL_FEATURES), X, y
    fluent.set_tracking_uri(None)


@pytest.mark.skipif(PROMETHEUS is None, reason="Debian's prometheus package is not installed "
                    "(.ci/run installs it: apt-get install prometheus)")
def test_every_dashboard_expression_returns_data(home: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    from shipyard import monitoring

    path, names, X, y = home
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_HOME"] = str(path)
    serve_port, server_port, prom_port = free_port(), free_port(), free_port()
    # The shipped scrape config with this test's ports and a 1 s interval.
    config = yaml.safe_load(SCRAPE_CONFIG.read_text())
    config["global"]["scrape_interval"] = "1s"
    ports = {"shipyard-server": server_port, "shipyard-serve": serve_port}
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [f"127.0.0.1:{ports[job['job_name']]}"]}]
    work = tmp_path_factory.mktemp("prometheus")
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))

    processes = [
        _Process([sys.executable, "-m", "shipyard", "serve", "api", "--port", str(serve_port), "--log-level",
                  "warning"], env, work / "serve.log"),
        _Process([sys.executable, "-m", "shipyard", "server", "--port", str(server_port), "--log-level",
                  "warning"], env, work / "server.log"),
        _Process([str(PROMETHEUS), f"--config.file={work / 'prometheus.yml'}",
                  f"--storage.tsdb.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
                 env, work / "prometheus.log"),
    ]
    serve, server, prometheus = processes
    try:
        serve.wait_http(f"http://127.0.0.1:{serve_port}/ready")
        server.wait_http(f"http://127.0.0.1:{server_port}/health")
        prometheus.wait_http(f"http://127.0.0.1:{prom_port}/-/ready")
        base = f"http://127.0.0.1:{serve_port}/v1/deployments/api"
        with httpx.Client(timeout=10) as http:
            for start in range(0, 400, 4):  # 100 requests of 4 rows, plus a few malformed ones
                rows = X[start:start + 4]
                columns = {n: rows[:, i].tolist() for i, n in enumerate(names)}
                r = http.post(f"{base}/predict", json={"columns": columns})
                assert r.status_code == 200, r.text
                ids = r.json()["request_ids"]
                feedback = [{"request_id": i, "label": int(v)} for i, v in zip(ids, y[start:start + 4], strict=True)]
                assert http.post(f"{base}/feedback", json={"feedback": feedback}).status_code < 300
                if start % 100 == 0:
                    assert http.post(f"{base}/predict", json={"nope": 1}).status_code == 400
                    http.get(f"http://127.0.0.1:{server_port}/api/v1/experiments")
                time.sleep(0.02)
        _wait_written(serve_port)
        monitoring.run_monitor("rain")
        time.sleep(4)  # a few scrapes after the traffic and the monitor run
        empty = []
        with httpx.Client(timeout=10) as http:
            for title, expr in _expressions():
                answer = http.get(f"http://127.0.0.1:{prom_port}/api/v1/query", params={"query": _concrete(expr)})
                assert answer.status_code == 200, (title, expr, answer.text)
                if not answer.json()["data"]["result"]:
                    empty.append((title, expr))
        assert not empty, f"dashboard expressions without data: {empty}"
    finally:
        for process in reversed(processes):
            process.stop()


def _wait_written(port: int, timeout_s: float = 30) -> None:
    """Until the serving process reports no buffered prediction-log rows."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        if "shipyard_prediction_log_buffered_rows 0.0" in text and "shipyard_prediction_log_written_rows_total" in text:
            return
        time.sleep(0.3)
    pytest.fail("the prediction log was not written within 30 s")
