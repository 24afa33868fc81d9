"""The feature_skew check: logged serving features against the feature store's point-in-time values."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from shipyard.errors import InvalidInput
from shipyard.monitoring import normalize_spec
from shipyard.monitoring._checks import run_checks
from shipyard.monitoring._messages import describe
from shipyard.monitoring._skew import SkewContext
from shipyard.store.sql import SqlStore

pd = pytest.importorskip("pandas")
pytest.importorskip("duckdb")

SKEW = {"features": ["trips:trips_1h", "trips:docks_free"], "entity_keys": ["station_id"]}
OFF = {"feature_drift": False, "prediction_drift": False, "data_quality": False, "service": False}


def _ms(text: str) -> int:
    return int(pd.Timestamp(text, tz="UTC").timestamp() * 1000)


@pytest.fixture
def feature_store(tmp_path: Path):
    from shipyard.features import Entity, FeatureStore, FeatureView

    hours = pd.to_datetime(["2026-03-01 08:00", "2026-03-01 09:00"] * 3)
    pd.DataFrame({
        "station_id": [1, 1, 2, 2, 3, 3], "hour": hours, "created": hours + pd.Timedelta(minutes=5),
        "trips_1h": [12.0, 30.0, 7.0, 8.0, 1.0, np.nan], "docks_free": [5.0, 2.0, 9.0, 9.0, 4.0, 3.0],
    }).to_parquet(tmp_path / "trips.parquet")
    store = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts"))
    fs = FeatureStore(store=store, online_store=f"sqlite:///{tmp_path / 'online.db'}")
    station = Entity("station", join_keys=["station_id"])
    fs.apply(FeatureView("trips", entities=[station], source=tmp_path / "trips.parquet",
                         features=["trips_1h", "docks_free"], timestamp_column="hour",
                         created_timestamp_column="created"))
    yield fs
    fs.close()
    store.close()


# (station, served at, trips_1h, docks_free): what the feature store knew at that time
SERVED = [(1, "2026-03-01 08:30", 12.0, 5.0), (1, "2026-03-01 09:30", 30.0, 2.0),
          (2, "2026-03-01 08:30", 7.0, 9.0), (2, "2026-03-01 09:03", 7.0, 9.0),  # 09:00 not known until 09:05
          (3, "2026-03-01 09:30", None, 3.0),                                   # NaN at the source: missing
          (4, "2026-03-01 09:30", None, None)]                                  # a station it has no row of


def log_table(rows=SERVED, *, keys_as_features: bool = True) -> pa.Table:
    key = "feature.station_id" if keys_as_features else "station_id"
    return pa.table({
        "request_id": [f"r{i}" for i in range(len(rows))],
        "timestamp": pa.array([_ms(t) for _, t, _, _ in rows], pa.timestamp("ms", tz="UTC")),
        "model": ["m"] * len(rows), "version": pa.array([1] * len(rows), pa.int32()),
        "prediction": pa.array([1.0] * len(rows)), "latency_ms": [2.0] * len(rows),
        "error": pa.array([None] * len(rows), pa.string()),
        key: pa.array([s for s, _, _, _ in rows], pa.int64()),
        "feature.trips_1h": pa.array([v for _, _, v, _ in rows], pa.float64()),
        "feature.docks_free": pa.array([v for _, _, _, v in rows], pa.float64()),
    })


def skew_checks(table: pa.Table, context: SkewContext | None, **settings) -> tuple[str, dict]:
    spec = normalize_spec(window=100, checks={**OFF, "feature_skew": {**SKEW, **settings}})
    status, entries, _, _ = run_checks(spec, table, None, None, skew=context)
    return status, {e.check: e for e in entries}


def test_served_values_equal_to_the_point_in_time_values_pass(feature_store):
    status, checks = skew_checks(log_table(), SkewContext(feature_store=feature_store))
    assert status == "ok"
    trips = checks["feature_skew.trips_1h"]
    assert trips.passed is True and trips.value == 0.0 and trips.threshold == 0.01
    assert trips.detail["compared"] == 6 and trips.detail["mismatches"] == 0
    assert trips.detail["feature"] == "trips:trips_1h"
    assert checks["feature_skew.docks_free"].passed is True
    assert describe(trips) == ("feature_skew.trips_1h (share of values unlike the feature store's) = 0 ≤ maximum "
                               "0.01; 0 of 6 rows differ")


def test_changed_values_alert_naming_the_feature_and_its_share(feature_store):
    rows = list(SERVED)
    rows[3] = (2, "2026-03-01 09:03", 8.0, 9.0)  # served the 09:00 value before it was known: a leak online
    rows[0] = (1, "2026-03-01 08:30", 12.0000001, 5.0)  # within the tolerance
    rows[4] = (3, "2026-03-01 09:30", 0.0, 3.0)  # a value where the store has none
    status, checks = skew_checks(log_table(rows, keys_as_features=False), SkewContext(feature_store=feature_store))
    assert status == "alert"
    trips = checks["feature_skew.trips_1h"]
    assert trips.passed is False and trips.detail["mismatches"] == 2 and trips.value == pytest.approx(2 / 6)
    assert trips.detail["examples"][0] == {"keys": {"station_id": 2}, "served": 8.0, "offline": 7.0}
    assert trips.detail["examples"][1] == {"keys": {"station_id": 3}, "served": 0.0, "offline": None}  # no NaN
    assert checks["feature_skew.docks_free"].passed is True
    text = describe(trips)
    assert text.startswith("feature_skew.trips_1h (share of values unlike the feature store's) = 0.3333 > maximum")
    assert text.endswith("; 2 of 6 rows differ")
    # a looser threshold and tolerance (absolute and relative: 8 is within 1 + 1 x 7 of 7) pass it
    status, checks = skew_checks(log_table(rows), SkewContext(feature_store=feature_store),
                                 max_mismatch_share=0.5, tolerance=1.0)
    assert checks["feature_skew.trips_1h"].passed is True and checks["feature_skew.trips_1h"].detail["mismatches"] == 1


def test_a_sample_bounds_the_rows_compared(feature_store):
    rows = SERVED * 50
    status, checks = skew_checks(log_table(rows), SkewContext(feature_store=feature_store), sample=40)
    assert checks["feature_skew.trips_1h"].detail["compared"] == 40 and status == "ok"


def test_checks_that_cannot_decide_say_why(feature_store, tmp_path):
    def reasons(table, context, **settings):
        status, checks = skew_checks(table, context, **settings)
        assert status in ("ok", "no_data")
        for check in checks.values():
            assert check.passed is None and check.value is None  # never NaN, never a verdict
        return {name: c.reason for name, c in checks.items()}

    assert set(reasons(log_table([]), SkewContext(feature_store=feature_store)).values()) == {
        "no answered rows in the window"}
    assert "no feature store" in reasons(log_table(), None)["feature_skew.trips_1h"]
    no_keys = log_table().drop_columns(["feature.station_id"])
    assert "no entity key column 'station_id'" in reasons(no_keys, SkewContext(feature_store=feature_store))[
        "feature_skew.docks_free"]
    empty = SqlStore(f"sqlite:///{tmp_path / 'empty.sqlite'}", str(tmp_path / "a2"))
    why = reasons(log_table(), SkewContext(store=empty))["feature_skew.trips_1h"]
    assert "could not recompute" in why and "no feature view 'trips'" in why
    empty.close()
    _, checks = skew_checks(log_table().drop_columns(["feature.docks_free"]),
                                 SkewContext(feature_store=feature_store))
    assert checks["feature_skew.trips_1h"].passed is True
    assert "did not log it" in (checks["feature_skew.docks_free"].reason or "")


@pytest.mark.parametrize("settings, message", [
    ({"features": []}, "features must be a non-empty list"),
    ({"features": ["trips_1h"], "entity_keys": ["k"]}, "'view:feature'"),
    ({"features": ["a:x", "b:x"], "entity_keys": ["k"]}, "same feature"),
    ({"features": ["a:x"], "entity_keys": "k"}, "entity_keys"),
    ({**SKEW, "tolerance": -1}, "tolerance"),
    ({**SKEW, "sample": 0}, "sample"),
    ({**SKEW, "max_mismatch_share": 2}, "max_mismatch_share"),
    ({**SKEW, "share": 0.1}, "unknown setting"),
])
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(InvalidInput, match=message):
        normalize_spec(window=100, checks={"feature_skew": settings})


def test_off_unless_given():
    spec = normalize_spec(window=100)
    assert spec["checks"]["feature_skew"] is False
    spec = normalize_spec(window=100, checks={"feature_skew": SKEW})
    assert spec["checks"]["feature_skew"] == {**SKEW, "max_mismatch_share": 0.01, "tolerance": 1e-6, "sample": 1000}
    # features and keys left out: the deployment's feature binding gives them when the check runs
    spec = normalize_spec(window=100, checks={"feature_skew": {}})
    assert spec["checks"]["feature_skew"] == {"features": None, "entity_keys": None, "max_mismatch_share": 0.01,
                                              "tolerance": 1e-6, "sample": 1000}


def _deployment(binding):
    from shipyard.entities import Deployment, DeploymentRevision

    return Deployment("rides-api", DeploymentRevision("rides-api", 1, [], features=binding), 0, 0)


def test_the_deployments_binding_gives_the_features_and_keys_the_settings_leave_out(feature_store):
    from shipyard.entities import FeatureBinding

    binding = FeatureBinding(["trips:trips_1h", "trips:docks_free"], ["station_id"])
    rows = list(SERVED)
    rows[3] = (2, "2026-03-01 09:03", 8.0, 9.0)
    context = SkewContext(feature_store=feature_store, deployment=_deployment(binding))
    spec = normalize_spec(window=100, checks={**OFF, "feature_skew": {}})
    status, entries, _, _ = run_checks(spec, log_table(rows), None, None, skew=context)
    checks = {e.check: e for e in entries}
    assert status == "alert" and set(checks) == {"feature_skew.trips_1h", "feature_skew.docks_free"}
    assert checks["feature_skew.trips_1h"].value == pytest.approx(1 / 6)
    assert checks["feature_skew.docks_free"].passed is True
    # the settings still win: only the feature they name is compared (the keys from the binding)
    spec = normalize_spec(window=100, checks={**OFF, "feature_skew": {"features": ["trips:docks_free"]}})
    status, entries, _, _ = run_checks(spec, log_table(rows), None, None, skew=context)
    assert status == "ok" and [e.check for e in entries] == ["feature_skew.docks_free"]


def test_without_a_binding_or_settings_the_run_says_why(feature_store):
    spec = normalize_spec(window=100, checks={**OFF, "feature_skew": {}})
    context = SkewContext(feature_store=feature_store, deployment=_deployment(None))
    _, entries, _, _ = run_checks(spec, log_table(), None, None, skew=context)
    (check,) = entries
    assert check.check == "feature_skew" and check.passed is None and check.value is None
    assert "'rides-api' is served without features" in (check.reason or "")
    assert "features and entity_keys" in (check.reason or "")
    spec = normalize_spec(window=100, checks={**OFF, "feature_skew": {"features": ["trips:trips_1h"]}})
    _, entries, _, _ = run_checks(spec, log_table(), None, None, skew=context)
    assert [(e.check, e.passed) for e in entries] == [("feature_skew.trips_1h", None)]
    assert "give entity_keys" in (entries[0].reason or "")


def test_a_monitor_of_a_deployment_without_features_must_name_them(shipyard_home, tmp_path):
    import shipyard
    from shipyard import monitoring

    client = shipyard.Client()
    client.create_model_version("rides", str(tmp_path))
    client.create_deployment("plain", routes=[{"model": "rides", "version": 1}])
    with pytest.raises(InvalidInput, match=r"'plain' is served without features.*features and entity_keys"):
        monitoring.create_monitor("m", "plain", window=100, checks={"feature_skew": {}})
    with pytest.raises(InvalidInput, match="give entity_keys"):
        client.create_monitor("m", "plain", window=100, checks={"feature_skew": {"features": ["trips:x"]}})
    client.create_monitor("m", "plain", window=100, checks={"feature_skew": SKEW})  # settings name both
    with pytest.raises(InvalidInput, match="served without features"):
        client.update_monitor("m", checks={"feature_skew": {"max_mismatch_share": 0.1}})


def test_a_monitor_run_over_a_logged_window_alerts_on_skew(shipyard_home, tmp_path):
    """End to end: rows written by serving's prediction logger, the monitor's own store holds the view."""
    import shipyard
    from shipyard import monitoring
    from shipyard.features import Entity, FeatureStore, FeatureView
    from shipyard.serving._predlog_schema import RecordBlock
    from shipyard.serving.predlog import PredictionLogger

    client = shipyard.Client()
    hours = pd.to_datetime(["2026-03-01 08:00", "2026-03-01 09:00"])
    pd.DataFrame({"station_id": [1, 1], "hour": hours, "trips_1h": [12.0, 30.0]}).to_parquet(tmp_path / "t.parquet")
    FeatureStore().apply(FeatureView("trips", entities=[Entity("station", ["station_id"])],
                                     source=tmp_path / "t.parquet", features=["trips_1h"], timestamp_column="hour"))
    client.create_model_version("rides", str(tmp_path))
    client.create_deployment("rides-api", routes=[{"model": "rides", "version": 1}])
    served = [("08:10", 12.0), ("08:50", 12.0), ("09:10", 30.0), ("09:20", 12.0)]  # the last one stale
    with PredictionLogger(f"{client.store.artifact_root}/prediction-logs", replica_id="test") as log:
        for i, (at, value) in enumerate(served):
            log.append("rides-api", RecordBlock(
                request_ids=[f"r{i}"], timestamp_ms=_ms(f"2026-03-01 {at}"), deployment="rides-api", revision=1,
                model="rides", version=1, shadow=False, features={"station_id": np.array([1]),
                                                                   "trips_1h": np.array([value])},
                predictions=np.array([0.5]), latency_ms=1.0))
    monitoring.create_monitor("rides", "rides-api", window=100, min_rows=1,
                              checks={**OFF, "feature_skew": {"features": ["trips:trips_1h"],
                                                              "entity_keys": ["station_id"]}})
    run = monitoring.run_monitor("rides", now=_ms("2026-03-01 10:00"))
    (result,) = run.results
    check = result.check("feature_skew.trips_1h")
    assert check is not None and check.passed is False and check.value == 0.25 and check.detail["compared"] == 4
    assert result.status == "alert" and not math.isnan(check.value)
    assert [(e.event, e.alert.check) for e in run.events] == [("opened", "feature_skew.trips_1h")]


def test_on_demand_features_are_recomputed_from_the_logged_request_values(feature_store):
    """The monitor imports the on-demand function as serving does and takes its request value from
    the log; a function it cannot import, or a request value the log lacks, leaves that feature alone
    undecided."""
    from tests.features._ondemand import busy_per_dock

    from shipyard.features import OnDemandFeatureView, RequestSource

    feature_store.apply(OnDemandFeatureView("busyness", inputs=["trips:trips_1h", "trips:docks_free"],
                                            request=[RequestSource("ride", ["extra_docks"])], function=busy_per_dock,
                                            features=["busy_per_dock"]))
    feature_store.registry.apply_feature_definition("on_demand_feature_view", "gone", {
        "function": "no_such_module:f", "function_sha256": "0" * 64, "inputs": ["trips:trips_1h"],
        "request_fields": [], "features": ["gone_f"]})
    rows = SERVED[:3]  # stations 1 and 2: every feature known
    extra = [1.0, 0.0, 2.0]
    served = [t / (d + e) for (_, _, t, d), e in zip(rows, extra, strict=True)]
    served[2] += 1.0  # one row served a value unlike the offline one
    table = log_table(rows).append_column("feature.busy_per_dock", pa.array(served)).append_column(
        "feature.gone_f", pa.array([1.0, 2.0, 3.0]))
    context = SkewContext(store=feature_store.registry)  # a fresh feature store: imports the function itself
    refs = {"features": ["trips:trips_1h", "busyness:busy_per_dock", "gone:gone_f"], "entity_keys": ["station_id"]}
    spec = normalize_spec(window=100, checks={**OFF, "feature_skew": refs})

    _, entries, _, _ = run_checks(spec, table.append_column("feature.extra_docks", pa.array(extra)), None, None,
                                  skew=context)
    checks = {e.check: e for e in entries}
    assert checks["feature_skew.trips_1h"].passed is True
    busy = checks["feature_skew.busy_per_dock"]
    assert busy.passed is False and busy.detail["mismatches"] == 1 and busy.value == pytest.approx(1 / 3)
    gone = checks["feature_skew.gone_f"]
    assert gone.passed is None and "no_such_module" in (gone.reason or "")

    _, entries, _, _ = run_checks(spec, table, None, None, skew=context)  # extra_docks not logged
    checks = {e.check: e for e in entries}
    assert checks["feature_skew.trips_1h"].passed is True
    assert checks["feature_skew.busy_per_dock"].passed is None
    assert "request value(s) 'extra_docks'" in (checks["feature_skew.busy_per_dock"].reason or "")
