"""Scheduled materialization: ``shipyard features schedule`` stores it, the scheduler's job list
picks it up at its next tick, and each tick materializes the rows that became known since the last."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shipyard.errors import InvalidInput, NotFound
from tests.cli.conftest import Cli

pd = pytest.importorskip("pandas")


def _rows(folder: Path, name: str, station: int, trips: float, created: pd.Timestamp) -> None:
    pd.DataFrame({"station_id": [station], "hour": [created.floor("h").tz_localize(None)],
                  "created": [created.tz_localize(None)], "trips_1h": [trips]}).to_parquet(folder / name)


def test_a_scheduler_tick_materializes_new_rows(cli: Cli, tmp_path: Path) -> None:
    import shipyard
    from shipyard.automation import JobList
    from shipyard.features import Entity, FeatureStore, FeatureView
    from shipyard.pipelines import Scheduler

    folder = tmp_path / "trips"
    folder.mkdir()
    _rows(folder, "a.parquet", 1, 12.0, pd.Timestamp.now(tz=UTC) - pd.Timedelta(hours=2))
    fs = FeatureStore()
    fs.apply(FeatureView("trips", entities=[Entity("station", ["station_id"])], source=folder,
                         features=["trips_1h"], timestamp_column="hour", created_timestamp_column="created"))
    online = f"sqlite:///{tmp_path / 'online.db'}"
    store = shipyard.Client().store
    jobs = JobList(store)
    assert jobs.feature_views() == []  # nothing scheduled yet

    done = cli("features", "schedule", "trips", "--every", "10m", "--online-store", online)
    assert done.code == 0 and "every 10m" in done.out
    (job,) = jobs.feature_views()  # re-read from the store: no restart
    assert job.name == "features.materialize.trips"

    now = datetime.now(UTC)
    scheduler = Scheduler([job], store, started=now - timedelta(minutes=25))
    assert [name for name, _ in scheduler.tick(now)] == ["features.materialize.trips"]  # once, no catch-up
    scheduler.join()
    reader = FeatureStore(online_store=online)
    assert reader.get_online_features([{"station_id": 1}, {"station_id": 2}], ["trips:trips_1h"])["trips_1h"] == [
        12.0, None]

    time.sleep(0.01)
    _rows(folder, "b.parquet", 2, 7.0, pd.Timestamp.now(tz=UTC))  # known after the first run ended
    time.sleep(0.01)
    later = now + timedelta(minutes=10)
    assert [name for name, _ in scheduler.tick(later)] == ["features.materialize.trips"]
    scheduler.join()
    assert reader.get_online_features([{"station_id": 2}], ["trips:trips_1h"])["trips_1h"] == [7.0]
    runs = store.list_feature_materializations("trips")
    assert [m.rows for m in runs] == [1, 1]  # incremental: the second run read only the new row
    reader.close()

    assert cli("features", "show", "trips").out.count("every 10m") == 1
    assert cli("features", "schedule", "trips", "--off").code == 0
    assert jobs.feature_views() == []


def test_bad_schedules_are_refused(cli: Cli, tmp_path: Path) -> None:
    from shipyard.features import FeatureStore

    pd.DataFrame({"station_id": [1], "event_timestamp": pd.to_datetime(["2026-01-01"]), "x": [1.0]}).to_parquet(
        tmp_path / "x.parquet")
    from shipyard.features import Entity, FeatureView

    fs = FeatureStore()
    fs.apply(FeatureView("xs", entities=[Entity("k", ["station_id"])], source=tmp_path / "x.parquet", features=["x"]))
    bad = cli("features", "schedule", "xs", "--every", "soon")
    assert bad.code != 0 and "soon" in bad.err
    with pytest.raises(NotFound, match="apply it before scheduling"):
        fs.schedule_materialization("nope", "every 10m")
    with pytest.raises(InvalidInput, match="online store URI"):
        fs.schedule_materialization("xs", "every 10m", online_store="/tmp/x.db")
    pg = "postgresql://shipyard@db:5432/features?prefix=shipyard_"  # stored, not opened, when scheduled
    assert fs.schedule_materialization("xs", "every 10m", online_store=pg).online_store == pg
    fs.schedule_materialization("xs", None)
    with pytest.raises(InvalidInput, match="a schedule is a text"):
        fs.schedule_materialization("xs", " ")
    assert cli("features", "list", "--json").json()[-1]["name"] == "xs"  # schedules are not listed as definitions
