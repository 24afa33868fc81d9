"""Serving with features, end to end with real processes: features defined over generated station
data, a point-in-time training set, a model trained on it and logged with its lineage, the views
materialized to SQLite and to a real Redis, deployments that name their feature references, and
``shipyard serve`` answering requests that carry only the entity keys (plus the request value of
an on-demand feature) exactly as the model answers on the features ``get_online_features`` gives.
The prediction log holds what the model received (its input columns) and the entity keys.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.serving.test_process_serve import Server

pytestmark = pytest.mark.integration

pd = pytest.importorskip("pandas")
pytest.importorskip("duckdb")

REFS = ["trips:trips_1h", "trips:docks_free", "busyness:busy_per_dock"]
COLUMNS = ["trips_1h", "docks_free", "busy_per_dock"]
STATIONS = list(range(20))  # every one has features; 98 and 99 never do
REPO = Path(__file__).resolve().parents[2]


def _redis_url() -> str | None:
    try:
        import redis

        redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=1).ping()
    except Exception:
        return None
    return f"redis://127.0.0.1:6379/0?prefix=test-serving-{uuid.uuid4().hex[:8]}:"


@dataclass
class Home:
    path: Path
    features: Any  # the FeatureStore that built the training set (the on-demand view applied)
    model: Any  # the fitted model, as trained
    redis: str | None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
        env["SHIPYARD_HOME"] = str(self.path)
        # the on-demand view's function lives in tests/features/_ondemand.py: importable where served
        env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO), env.get("PYTHONPATH", "")])
        return env

    def log(self, deployment: str) -> Any:
        from shipyard.serving.reader import read_prediction_log

        return read_prediction_log(deployment, with_feedback=False, root=f"{self.path / 'artifacts'}/prediction-logs")

    def expected(self, rows: list[dict[str, Any]]) -> tuple[np.ndarray, Any]:
        """The model's answer on the features get_online_features gives (and that frame)."""
        online = self.features.get_online_features(rows, REFS)
        frame = pd.DataFrame({c: online[c] for c in COLUMNS})
        return self.model.predict(frame), frame


def _station_data(rng: np.random.Generator, start: Any) -> Any:
    hours = pd.date_range(start, periods=48, freq="h")
    frame = pd.DataFrame([(s, h) for s in STATIONS for h in hours], columns=["station_id", "hour"])
    frame["created"] = frame["hour"] + pd.Timedelta(minutes=5)
    frame["trips_1h"] = rng.poisson(10 + frame["station_id"], len(frame)).astype(float)
    frame["docks_free"] = rng.integers(1, 20, len(frame)).astype(float)
    return frame


