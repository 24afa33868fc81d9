"""Definitions are versioned in the store; training sets record the views and versions they used."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

import shipyard
from shipyard.errors import InvalidInput, NotFound
from shipyard.features import Entity, FeatureStore, FeatureView, log_training_set
from shipyard.tracking.client import shared_store

pd = pytest.importorskip("pandas")

T0 = pd.Timestamp("2026-01-01")
STATION = Entity("station", join_keys=["station_id"], description="a bike station")


def _parquet(tmp_path: Path) -> Path:
    path = tmp_path / "weather.parquet"
    pd.DataFrame({"station_id": [1, 2], "event_timestamp": [T0, T0], "temp": [10.0, 20.0],
                  "rain": [0.0, 1.0]}).to_parquet(path)
    return path


def _store() -> object:
    from shipyard.config import resolve_settings

    settings = resolve_settings()
    return shared_store(settings.store_uri, settings.artifact_uri)


def test_apply_versions_changed_definitions_only(tmp_path: Path) -> None:
    path = _parquet(tmp_path)
    store = FeatureStore()
    view = FeatureView("weather", entities=[STATION], source=path, features=["temp"], ttl=timedelta(hours=1))
    first = store.apply(view)
    assert [(d.kind, d.name, d.version) for d in first] == [("entity", "station", 1), ("feature_view", "weather", 1)]
    assert store.apply(view)[1].version == 1  # unchanged: same version
    changed = FeatureView("weather", entities=[STATION], source=path, features=["temp", "rain"], ttl=3600)
    assert store.apply(changed)[1].version == 2
    sql = _store()
    assert [d.version for d in sql.list_feature_definitions("feature_view", all_versions=True)] == [1, 2]
    latest = sql.get_feature_definition("feature_view", "weather")
    assert latest.spec["features"] == ["temp", "rain"] and latest.spec["ttl_seconds"] == 3600
    assert latest.spec["source"] == {"type": "parquet", "path": str(path)}
    assert sql.get_feature_definition("feature_view", "weather", 1).spec["features"] == ["temp"]
    with pytest.raises(NotFound):
        sql.get_feature_definition("feature_view", "nope")
    with pytest.raises(InvalidInput):
        sql.apply_feature_definition("table", "x", {})


def test_a_training_set_records_its_feature_views_in_the_run(tmp_path: Path) -> None:
    store = FeatureStore()
    store.apply(FeatureView("weather", entities=[STATION], source=_parquet(tmp_path), features=["temp", "rain"]))
    entities = pd.DataFrame({"station_id": [1, 2], "event_timestamp": [T0, T0], "label": [0, 1]})
    training = store.get_historical_features(entities, ["weather:temp", "weather:rain"])
    assert training.attrs["shipyard.feature_views"] == {"weather": 1}
    with shipyard.start_run() as run:
        assert log_training_set(training, targets="label", profile=False) == {"weather": 1}
    logged = shipyard.Client().get_run(run.info.run_id)
    assert logged.data.tags["shipyard.feature_views"] == "weather@1"
    assert [d.source for d in logged.inputs.datasets] == ["features:weather@1"]
    with shipyard.start_run(), pytest.raises(InvalidInput, match="feature views"):
        log_training_set(entities)


def test_a_missing_source_or_view_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no Parquet file"):
        FeatureView("w", entities=[STATION], source=tmp_path / "missing.parquet", features=["temp"])
    with pytest.raises(NotFound, match="apply it first"):
        FeatureStore().get_historical_features(pd.DataFrame({"station_id": [1], "event_timestamp": [T0]}),
                                               ["weather:temp"])
