"""Serving with features in the production topology, with real processes: ``shipyard server --auth``
(SQLite store, its online store given with ``--online-store``) and a ``shipyard serve`` replica that
holds only the server's URL and a token. The replica reads the feature definitions and the deployment
through the server and the online values either through the server (``POST /api/v1/features/online``,
the binding names no online store) or from the binding's Redis, which it reaches itself.

Then training-serving skew end to end: the features' data ends an hour before now, so the
``feature_skew`` check recomputes at each request's time what was served. A monitor with
``checks={"feature_skew": {}}`` (the features and keys are the deployment's binding) passes on the
clean traffic; after some entities' online values are changed behind the feature store's back, it
alerts on the changed feature with the share of rows served those values.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

from tests.features.test_serving_features import COLUMNS, REPO, STATIONS, Home, close_home, make_home
from tests.server.test_cli_server import ServerProcess
from tests.serving.test_process_serve import Server

pytestmark = pytest.mark.integration

pd = pytest.importorskip("pandas")
pytest.importorskip("duckdb")

SKEWED = [0, 1, 2]  # stations whose online trips_1h is changed behind the feature store's back
OFF = {"feature_drift": False, "prediction_drift": False, "data_quality": False, "service": False,
       "performance": False}


@dataclass
class Replica:
    """What :class:`Server` needs of a home: a folder for its output and the replica's environment."""

    path: Path
    url: str
    token: str

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
        env.update({"SHIPYARD_HOME": str(self.path), "SHIPYARD_TRACKING_URI": self.url,
                    "SHIPYARD_TRACKING_TOKEN": self.token,
                    # the on-demand view's function: importable where served
                    "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO), os.environ.get("PYTHONPATH", "")])})
        return env


@dataclass
class Topology:
    home: Home
    server: ServerProcess
    replica: Server
    token: str


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    # the data's last hour is an hour ago: a request now is within the views' 3-hour TTL offline too
    start = pd.Timestamp.now("UTC").tz_localize(None).floor("h") - pd.Timedelta(hours=48)
    home = make_home(tmp_path_factory.mktemp("features-server-home"), start)
    token = "shy_" + secrets.token_hex(32)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    subprocess.run([sys.executable, "-m", "shipyard", "tokens", "create", "--name", "serve", "--role", "writer",
                    "--from-env", "SERVE_TOKEN"], env={**env, "SHIPYARD_HOME": str(home.path), "SERVE_TOKEN": token},
                   check=True, capture_output=True)
    server = ServerProcess(home.path, "--auth", "--online-store", f"sqlite:///{home.path / 'online_features.db'}")
    replica = None
    try:
        folder = tmp_path_factory.mktemp("replica-home")
        served = ["busy", *(["busy-redis"] if home.redis else [])]
        replica = Server(Replica(folder, server.url, token), *served).wait_ready()  # type: ignore[arg-type]
        yield Topology(home, server, replica, token)
    finally:
        if replica is not None:
            replica.stop()
        server.stop()
        close_home(home)


def _requests(rng: np.random.Generator, stations: list[int], n: int) -> list[dict[str, Any]]:
    return [{"station_id": int(s), "extra_docks": float(e)}
            for s, e in zip(rng.choice(stations, n), rng.integers(0, 3, n), strict=True)]


def _predict(topology: Topology, deployment: str, rows: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(f"{topology.replica.url}/v1/deployments/{deployment}/predict", json={"records": rows},
                      timeout=30)


def test_a_replica_with_only_the_url_serves_features_through_the_server(topology: Topology) -> None:
    home = topology.home
    assert not (topology.replica.output.parent / "shipyard.db").exists()  # no database of its own
    rows = _requests(np.random.default_rng(11), STATIONS, 16)
    expected, frame = home.expected(rows)
    assert not frame.isna().any().any()
    r = _predict(topology, "busy", rows)  # no online store in the binding: the server's answers
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["predictions"], expected, rtol=1e-9)
    # a missing entity is told apart from found ones (the server says which rows it has)
    r = _predict(topology, "busy", [{"station_id": 3, "extra_docks": 0.0}, {"station_id": 99, "extra_docks": 0.0}])
    assert r.status_code == 404 and r.json()["missing"] == [{"station_id": 99}], r.text
    if home.redis is not None:  # the binding's Redis, read by the replica itself
        r = _predict(topology, "busy-redis", rows)
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(r.json()["predictions"], expected, rtol=1e-9)
    # the server refuses a replica without the token: the definitions are not public
    assert httpx.post(f"{topology.server.url}/api/v1/features/online",
                      json={"entity_rows": [{"station_id": 3}], "features": ["trips:trips_1h"]}).status_code == 401


def test_a_skew_monitor_on_the_binding_passes_clean_traffic_and_alerts_on_changed_online_values(
        topology: Topology, monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.store.rest import RestStore

    home = topology.home
    rng = np.random.default_rng(12)
    clean = _requests(rng, STATIONS, 40)
    assert _predict(topology, "busy", clean).status_code == 200
    clean_end = int(time.time() * 1000)
    time.sleep(0.05)

    # the skew: trips_1h of three stations changed in the server's online store, newer than what is there
    online = home.features.online_store
    now_us = int(time.time() * 1_000_000)
    before = home.features.get_online_features([{"station_id": s} for s in SKEWED], ["trips:trips_1h",
                                                                                   "trips:docks_free"])
    online.write("trips", [(f"[{s}]", now_us, now_us, orjson.dumps({"trips_1h": t + 100.0, "docks_free": d}))
                           for s, t, d in zip(SKEWED, before["trips_1h"], before["docks_free"], strict=True)])
    skewed = _requests(rng, SKEWED, 12)
    others = _requests(rng, [s for s in STATIONS if s not in SKEWED], 8)
    for batch in (skewed, others):
        r = _predict(topology, "busy", batch)
        assert r.status_code == 200, r.text
    assert topology.replica.stop() == 0  # flushes the prediction log (through the server)

    # the scheduler's view: the server's URL and a token (its artifacts, the model's reference
    # profile, come through the server too)
    monkeypatch.setenv("SHIPYARD_TRACKING_URI", topology.server.url)
    monkeypatch.setenv("SHIPYARD_TRACKING_TOKEN", topology.token)
    store = RestStore(topology.server.url)
    try:
        _monitor(store, len(clean), len(skewed), len(others), clean_end)
    finally:
        store.close()


def _monitor(store: Any, clean: int, skewed: int, others: int, clean_end: int) -> None:
    from shipyard import monitoring

    monitoring.create_monitor("busy-skew", "busy", window=1000, min_rows=1, store=store,
                              checks={**OFF, "feature_skew": {}})
    # before the injection: the window ends with the clean traffic
    run = monitoring.run_monitor("busy-skew", store=store, now=clean_end)
    (result,) = run.results
    assert result.status == "ok", [(c.check, c.reason) for c in result.checks]
    assert result.rows >= clean  # and the earlier test's requests: clean too
    clean = result.rows
    for name in COLUMNS:
        check = result.check(f"feature_skew.{name}")
        assert check is not None and check.passed is True and check.value == 0.0, (name, check)
        assert check.detail["compared"] == clean

    run = monitoring.run_monitor("busy-skew", store=store)
    (result,) = run.results
    total = clean + skewed + others
    assert result.rows == total and result.status == "alert"
    trips = result.check("feature_skew.trips_1h")
    assert trips is not None and trips.passed is False
    assert trips.detail["mismatches"] == skewed and trips.value == pytest.approx(skewed / total)
    assert {e["keys"]["station_id"] for e in trips.detail["examples"]} <= set(SKEWED)
    assert all(e["served"] == e["offline"] + 100.0 for e in trips.detail["examples"])
    docks = result.check("feature_skew.docks_free")
    assert docks is not None and docks.passed is True and docks.value == 0.0
    derived = result.check("feature_skew.busy_per_dock")  # computed from trips_1h: skewed on the same rows
    assert derived is not None and derived.passed is False and derived.detail["mismatches"] == skewed
    assert ("opened", "feature_skew.trips_1h") in [(e.event, e.alert.check) for e in run.events]