def make_home(path: Path, start: Any = None) -> Home:
    """The station features (48 hours from ``start``, 2026-03-01 by default), the model trained on
    them, the views materialized and the deployments ``busy``, ``busy-default`` and (with a Redis)
    ``busy-redis``. Data that ends an hour before now (``start`` 49 hours ago) is what a monitor's
    skew check recomputes at serving time, within the views' 3-hour TTL."""
    from sklearn.linear_model import LinearRegression

    import shipyard
    import shipyard.sklearn
    from shipyard.features import (
        LINEAGE_TAG,
        Entity,
        FeatureStore,
        FeatureView,
        OnDemandFeatureView,
        RequestSource,
        log_training_set,
    )
    from shipyard.tracking import fluent
    from tests.features._ondemand import busy_per_dock

    start = pd.Timestamp("2026-03-01") if start is None else pd.Timestamp(start)
    rng = np.random.default_rng(7)
    _station_data(rng, start).to_parquet(path / "trips.parquet")
    redis = _redis_url()
    with pytest.MonkeyPatch.context() as mp:
        for var in ("SHIPYARD_TRACKING_URI", "SHIPYARD_STORE_URI", "SHIPYARD_ARTIFACT_URI"):
            mp.delenv(var, raising=False)
        mp.setenv("SHIPYARD_HOME", str(path))
        fluent.set_tracking_uri(None)
        station = Entity("station", join_keys=["station_id"])
        trips = FeatureView("trips", entities=[station], source=path / "trips.parquet",
                            features=["trips_1h", "docks_free"], timestamp_column="hour",
                            created_timestamp_column="created", ttl=timedelta(hours=3))
        busyness = OnDemandFeatureView("busyness", inputs=["trips:trips_1h", "trips:docks_free"],
                                       request=[RequestSource("ride", ["extra_docks"])], function=busy_per_dock,
                                       features=["busy_per_dock"])
        fs = FeatureStore(online_store=f"sqlite:///{path / 'online_features.db'}")  # the default of the server
        fs.apply(station, trips, busyness)

        n = 600
        rows = pd.DataFrame({"station_id": rng.choice(STATIONS, n),
                             "event_timestamp": start + pd.Timedelta(hours=2)
                             + pd.to_timedelta(rng.integers(0, 45 * 60, n), unit="min"),
                             "extra_docks": rng.integers(0, 3, n).astype(float)})
        training = fs.get_historical_features(rows, REFS)
        assert not training[COLUMNS].isna().any().any()  # the TTL covers every row
        training["label"] = (2.0 * training["trips_1h"] - 0.5 * training["docks_free"]
                             + 3.0 * training["busy_per_dock"] + rng.normal(0, 0.5, n))
        model = LinearRegression().fit(training[COLUMNS], training["label"])
        with shipyard.start_run() as run:
            assert log_training_set(training, "stations", targets="label") == {"busyness": 1, "trips": 1}
            shipyard.sklearn.log_model(model, "model", registered_model_name="busy",
                                       input_example=training[COLUMNS].head(3))
        assert shipyard.Client().get_run(run.info.run_id).data.tags[LINEAGE_TAG] == "busyness@1,trips@1"

        fs.materialize(full=True)
        client = shipyard.Client()
        route = [{"model": "busy", "version": 1}]
        client.create_deployment("busy", routes=route, features={"features": REFS})
        client.create_deployment("busy-default", routes=route, features={
            "features": REFS, "on_missing": "default",
            "defaults": {"trips_1h": 0.0, "docks_free": 10.0, "busy_per_dock": 0.0}})
        if redis is not None:
            FeatureStore(online_store=redis).materialize(["trips"], full=True)
            client.create_deployment("busy-redis", routes=route, features={"features": REFS, "online_store": redis,
                                                                          "entity_keys": ["station_id"]})
    fluent.set_tracking_uri(None)
    return Home(path, fs, model, redis)


def close_home(home: Home) -> None:
    """Close the home's feature store and delete its Redis keys."""
    home.features.close()
    if home.redis is not None:
        import redis as redis_lib

        r = redis_lib.Redis.from_url("redis://127.0.0.1:6379/0")
        prefix = home.redis.split("prefix=", 1)[1]
        keys = list(r.scan_iter(f"{prefix}*"))
        if keys:
            r.delete(*keys)
        r.close()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    built = make_home(tmp_path_factory.mktemp("features-serve-home"))
    yield built
    close_home(built)


@pytest.fixture(scope="module")
def servers(home: Home) -> Iterator[dict[str, Server]]:
    """``solo`` serves ``busy`` alone (so /invocations answers for it); ``pair`` the other two."""
    specs = {"solo": ("busy",), "pair": ("busy-default", *(("busy-redis",) if home.redis else ()))}
    started: dict[str, Server] = {}
    try:
        for key, args in specs.items():
            started[key] = Server(home, *args)  # type: ignore[arg-type]
        for server in started.values():
            server.wait_ready()
        yield started
    finally:
        for server in started.values():
            server.stop()


def _requests(rng: np.random.Generator, n: int) -> list[dict[str, Any]]:
    return [{"station_id": int(s), "extra_docks": float(e)}
            for s, e in zip(rng.choice(STATIONS, n), rng.integers(0, 3, n), strict=True)]


