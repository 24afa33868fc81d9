"""The feature store: features defined once, point-in-time correct training sets, an online store.

::

    from shipyard.features import Entity, FeatureStore, FeatureView

    station = Entity("station", join_keys=["station_id"])
    trips = FeatureView("trips", entities=[station], source="data/trips/", features=["trips_1h"],
                        timestamp_column="hour", ttl=timedelta(days=1))
    store = FeatureStore()
    store.apply(station, trips)
    training = store.get_historical_features(entity_df, ["trips:trips_1h"])

Entities and feature views can also be declared in ``shipyard.yaml`` (:func:`load_definitions`),
and ``get_historical_features(..., executor="dask://host:port")`` runs the joins on Dask.
DuckDB runs the joins (``pip install 'shipyard[features]'``); see docs/features.md.
"""

from __future__ import annotations

from shipyard.features._definitions import (
    DataFrameSource,
    Entity,
    FeatureView,
    OnDemandFeatureView,
    ParquetSource,
    RequestSource,
    TableSource,
)
from shipyard.features._lineage import LINEAGE_TAG, log_training_set
from shipyard.features._online import PostgresOnlineStore, RedisOnlineStore, SqliteOnlineStore, open_online_store
from shipyard.features._serving import OnlineFeatureReader
from shipyard.features._store import FeatureStore
from shipyard.features._yaml import Definitions, load_definitions

__all__ = [
    "LINEAGE_TAG",
    "DataFrameSource",
    "Definitions",
    "Entity",
    "FeatureStore",
    "FeatureView",
    "OnDemandFeatureView",
    "OnlineFeatureReader",
    "ParquetSource",
    "PostgresOnlineStore",
    "RedisOnlineStore",
    "RequestSource",
    "SqliteOnlineStore",
    "TableSource",
    "load_definitions",
    "log_training_set",
    "open_online_store",
]
