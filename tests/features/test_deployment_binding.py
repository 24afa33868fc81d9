"""A deployment's FeatureBinding in the store: checked against the feature definitions, kept per
revision (updates copy it, rollbacks restore it), on SQLite and PostgreSQL; and the CLI options."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.entities import FeatureBinding, Route
from shipyard.errors import InvalidInput, NotFound
from shipyard.store.sql import SqlStore
from tests.cli.conftest import Cli
from tests.conftest import throwaway_postgres

TRIPS = {"entities": [{"name": "station", "join_keys": ["station_id"]}], "features": ["trips_1h", "docks_free"],
         "source": {"type": "parquet", "path": "/nowhere.parquet"}, "timestamp_column": "hour"}
BUSY = {"inputs": ["trips:trips_1h", "trips:docks_free"], "request_fields": ["extra_docks"],
        "features": ["busy_per_dock"], "function": "m:f", "function_sha256": "0" * 64}


def prepare(store: SqlStore) -> None:
    """Definitions as FeatureStore.apply stores them, and a model version to route to."""
    store.apply_feature_definition("entity", "station", {"join_keys": ["station_id"]})
    store.apply_feature_definition("feature_view", "trips", TRIPS)
    store.apply_feature_definition("on_demand_feature_view", "busyness", BUSY)
    store.create_registered_model("busy")
    store.create_model_version("busy", "/m")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    if request.param == "sqlite":
        sql = SqlStore(f"sqlite:///{tmp_path / 'store.db'}", str(tmp_path / "artifacts"))
        prepare(sql)
        yield sql
        sql.close()
        return
    with throwaway_postgres("binding") as url:
        sql = SqlStore(url, str(tmp_path / "artifacts"))
        prepare(sql)
        yield sql
        sql.close()


def test_a_binding_is_kept_per_revision(store: SqlStore) -> None:
    refs = ["trips:trips_1h", "busyness:busy_per_dock"]
    dep = store.create_deployment("d", [Route("busy", 1)], features=FeatureBinding(
        refs, on_missing="default", defaults={"trips_1h": 0.0, "busy_per_dock": math.nan}))
    binding = dep.features
    assert binding is not None and dep.current.features == binding
    assert binding.entity_keys == ["station_id"]  # filled in from the views (the on-demand view's inputs)
    assert binding.feature_names == ["trips_1h", "busy_per_dock"]
    assert binding.defaults["trips_1h"] == 0.0 and math.isnan(binding.defaults["busy_per_dock"])
    assert dep.current.batching == {}  # the binding rides in the batching column, never shows there
    dep = store.update_deployment("d", batching={"max_wait_ms": 3})
    assert dep.features == binding and dep.current.batching == {"max_wait_ms": 3}
    dep = store.update_deployment("d", no_features=True)
    assert dep.features is None
    assert store.rollback_deployment("d").features == binding
    other = FeatureBinding(["trips:docks_free"], entity_keys=["station_id", "city"], online_store="redis://h:6379/0")
    dep = store.update_deployment("d", features=other)
    assert dep.features == other
    assert [r.features for r in store.list_deployment_revisions("d")][:2] == [other, binding]
    assert store.create_deployment("plain", [Route("busy", 1)]).features is None
    pg = FeatureBinding(["trips:docks_free"], online_store="postgresql://reader@db:5432/features?prefix=shipyard_")
    bound = store.update_deployment("d", features=pg).features
    assert bound is not None and bound.online_store == pg.online_store


def test_bad_bindings_are_refused_and_change_nothing(store: SqlStore) -> None:
    route = [Route("busy", 1)]
    cases: list[tuple[FeatureBinding, type[Exception], str]] = [
        (FeatureBinding([]), InvalidInput, "non-empty"),
        (FeatureBinding(["trips.trips_1h"]), InvalidInput, "'view:feature'"),
        (FeatureBinding(["nope:x"]), NotFound, "no feature view 'nope'"),
        (FeatureBinding(["trips:x"]), InvalidInput, "has no feature 'x'"),
        (FeatureBinding(["trips:trips_1h"], entity_keys=["city"]), InvalidInput, "lack station_id"),
        (FeatureBinding(["trips:trips_1h"], on_missing="ignore"), InvalidInput, "on_missing"),
        (FeatureBinding(["trips:trips_1h"], defaults={"trips_1h": 1.0}), InvalidInput, "on_missing='default'"),
        (FeatureBinding(["trips:trips_1h"], on_missing="default", defaults={"other": 1.0}), InvalidInput,
         "not one of the served"),
        (FeatureBinding(["trips:trips_1h"], online_store="mysql://x"), InvalidInput, "online store"),
        (FeatureBinding(["trips:trips_1h", "trips:trips_1h"]), InvalidInput, "same feature name"),
    ]
    for binding, error, match in cases:
        with pytest.raises(error, match=match):
            store.create_deployment("d", route, features=binding)
    assert store.list_deployments() == []


def test_the_cli_creates_shows_and_drops_a_binding(cli: Cli, tmp_path: Path) -> None:
    from shipyard.config import resolve_settings

    settings = resolve_settings()
    store = SqlStore(settings.store_uri, settings.artifact_uri)
    prepare(store)
    store.close()
    created = cli("deployments", "create", "d", "--route", "busy:1", "--features",
                  "trips:trips_1h,trips:docks_free", "--features", "busyness:busy_per_dock",
                  "--entity-key", "station_id", "--default", "trips_1h=0", "--json").json()
    assert created["current"]["features"] == {
        "features": ["trips:trips_1h", "trips:docks_free", "busyness:busy_per_dock"], "entity_keys": ["station_id"],
        "on_missing": "default", "defaults": {"trips_1h": 0.0}, "online_store": None}
    shown = cli("deployments", "show", "d")
    assert shown.code == 0 and "trips:trips_1h" in shown.out and "station_id" in shown.out
    assert cli("deployments", "update", "d", "--no-features", "--json").json()["current"]["features"] is None
    refused = cli("deployments", "create", "e", "--route", "busy:1", "--entity-key", "station_id")
    assert refused.code == 1 and "--features" in refused.err
    unknown = cli("deployments", "create", "e", "--route", "busy:1", "--features", "weather:temp")
    assert unknown.code == 1 and "no feature view 'weather'" in unknown.err