def test_entity_key_requests_answer_like_the_model_on_the_online_features(home: Home,
                                                                          servers: dict[str, Server]) -> None:
    rows = _requests(np.random.default_rng(1), 12)
    expected, frame = home.expected(rows)
    assert not frame.isna().any().any()
    with httpx.Client(base_url=servers["solo"].url, timeout=30) as client:
        r = client.post("/v1/deployments/busy/predict", json={"records": rows})
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(r.json()["predictions"], expected, rtol=1e-9)
        columns = {"station_id": [row["station_id"] for row in rows],
                   "extra_docks": [row["extra_docks"] for row in rows]}
        r = client.post("/v1/deployments/busy/predict", json={"columns": columns})
        np.testing.assert_allclose(r.json()["predictions"], expected, rtol=1e-9)
        # MLflow's scoring protocol: records and split frames
        r = client.post("/invocations", json={"dataframe_records": rows})
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(r.json()["predictions"], expected, rtol=1e-9)
        split = {"columns": ["station_id", "extra_docks"], "data": [[x["station_id"], x["extra_docks"]] for x in rows]}
        np.testing.assert_allclose(client.post("/invocations", json={"dataframe_split": split}).json()["predictions"],
                                   expected, rtol=1e-9)
        np.testing.assert_allclose(client.post("/invocations", json={"instances": rows}).json()["predictions"],
                                   expected, rtol=1e-9)
        csv = "station_id,extra_docks\n" + "".join(f"{x['station_id']},{x['extra_docks']}\n" for x in rows)
        r = client.post("/invocations", content=csv, headers={"content-type": "text/csv"})
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(r.json()["predictions"], expected, rtol=1e-9)
        # Open Inference Protocol V2 with one named tensor per column
        v2 = {"inputs": [{"name": "station_id", "shape": [len(rows)], "datatype": "INT64",
                          "data": columns["station_id"]},
                         {"name": "extra_docks", "shape": [len(rows)], "datatype": "FP64",
                          "data": columns["extra_docks"]}]}
        r = client.post("/v2/models/busy/infer", json=v2)
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(r.json()["outputs"][0]["data"], expected, rtol=1e-9)


def test_concurrent_requests_each_get_their_own_rows(home: Home, servers: dict[str, Server]) -> None:
    """Concurrent requests share batched lookups; each still gets its own answers, in order."""
    rng = np.random.default_rng(2)
    batches = [_requests(rng, int(k)) for k in rng.integers(1, 6, 40)]

    async def send() -> list[Any]:
        async with httpx.AsyncClient(base_url=servers["solo"].url, timeout=30) as client:
            return list(await asyncio.gather(*(client.post("/v1/deployments/busy/predict", json={"records": b})
                                               for b in batches)))

    answers = asyncio.run(send())
    for rows, r in zip(batches, answers, strict=True):
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(r.json()["predictions"], home.expected(rows)[0], rtol=1e-9)


def test_a_missing_entity_is_a_404_naming_it_and_bad_requests_are_400s(servers: dict[str, Server]) -> None:
    url = "/v1/deployments/busy/predict"
    with httpx.Client(base_url=servers["solo"].url, timeout=30) as client:
        r = client.post(url, json={"records": [{"station_id": 3, "extra_docks": 0.0},
                                               {"station_id": 99, "extra_docks": 0.0},
                                               {"station_id": 98, "extra_docks": 1.0}]})
        assert r.status_code == 404, r.text
        body = r.json()
        assert body["error_code"] == "ENTITY_NOT_FOUND"
        assert "station_id=99" in body["message"] and "station_id=98" in body["message"]
        assert body["missing"] == [{"station_id": 99}, {"station_id": 98}]
        bad = {
            "no entity key": {"records": [{"extra_docks": 1.0}]},
            "no request value": {"records": [{"station_id": 3}]},
            "a bare array": {"inputs": [[3, 1.0]]},
            "a null key": {"records": [{"station_id": None, "extra_docks": 1.0}]},
            "uneven columns": {"columns": {"station_id": [1, 2], "extra_docks": [1.0]}},
        }
        for what, doc in bad.items():
            r = client.post(url, json=doc)
            assert r.status_code == 400, (what, r.text)
            assert r.json()["message"], what
        assert "station_id" in client.post(url, json=bad["no entity key"]).json()["message"]
        assert "extra_docks" in client.post(url, json=bad["no request value"]).json()["message"]
        assert client.post(url, json={"records": [{"station_id": 3, "extra_docks": 1.0}]}).status_code == 200


