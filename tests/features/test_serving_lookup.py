"""In process: feature lookups are batched (one online-store read per view for many rows and for
concurrent requests), shadows get the assembled input too, and their log rows carry the keys."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import numpy as np
import pytest

from tests.serving.conftest import RecordingLogger

pd = pytest.importorskip("pandas")
pytest.importorskip("duckdb")


@pytest.fixture
def served(tmp_path: Any) -> Any:
    from sklearn.linear_model import LinearRegression

    import shipyard
    import shipyard.sklearn
    from shipyard.features import Entity, FeatureStore, FeatureView

    frame = pd.DataFrame({"station_id": np.arange(100), "hour": pd.Timestamp("2026-03-01"),
                          "trips_1h": np.arange(100) * 1.5, "docks_free": np.arange(100) % 7 * 1.0})
    frame.to_parquet(tmp_path / "trips.parquet")
    station = Entity("station", join_keys=["station_id"])
    trips = FeatureView("trips", entities=[station], source=tmp_path / "trips.parquet",
                        features=["trips_1h", "docks_free"], timestamp_column="hour")
    fs = FeatureStore()
    fs.apply(station, trips)
    fs.materialize(full=True)
    X = frame[["trips_1h", "docks_free"]]
    for slope in (1.0, 2.0):
        with shipyard.start_run():
            shipyard.sklearn.log_model(LinearRegression().fit(X, slope * X["trips_1h"] + X["docks_free"]), "model",
                                       registered_model_name="m", input_example=X.head(2))
    client = shipyard.Client()
    client.create_deployment("d", routes=[{"model": "m", "version": 1}], shadow=[{"model": "m", "version": 2}],
                             features={"features": ["trips:trips_1h", "trips:docks_free"]})
    from shipyard.serving.app import create_app

    log = RecordingLogger()
    app = create_app(client.store, prediction_logger=log)
    reads: list[int] = []
    online = app.runtime.get("d").features.reader._fs.online_store  # type: ignore[union-attr]
    real = online.read

    def counting(view: str, keys: Any) -> Any:
        reads.append(len(keys))
        return real(view, keys)

    online.read = counting  # type: ignore[method-assign]
    yield app, log, reads
    fs.close()


def test_lookups_are_batched_and_shadows_log_the_keys(served: Any) -> None:
    app, log, reads = served

    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            many = await http.post("/v1/deployments/d/predict",
                                   json={"records": [{"station_id": i} for i in range(50)]})
            assert many.status_code == 200, many.text
            assert reads == [50]  # one read for the request's 50 rows
            answers = await asyncio.gather(*(http.post("/v1/deployments/d/predict",
                                                       json={"records": [{"station_id": i}]}) for i in range(30)))
            await asyncio.sleep(0.2)  # the shadow copies
            return [many, *answers]

    answers = asyncio.run(go())
    assert all(r.status_code == 200 for r in answers)
    np.testing.assert_allclose(answers[0].json()["predictions"], [i * 1.5 + i % 7 for i in range(50)], atol=1e-9)
    single = [r.json()["predictions"][0] for r in answers[1:]]
    assert single == pytest.approx([i * 1.5 + i % 7 for i in range(30)], abs=1e-9)
    assert len(reads) - 1 <= 15 and sum(reads) == 80  # 30 concurrent requests shared reads (1 + 29 here)
    app.close()
    shadow = [r for r in log.records if r["shadow"]]
    assert len(shadow) == 80 and len(log.records) == 160
    assert {tuple(r["features"]) for r in log.records} == {("station_id", "trips_1h", "docks_free")}
    assert sorted(r["features"]["station_id"] for r in shadow) == sorted([*range(50), *range(30)])


def test_on_demand_functions_are_imported_and_checked_where_served(tmp_path: Any) -> None:
    import shipyard
    from shipyard.entities import FeatureBinding
    from shipyard.errors import InvalidInput
    from shipyard.features import (
        Entity,
        FeatureStore,
        FeatureView,
        OnDemandFeatureView,
        OnlineFeatureReader,
        RequestSource,
    )
    from tests.features._ondemand import busy_per_dock

    pd.DataFrame({"station_id": [1], "hour": pd.Timestamp("2026-03-01"), "trips_1h": [6.0],
                  "docks_free": [2.0]}).to_parquet(tmp_path / "trips.parquet")
    station = Entity("station", join_keys=["station_id"])
    trips = FeatureView("trips", entities=[station], source=tmp_path / "trips.parquet",
                        features=["trips_1h", "docks_free"], timestamp_column="hour")
    busy = OnDemandFeatureView("busy", inputs=["trips:trips_1h", "trips:docks_free"], function=busy_per_dock,
                               request=[RequestSource("ride", ["extra_docks"])], features=["busy_per_dock"])
    fs = FeatureStore()
    fs.apply(station, trips, busy)
    fs.materialize(full=True)
    store = shipyard.Client().store
    binding = FeatureBinding(["busy:busy_per_dock"], entity_keys=["station_id"])
    reader = OnlineFeatureReader(binding, store=store)  # a fresh FeatureStore: the function is imported
    assert reader.columns == ("station_id", "extra_docks")
    values, missing = reader.read(np.array([[1, 1.0], [5, 1.0]], dtype=object))
    assert values[0, 0] == 2.0 and np.isnan(values[1, 0]) and missing.tolist() == [False, True]
    reader.close()
    spec = busy.spec()
    store.apply_feature_definition("on_demand_feature_view", "busy", {**spec, "function_sha256": "0" * 64})
    with pytest.raises(InvalidInput, match="differs from the version 2"):
        OnlineFeatureReader(binding, store=store)
    store.apply_feature_definition("on_demand_feature_view", "busy", {**spec, "function": "__main__:nothing"})
    with pytest.raises(InvalidInput, match="cannot import"):
        OnlineFeatureReader(binding, store=store)
    fs.close()
