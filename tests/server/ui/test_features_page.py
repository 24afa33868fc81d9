"""The Features pages over HTTP: feature views with source, entities, features, version, freshness
per online store, schedule and the model versions trained on them; a view's page; escaping; 404."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shipyard.store.sql import SqlStore
from tests.server.ui.conftest import EVIL

pd = pytest.importorskip("pandas")

pytestmark = pytest.mark.integration


@pytest.fixture
def http(live_server, sql_store: SqlStore, tmp_path: Path) -> Iterator[httpx.Client]:
    from shipyard.features import Entity, FeatureStore, FeatureView

    pd.DataFrame({"station_id": [1], "hour": pd.to_datetime(["2026-03-01 08:00"]), "trips_1h": [1.0],
                  "docks_free": [2.0]}).to_parquet(tmp_path / "trips.parquet")
    fs = FeatureStore(store=sql_store, online_store=f"sqlite:///{tmp_path / 'online.db'}")
    station = Entity("station", join_keys=["station_id"])
    for features in (["trips_1h"], ["trips_1h", "docks_free"]):  # two versions
        fs.apply(FeatureView("trips", entities=[station], source=tmp_path / "trips.parquet", features=features,
                             timestamp_column="hour", ttl=86400, description=EVIL))
    fs.materialize(end=1_772_400_000_000)  # 2026-03-01 21:20 UTC
    fs.schedule_materialization("trips", "every 10m")
    fs.close()
    exp = sql_store.create_experiment("stations")
    run = sql_store.create_run(exp, run_name="train", tags={"shipyard.feature_views": "trips@2"})
    sql_store.create_model_version("rides", "/models/rides", run_id=run.info.run_id)
    with httpx.Client(base_url=live_server().url, follow_redirects=False) as client:
        yield client


def test_the_features_pages(http: httpx.Client) -> None:
    listing = http.get("/features")
    assert listing.status_code == 200
    for text in ('href="/features"', 'aria-current="page"', 'href="/features/trips"', "v2", "station",
                 "station_id", "trips_1h, docks_free", "trips.parquet", "2026-03-01\u00a021:20:00", "every 10m",
                 'href="/models/rides/versions/1"', "rides v1"):
        assert text in listing.text, text
    page = http.get("/features/trips")
    assert page.status_code == 200
    for text in ("Freshness", "online.db", "2026-03-01\u00a021:20:00", "24 h 0 min", "every 10m", "rides v1",
                 "(trained on v2)", "Versions", "v1", "Materializations", "&lt;script&gt;"):
        assert text in page.text, text
    assert EVIL not in page.text and EVIL not in listing.text
    missing = http.get("/features/nope")
    assert missing.status_code == 404 and "no feature_view &#39;nope&#39;" in missing.text
