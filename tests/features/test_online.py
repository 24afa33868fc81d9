"""Materialization (incremental, newest wins) into SQLite and a real Redis; online lookups."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pytest

from shipyard.errors import InvalidInput
from shipyard.features import Entity, FeatureStore, FeatureView, OnDemandFeatureView, RequestSource

pd = pytest.importorskip("pandas")

T0 = pd.Timestamp("2026-01-01")
STATION = Entity("station", join_keys=["station_id"])


def _rows(ids: list[int], minutes: list[int], created: list[int], temps: list[float]) -> object:
    return pd.DataFrame({"station_id": ids, "event_timestamp": T0 + pd.to_timedelta(minutes, unit="min"),
                         "created": T0 + pd.to_timedelta(created, unit="min"), "temp": temps,
                         "rain": [t / 10 for t in temps]})


def _ms(minute: int) -> int:
    return int((T0 + pd.Timedelta(minutes=minute)).timestamp() * 1000)


@pytest.fixture(params=["sqlite", "redis"])
def online_uri(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/online.db"
        return
    redis = pytest.importorskip("redis")
    client = redis.Redis(host="127.0.0.1", port=6379, db=9)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    prefix = f"test-{uuid.uuid4().hex}:"
    yield f"redis://127.0.0.1:6379/9?prefix={prefix}"
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_materialize_is_incremental_and_newest_wins(online_uri: str) -> None:
    source = _rows([1, 1, 2], [0, 5, 3], [0, 5, 3], [10.0, 15.0, 20.0])
    store = FeatureStore(online_store=online_uri)
    view = FeatureView("weather", entities=[STATION], source=source, features=["temp", "rain"],
                       created_timestamp_column="created")
    store.apply(view)
    first = store.materialize(end=_ms(10))
    assert [(m.feature_view, m.rows, m.start_time, m.end_time) for m in first] == [("weather", 2, 0, _ms(10))]
    rows = [{"station_id": 1}, {"station_id": 2}, {"station_id": 3}]
    got = store.get_online_features(rows, ["weather:temp", "weather:rain"])
    assert got == {"station_id": [1, 2, 3], "temp": [15.0, 20.0, None], "rain": [1.5, 2.0, None]}

    # New data: a late row for station 1 (older event, created later) must not replace the newer value;
    # a new value for station 2 must; the second run reads only rows known after the first.
    grown = pd.concat([source, _rows([1, 2], [4, 12], [11, 12], [99.0, 21.0])], ignore_index=True)
    store.apply(FeatureView("weather", entities=[STATION], source=grown, features=["temp", "rain"],
                            created_timestamp_column="created"))
    second = store.materialize(end=_ms(20))
    # A DataFrame source is versioned by its columns, not its rows: still version 1.
    assert [(m.rows, m.start_time, m.end_time, m.version) for m in second] == [(2, _ms(10), _ms(20), 1)]
    assert store.get_online_features(rows, ["weather:temp"])["temp"] == [15.0, 21.0, None]
    assert store.materialize(end=_ms(20)) == []  # nothing new to read
    store.close()


def test_online_lookup_is_fast_in_process(tmp_path: object) -> None:
    n = 5000
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"station_id": np.arange(n), "event_timestamp": T0})
    for i in range(10):
        frame[f"f{i}"] = rng.random(n)
    store = FeatureStore(online_store=f"sqlite:///{tmp_path}/online.db")
    store.apply(FeatureView("wide", entities=[STATION], source=frame, features=[f"f{i}" for i in range(10)]))
    store.materialize(end=_ms(1))
    refs = [f"wide:f{i}" for i in range(10)]
    samples = []
    for _ in range(300):
        rows = [{"station_id": int(k)} for k in rng.choice(n, 100, replace=False)]
        start = time.perf_counter()
        got = store.get_online_features(rows, refs)
        samples.append(time.perf_counter() - start)
    assert got["f3"] == [frame.f3[r["station_id"]] for r in rows]
    # The target is p99 < 2 ms on a quiet machine (benchmarks/features.py); on a shared CI box the
    # median is what stays meaningful.
    assert np.median(samples) < 0.004


def test_on_demand_features_offline_and_online(tmp_path: object) -> None:
    source = _rows([1, 2], [0, 0], [0, 0], [10.0, 20.0])
    store = FeatureStore(online_store=f"sqlite:///{tmp_path}/online.db")
    weather = FeatureView("weather", entities=[STATION], source=source, features=["temp", "rain"])

    def feels_like(df: object) -> object:
        return pd.DataFrame({"feels_like": df["temp"] - df["wind"] / 2})

    odfv = OnDemandFeatureView("comfort", inputs=["weather:temp"], request=[RequestSource("req", ["wind"])],
                               function=feels_like, features=["feels_like"])
    store.apply(weather, odfv)
    entities = pd.DataFrame({"station_id": [1, 2], "event_timestamp": [T0 + timedelta(minutes=1)] * 2,
                             "wind": [4.0, 10.0]})
    training = store.get_historical_features(entities, ["weather:rain", "comfort:feels_like"])
    assert training["feels_like"].tolist() == [8.0, 15.0]
    assert "temp" not in training.columns  # an input only, not asked for
    store.materialize(end=_ms(1))
    online = store.get_online_features([{"station_id": 2, "wind": 2.0}], ["comfort:feels_like", "weather:rain"])
    assert online == {"station_id": [2], "wind": [2.0], "feels_like": [19.0], "rain": [2.0]}
    with pytest.raises(InvalidInput, match="wind"):
        store.get_online_features([{"station_id": 2}], ["comfort:feels_like"])


def test_bad_online_store_uri_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="sqlite:///path or redis://"):
        _ = FeatureStore(online_store="mysql://x").online_store
