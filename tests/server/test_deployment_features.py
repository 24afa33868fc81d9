"""A deployment's FeatureBinding through the server: RestStore answers exactly like the SQL store."""

from __future__ import annotations

import math

import pytest

from shipyard.entities import FeatureBinding, Route
from shipyard.errors import InvalidInput, NotFound
from shipyard.store.rest import RestStore
from shipyard.store.sql import SqlStore
from tests.features.test_deployment_binding import prepare

pytestmark = pytest.mark.integration


def test_a_binding_round_trips_through_the_server(live_server, sql_store: SqlStore) -> None:
    prepare(sql_store)  # definitions are applied to the server's database (RestStore refuses them)
    server = live_server()
    store = RestStore(server.url, None)
    try:
        binding = FeatureBinding(["trips:trips_1h", "busyness:busy_per_dock"], on_missing="default",
                                 defaults={"trips_1h": 1.5, "busy_per_dock": math.nan},
                                 online_store="redis://127.0.0.1:6379/0?prefix=x:")
        dep = store.create_deployment("d", [Route("busy", 1)], features=binding)
        assert dep.features is not None and dep.features.entity_keys == ["station_id"]
        assert math.isnan(dep.features.defaults["busy_per_dock"])  # NaN travels as "NaN"
        assert store.get_deployment("d").features == sql_store.get_deployment("d").features
        assert dep.features.features == binding.features and dep.features.online_store == binding.online_store
        assert store.update_deployment("d", no_features=True).features is None
        other = FeatureBinding(["trips:docks_free"])
        assert store.update_deployment("d", features=other).features == FeatureBinding(
            ["trips:docks_free"], entity_keys=["station_id"])
        with pytest.raises(NotFound, match="no feature view 'nope'"):
            store.create_deployment("e", [Route("busy", 1)], features=FeatureBinding(["nope:x"]))
        with pytest.raises(InvalidInput, match="on_missing"):
            store.create_deployment("e", [Route("busy", 1)], features=FeatureBinding(["trips:x"], on_missing="bad"))
    finally:
        store.close()