def test_the_default_policy_serves_defaults_for_missing_entities(home: Home, servers: dict[str, Server]) -> None:
    rows = [{"station_id": 4, "extra_docks": 1.0}, {"station_id": 99, "extra_docks": 1.0}]
    with httpx.Client(base_url=servers["pair"].url, timeout=30) as client:
        r = client.post("/v1/deployments/busy-default/predict", json={"records": rows})
    assert r.status_code == 200, r.text
    known = home.expected(rows[:1])[0][0]
    default = home.model.predict(pd.DataFrame({"trips_1h": [0.0], "docks_free": [10.0], "busy_per_dock": [0.0]}))[0]
    np.testing.assert_allclose(r.json()["predictions"], [known, default], rtol=1e-9)


def test_a_redis_online_store_serves_the_same_answers(home: Home, servers: dict[str, Server]) -> None:
    if home.redis is None:
        pytest.skip("no Redis at 127.0.0.1:6379")
    rows = _requests(np.random.default_rng(3), 8)
    with httpx.Client(base_url=servers["pair"].url, timeout=30) as client:
        r = client.post("/v1/deployments/busy-redis/predict", json={"records": rows})
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(r.json()["predictions"], home.expected(rows)[0], rtol=1e-9)
        r = client.post("/v1/deployments/busy-redis/predict", json={"records": [{"station_id": 77, "extra_docks": 0}]})
        assert r.status_code == 404 and "station_id=77" in r.json()["message"]


def test_the_prediction_log_holds_the_assembled_features_and_the_entity_keys(
        home: Home, servers: dict[str, Server]) -> None:
    rows = _requests(np.random.default_rng(4), 5)
    with httpx.Client(base_url=servers["solo"].url, timeout=30) as client:
        r = client.post("/v1/deployments/busy/predict", json={"records": rows})
    assert r.status_code == 200
    ids = r.json()["request_ids"]
    for server in servers.values():
        assert server.stop() == 0  # flushes the log
    log = home.log("busy").to_pandas().set_index("request_id").loc[ids]
    assert {f"feature.{c}" for c in ["station_id", *COLUMNS]} <= set(log.columns)
    # what the model received, exactly: the online features, named as the features; and the keys
    expected, frame = home.expected(rows)
    np.testing.assert_allclose(log[[f"feature.{c}" for c in COLUMNS]].to_numpy(), frame.to_numpy(), rtol=1e-12)
    assert log["feature.station_id"].tolist() == [row["station_id"] for row in rows]
    # the on-demand view's request value too (not a model input): the skew check recomputes from it
    assert log["feature.extra_docks"].tolist() == [row["extra_docks"] for row in rows]
    np.testing.assert_allclose(log["prediction"].to_numpy(), expected, rtol=1e-9)
    # nothing answered 404 or 400 was logged; the default policy's rows were
    assert not home.log("busy")["feature.station_id"].to_pandas().isin([98, 99]).any()
    default = home.log("busy-default").to_pandas()
    assert 99 in default["feature.station_id"].tolist()
    assert default.loc[default["feature.station_id"] == 99, "feature.docks_free"].tolist() == [10.0]
