"""Materialization (incremental, newest wins) into SQLite and a real Redis; online lookups."""

from __future__ import annotations

import os
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


@pytest.fixture(params=["sqlite", "redis", "postgresql"])
def online_uri(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/online.db"
        return
    if request.param == "postgresql":
        yield from _postgres_online_uri()
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


def _postgres_online_uri() -> Iterator[str]:
    """A PostgreSQL online store under a table prefix of its own, dropped afterwards."""
    url = os.environ.get("SHIPYARD_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("SHIPYARD_TEST_POSTGRES_URL is not set")
    psycopg = pytest.importorskip("psycopg")
    prefix = f"test_{uuid.uuid4().hex[:12]}_"
    yield f"{url}?prefix={prefix}"
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f'DROP TABLE IF EXISTS "{prefix}online_features"')


@pytest.fixture
def postgres_online_uri() -> Iterator[str]:
    yield from _postgres_online_uri()


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


def test_online_store_keeps_the_newest_row_per_key(online_uri: str) -> None:
    """The store's own contract, below materialization: newer (event, then created) wins whatever the
    order of writes, an equal one replaces, duplicates within one write resolve the same way, and one
    read answers many keys (missing ones None), composite keys included."""
    from shipyard.features import open_online_store
    from shipyard.features._online import entity_key

    store = open_online_store(online_uri)
    try:
        a, b, c = entity_key([1, "x"]), entity_key([2, "x"]), entity_key([1, "y"])
        assert store.write("v", [(a, 10, 10, b"a10"), (b, 5, 5, b"b5")]) == 2
        store.write("v", [(a, 10, 9, b"a10-old")])
        store.write("v", [(a, 9, 50, b"a9")])
        assert store.read("v", [a, b, c]) == [b"a10", b"b5", None]
        # several rows of one key in one write (materialization never sends that), on every store
        store.write("dup", [(a, 10, 10, b"a10"), (a, 10, 9, b"a10-old"), (a, 9, 50, b"a9"), (a, 10, 10, b"a10+")])
        assert store.read("dup", [a]) == [b"a10+"]
        store.write("dup", [(a, 11, 0, b"a11"), (a, 10, 99, b"a10-late")])
        assert store.read("dup", [a]) == [b"a11"]
        store.write("v", [(a, 10, 10, b"a10-again"), (b, 4, 99, b"b4"), (c, 1, 1, b"c1")])
        assert store.read("v", [c, b, a, a]) == [b"c1", b"b5", b"a10-again", b"a10-again"]
        assert store.read("other", [a]) == [None]  # views do not share keys
        many = [entity_key([i, "k"]) for i in range(3000)]
        store.write("wide", [(k, 1, 1, str(i).encode()) for i, k in enumerate(many)])
        assert store.read("wide", [*many[::-1], "[-1]"]) == [str(i).encode() for i in range(2999, -1, -1)] + [None]
        assert store.read("wide", []) == []
    finally:
        store.close()


def test_postgres_online_store_reads_in_one_query_and_hides_the_password(postgres_online_uri: str) -> None:
    from shipyard.features import PostgresOnlineStore, open_online_store

    store = open_online_store(postgres_online_uri.replace("postgresql://", "postgresql://postgres:secret@", 1)
                              if "@" not in postgres_online_uri else postgres_online_uri)
    try:
        assert isinstance(store, PostgresOnlineStore)
        assert "@" not in store.name and "secret" not in store.name and "prefix=" in store.name
        queries: list[str] = []
        db = store._connect()  # the store's one connection: count what a lookup of 500 keys sends
        db.add_notice_handler(lambda _n: None)
        original = db.execute

        def spy(query: object, *args: object, **kwargs: object) -> object:
            queries.append(str(query))
            return original(query, *args, **kwargs)

        db.execute = spy
        store.read("v", [f"[{i}]" for i in range(500)])
        assert len(queries) == 1
    finally:
        store.close()


@pytest.mark.parametrize("query", ["prefix=bad;drop", "prefix=1x", "schema=a.b", "prefix=" + "x" * 41])
def test_postgres_online_store_refuses_names_that_are_not_identifiers(query: str) -> None:
    pytest.importorskip("psycopg")
    from shipyard.features import open_online_store

    with pytest.raises(InvalidInput, match=r"prefix|schema"):  # before any connection is tried
        open_online_store(f"postgresql://127.0.0.1/test?{query}")


def test_postgres_online_store_serves_features_through_the_feature_store(postgres_online_uri: str) -> None:
    """Composite keys and a wide lookup through FeatureStore, as serving reads them."""
    n = 2000
    frame = pd.DataFrame({"station_id": np.arange(n) % 1000, "zone": np.where(np.arange(n) < 1000, "a", "b"),
                          "event_timestamp": T0, "temp": np.arange(n, dtype=float)})
    zoned = Entity("zoned", join_keys=["station_id", "zone"])
    store = FeatureStore(online_store=postgres_online_uri)
    store.apply(FeatureView("zoned_weather", entities=[zoned], source=frame, features=["temp"]))
    assert [m.rows for m in store.materialize(end=_ms(1))] == [n]
    rows = [{"station_id": 999, "zone": "b"}, {"station_id": 0, "zone": "a"}, {"station_id": 0, "zone": "c"}]
    assert store.get_online_features(rows, ["zoned_weather:temp"])["temp"] == [1999.0, 0.0, None]
    store.close()


def test_postgres_online_store_reconnects_once_after_a_dropped_connection(postgres_online_uri: str) -> None:
    import psycopg

    from shipyard.features import open_online_store

    store = open_online_store(postgres_online_uri)
    try:
        store.write("v", [("[1]", 1, 1, b"one")])
        pid = store._connect().info.backend_pid  # the store's one connection
        with psycopg.connect(os.environ["SHIPYARD_TEST_POSTGRES_URL"], autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert store.read("v", ["[1]"]) == [b"one"]
        assert store._connect().info.backend_pid != pid
    finally:
        store.close()
