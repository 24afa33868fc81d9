"""Point-in-time retrieval equals a plain pandas reference on random data with every awkward case."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from shipyard.errors import InvalidInput
from shipyard.features import Entity, FeatureStore, FeatureView, ParquetSource
from tests.features.conftest import minutes, random_entities, random_source, reference_as_known_at, reference_event_time

pd = pytest.importorskip("pandas")

ENTITY = Entity("pair", join_keys=["k1", "k2"])


def _views(rng: np.random.Generator) -> list[tuple[FeatureView, object]]:
    """Several views over the same two keys: with and without a created column, TTLs 0, 7 min, none."""
    specs = [("v_created_ttl", True, timedelta(minutes=7)), ("v_created", True, None),
             ("v_plain_ttl", False, timedelta(minutes=5)), ("v_plain", False, None)]
    views = []
    for name, created, ttl in specs:
        features = [f"{name}_x", f"{name}_y"]
        source = random_source(rng, 400, features, created=created)
        view = FeatureView(name, entities=[ENTITY], source=source, features=features, ttl=ttl,
                           created_timestamp_column="created" if created else None)
        views.append((view, source))
    return views


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("as_known_at", [False, True])
def test_retrieval_equals_the_pandas_reference(seed: int, as_known_at: bool) -> None:
    rng = np.random.default_rng(seed)
    views = _views(rng)
    entities = random_entities(rng, 300)
    store = FeatureStore()
    store.apply(*[v for v, _ in views])
    refs = [f"{v.name}:{f}" for v, _ in views for f in v.features]
    got = store.get_historical_features(entities, refs, as_known_at=as_known_at)

    assert list(got.columns) == [*entities.columns, *[f for v, _ in views for f in v.features]]
    pd.testing.assert_frame_equal(got[list(entities.columns)], entities)
    for view, source in views:
        features = list(view.features)
        if as_known_at and view.created_timestamp_column:
            want = reference_as_known_at(entities, source, ["k1", "k2"], features, view.ttl)
        else:
            want = reference_event_time(entities, source, ["k1", "k2"], features, view.ttl)
        pd.testing.assert_frame_equal(got[features].reset_index(drop=True), want, check_dtype=False)
        assert got[features[0]].notna().sum() > 30  # the data really exercises matches, not only misses


def test_a_backfilled_value_never_appears_before_it_was_created() -> None:
    # The value of 10:00 was corrected at 12:00 by a backfill: 10:30 must see the original,
    # 12:00 and later the correction; event-time-only retrieval (as_known_at=False) sees the leak.
    source = pd.DataFrame({
        "k1": [1, 1], "k2": ["a", "a"],
        "event_timestamp": [pd.Timestamp("2026-01-01 10:00")] * 2,
        "created": [pd.Timestamp("2026-01-01 10:00"), pd.Timestamp("2026-01-01 12:00")],
        "value": [1.0, 99.0],
    })
    view = FeatureView("balance", entities=[ENTITY], source=source, features=["value"],
                       created_timestamp_column="created")
    store = FeatureStore()
    store.apply(view)
    rows = pd.DataFrame({"k1": [1, 1, 1], "k2": ["a"] * 3,
                         "event_timestamp": pd.to_datetime(["2026-01-01 10:30", "2026-01-01 12:00",
                                                            "2026-01-01 13:00"])})
    known = store.get_historical_features(rows, ["balance:value"])
    assert known["value"].tolist() == [1.0, 99.0, 99.0]
    leaky = store.get_historical_features(rows, ["balance:value"], as_known_at=False)
    assert leaky["value"].tolist() == [99.0, 99.0, 99.0]


def test_a_late_row_with_an_older_event_does_not_hide_a_newer_known_one() -> None:
    source = pd.DataFrame({"k1": [1, 1], "k2": ["a", "a"],
                           "event_timestamp": minutes([5, 1]), "created": minutes([6, 10]), "value": [5.0, 1.0]})
    store = FeatureStore()
    store.apply(FeatureView("late", entities=[ENTITY], source=source, features=["value"],
                            created_timestamp_column="created"))
    rows = pd.DataFrame({"k1": [1, 1], "k2": ["a", "a"], "event_timestamp": minutes([5, 11])})
    assert store.get_historical_features(rows, ["late:value"])["value"].tolist()[1] == 5.0
    assert np.isnan(store.get_historical_features(rows, ["late:value"])["value"].tolist()[0])


def test_ttl_boundary_is_inclusive() -> None:
    source = pd.DataFrame({"k1": [1], "k2": ["a"], "event_timestamp": minutes([0]), "value": [3.0]})
    store = FeatureStore()
    store.apply(FeatureView("t", entities=[ENTITY], source=source, features=["value"], ttl=timedelta(minutes=10)))
    rows = pd.DataFrame({"k1": [1] * 4, "k2": ["a"] * 4,
                         "event_timestamp": minutes([-1, 0, 10]).append(pd.DatetimeIndex([minutes([10])[0]
                                                                          + pd.Timedelta(microseconds=1)]))})
    got = store.get_historical_features(rows, ["t:value"])["value"].tolist()
    assert got[1:3] == [3.0, 3.0] and np.isnan(got[0]) and np.isnan(got[3])


def test_parquet_folder_source_and_timezone_aware_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    source = random_source(rng, 300, ["x"])
    folder = tmp_path / "feats"
    folder.mkdir()
    source = source.assign(created=source["created"].dt.tz_localize("UTC"))  # aware and naive times mixed
    source.iloc[:150].to_parquet(folder / "part-0.parquet")
    source.iloc[150:].to_parquet(folder / "part-1.parquet")
    store = FeatureStore()
    store.apply(FeatureView("pq", entities=[ENTITY], source=ParquetSource(folder), features=["x"],
                            created_timestamp_column="created", ttl=timedelta(minutes=9)))
    entities = random_entities(rng, 200)
    aware = entities.assign(event_timestamp=entities["event_timestamp"].dt.tz_localize("UTC"))
    got = store.get_historical_features(aware, ["pq:x"])
    naive = source.assign(created=source["created"].dt.tz_localize(None))
    want = reference_as_known_at(entities, naive, ["k1", "k2"], ["x"], timedelta(minutes=9))
    pd.testing.assert_series_equal(got["x"].reset_index(drop=True), want["x"], check_dtype=False)

    # Another process (a fresh FeatureStore) rebuilds the view from the store.
    again = FeatureStore().get_historical_features(aware, ["pq:x"])
    pd.testing.assert_series_equal(again["x"], got["x"])


def test_retrieval_without_an_entity_frame_covers_every_entity_in_the_range() -> None:
    rng = np.random.default_rng(3)
    source = random_source(rng, 200, ["x"], created=False)
    store = FeatureStore()
    store.apply(FeatureView("r", entities=[ENTITY], source=source, features=["x"]))
    got = store.get_historical_features(features=["r:x"], start=minutes([10])[0].to_pydatetime(),
                                        end=minutes([20])[0].to_pydatetime())
    inside = source[(source.event_timestamp >= minutes([10])[0]) & (source.event_timestamp <= minutes([20])[0])]
    assert len(got) == len(inside.drop_duplicates(["k1", "k2", "event_timestamp"]))
    rows = got[["k1", "k2", "event_timestamp"]].assign(event_timestamp=got.event_timestamp.dt.tz_localize(None))
    want = reference_event_time(rows, source, ["k1", "k2"], ["x"], None)
    pd.testing.assert_series_equal(got["x"].reset_index(drop=True), want["x"], check_dtype=False)


def test_bad_references_and_rows_are_clear_errors() -> None:
    source = pd.DataFrame({"k1": [1], "k2": ["a"], "event_timestamp": minutes([0]), "value": [3.0]})
    store = FeatureStore()
    store.apply(FeatureView("t", entities=[ENTITY], source=source, features=["value"]))
    rows = pd.DataFrame({"k1": [1], "k2": ["a"], "event_timestamp": minutes([1])})
    with pytest.raises(InvalidInput, match="no feature 'nope'"):
        store.get_historical_features(rows, ["t:nope"])
    with pytest.raises(InvalidInput, match="view:feature"):
        store.get_historical_features(rows, ["t.value"])
    with pytest.raises(InvalidInput, match="join key"):
        store.get_historical_features(rows.drop(columns="k2"), ["t:value"])
    with pytest.raises(InvalidInput, match="timestamp column"):
        store.get_historical_features(rows, ["t:value"], timestamp_column="ts")
    with pytest.raises(InvalidInput, match="letter"):
        FeatureView("bad name", entities=[ENTITY], source=source, features=["value"])
    with pytest.raises(InvalidInput, match="no column"):
        store.apply(FeatureView("t2", entities=[ENTITY], source=source, features=["missing"]))
        store.get_historical_features(rows, ["t2:missing"])
