"""Retrieval on Dask equals retrieval in one process: same rows, order, values and dtypes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shipyard.errors import InvalidInput
from shipyard.features import Entity, FeatureStore, FeatureView, TableSource
from tests.features.conftest import random_entities, random_source

pd = pytest.importorskip("pandas")
pytest.importorskip("distributed")

PAIR = Entity("pair", join_keys=["k1", "k2"])
K1 = Entity("one", join_keys=["k1"])


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    from distributed import Client, LocalCluster

    # threads, not processes: the workers still rebuild the views from their specs and read the
    # Parquet files themselves, without the seconds a process start costs
    with LocalCluster(processes=False, protocol="tcp", n_workers=2, threads_per_worker=1,
                      dashboard_address=":0") as cluster, \
            Client(cluster) as c:
        yield c


def _views(tmp_path: Path, rng: np.random.Generator) -> list[FeatureView]:
    """Parquet views over two keys and one key, with and without created columns and TTLs."""
    specs = [("v_created_ttl", PAIR, True, timedelta(minutes=7)), ("v_plain", PAIR, False, None),
             ("v_one", K1, True, None), ("v_one_ttl", K1, False, timedelta(minutes=5))]
    views = []
    for name, entity, created, ttl in specs:
        features = [f"{name}_x", f"{name}_y"]
        source = random_source(rng, 400, features, created=created)
        source[f"{name}_y"] = rng.integers(0, 100, len(source))  # an integer column: NaN-able only as float
        if entity is K1:
            source = source.drop(columns=["k2"])
        path = tmp_path / f"{name}.parquet"
        source.to_parquet(path)
        views.append(FeatureView(name, entities=[entity], source=path, features=features, ttl=ttl,
                                 created_timestamp_column="created" if created else None))
    return views


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("as_known_at", [False, True])
def test_dask_retrieval_equals_in_process(client: Any, tmp_path: Path, seed: int, as_known_at: bool) -> None:
    rng = np.random.default_rng(seed)
    views = _views(tmp_path, rng)
    entities = random_entities(rng, 500)
    entities.index = rng.permutation(len(entities)) + 1000  # an index of the caller's, kept
    store = FeatureStore()
    store.apply(*views)
    refs = [f"{v.name}:{f}" for v in views for f in v.features]
    local = store.get_historical_features(entities, refs, as_known_at=as_known_at)
    for parts in (None, 1, 7):
        remote = store.get_historical_features(entities, refs, as_known_at=as_known_at, executor=client,
                                               partitions=parts)
        pd.testing.assert_frame_equal(remote, local, check_exact=True)
        assert remote.attrs == local.attrs
    assert local["v_plain_x"].notna().sum() > 30


def test_dask_retrieval_without_an_entity_frame(client: Any, tmp_path: Path) -> None:
    views = _views(tmp_path, np.random.default_rng(3))[:2]
    store = FeatureStore()
    store.apply(*views)
    refs = [f"{v.name}:{f}" for v in views for f in v.features]
    span = {"start": pd.Timestamp("2026-01-01 00:05"), "end": pd.Timestamp("2026-01-01 00:30")}
    local = store.get_historical_features(None, refs, **span)
    remote = store.get_historical_features(None, refs, executor=client, **span)
    pd.testing.assert_frame_equal(remote, local, check_exact=True)


def test_dask_address_string_is_used(client: Any, tmp_path: Path) -> None:
    views = _views(tmp_path, np.random.default_rng(4))[:1]
    store = FeatureStore()
    store.apply(*views)
    entities = random_entities(np.random.default_rng(5), 50)
    refs = ["v_created_ttl:v_created_ttl_x"]
    address = "dask://" + client.scheduler.address.removeprefix("tcp://")
    try:
        got = store.get_historical_features(entities, refs, executor=address)
    finally:
        from shipyard.pipelines._executors import _shared

        # the process's shared client of that address: closed before its cluster goes
        shared = _shared.pop(client.scheduler.address, None)
        if shared is not None:
            shared.close()
    pd.testing.assert_frame_equal(got, store.get_historical_features(entities, refs))


@pytest.mark.parametrize("bad", ["dask", "threads", "dask://nohost", "http://h:1", "dask://h:x"])
def test_a_bad_executor_is_refused_before_any_work(bad: str) -> None:
    store = FeatureStore()
    with pytest.raises(InvalidInput, match="executor"):
        store.get_historical_features(pd.DataFrame(), ["v:x"], executor=bad)
    with pytest.raises(InvalidInput, match="executor"):
        store.get_historical_features(pd.DataFrame(), ["v:x"], executor=object())


def test_a_dataframe_source_is_refused_on_dask(client: Any) -> None:
    rng = np.random.default_rng(6)
    view = FeatureView("mem", entities=[PAIR], source=random_source(rng, 50, ["f"]), features=["f"])
    store = FeatureStore()
    store.apply(view)
    with pytest.raises(InvalidInput, match="DataFrame of this process"):
        store.get_historical_features(random_entities(rng, 10), ["mem:f"], executor=client)


def test_worker_processes_read_parquet_and_tables_themselves(tmp_path: Path) -> None:
    """Worker processes (definitions pickled as specs): a Parquet view and a SQLite table view."""
    import sqlite3

    from distributed import Client, LocalCluster

    rng = np.random.default_rng(7)
    parquet_view = _views(tmp_path, rng)[0]
    table = random_source(rng, 300, ["t_x"])
    db = tmp_path / "sources.db"
    with sqlite3.connect(db) as con:  # times as integer milliseconds: the store's own time unit
        table.assign(event_timestamp=table["event_timestamp"].astype("datetime64[ms]").astype("int64"),
                     created=table["created"].astype("datetime64[ms]").astype("int64")).to_sql("t", con, index=False)
    table_view = FeatureView("tab", entities=[PAIR], source=TableSource("t", f"sqlite:///{db}"), features=["t_x"],
                             created_timestamp_column="created", ttl=timedelta(minutes=9))
    store = FeatureStore()
    store.apply(parquet_view, table_view)
    entities = random_entities(rng, 300)
    refs = ["v_created_ttl:v_created_ttl_x", "v_created_ttl:v_created_ttl_y", "tab:t_x"]
    local = store.get_historical_features(entities, refs)
    with LocalCluster(processes=True, n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster, \
            Client(cluster) as c:
        remote = store.get_historical_features(entities, refs, executor=c)
    pd.testing.assert_frame_equal(remote, local, check_exact=True)
    assert local["t_x"].notna().sum() > 30


def test_parquet_folder_ties_across_files_and_aware_times(client: Any, tmp_path: Path) -> None:
    """A folder of files: ties between files go to the later file on Dask too (each part reads its keys'
    rows only, in file order)."""
    rng = np.random.default_rng(8)
    source = random_source(rng, 600, ["a", "b"])
    source["event_timestamp"] = source["event_timestamp"].dt.tz_localize("UTC")
    folder = tmp_path / "parts"
    folder.mkdir()
    for i in range(3):
        source.iloc[i::3].to_parquet(folder / f"part-{i}.parquet")
    view = FeatureView("folder", entities=[PAIR], source=folder, features=["a", "b"],
                       created_timestamp_column="created")
    store = FeatureStore()
    store.apply(view)
    entities = random_entities(rng, 400)
    for known in (True, False):
        local = store.get_historical_features(entities, ["folder:a", "folder:b"], as_known_at=known)
        remote = store.get_historical_features(entities, ["folder:a", "folder:b"], as_known_at=known,
                                               executor=client, partitions=3)
        pd.testing.assert_frame_equal(remote, local, check_exact=True)


def test_no_entity_rows_and_partitions_without_executor(client: Any, tmp_path: Path) -> None:
    views = _views(tmp_path, np.random.default_rng(9))[:2]
    store = FeatureStore()
    store.apply(*views)
    refs = [f"{v.name}:{f}" for v in views for f in v.features]
    empty = random_entities(np.random.default_rng(9), 5).iloc[:0]
    pd.testing.assert_frame_equal(store.get_historical_features(empty, refs, executor=client),
                                  store.get_historical_features(empty, refs))
    with pytest.raises(InvalidInput, match="give executor= too"):
        store.get_historical_features(empty, refs, partitions=2)
