"""A regression monitor over time windows: bike rentals, a model trained on January.

The prediction log is written by the real logger with the data's own 2011 timestamps, and the
monitor runs "as of" the end of February and the end of June. What the data's README measured must
show: temp and atemp drift in both months with scores several times larger in June, hr in neither,
and the error of the January model explodes in June, where the MAE alert opens.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

FEATURES = ["hr", "weekday", "workingday", "holiday", "temp", "atemp", "hum", "windspeed"]
DAY_MS = 86_400_000
START_2011 = int(dt.datetime(2011, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)


@pytest.fixture(scope="module")
def bikes():
    from shipyard.datasets import load_bikeshare

    data = load_bikeshare()
    stamps = START_2011 + (data["day"] - 1) * DAY_MS + data["hr"] * 3_600_000
    return data, stamps


def _ms(year: int, month: int, day: int) -> int:
    return int(dt.datetime(year, month, day, tzinfo=dt.UTC).timestamp() * 1000)


def test_bikeshare_monitor_over_time_windows(bikes):
    from sklearn.ensemble import HistGradientBoostingRegressor

    import shipyard
    import shipyard.sklearn
    from shipyard import monitoring
    from shipyard.entities import Feedback
    from shipyard.serving._predlog_schema import RecordBlock
    from shipyard.serving.predlog import PredictionLogger

    data, stamps = bikes
    january = data["mnth"] == "Jan"
    X = np.column_stack([data[c] for c in FEATURES]).astype(float)
    model = HistGradientBoostingRegressor(max_iter=100, random_state=0).fit(X[january], data["bikers"][january])
    with shipyard.start_run():
        info = shipyard.sklearn.log_model(model, "model", registered_model_name="bikes",
                                          input_example={c: X[:2, i].tolist() for i, c in enumerate(FEATURES)},
                                          training_data={c: X[january, i] for i, c in enumerate(FEATURES)})
    client = shipyard.Client()
    client.create_deployment("bikes-api", routes=[{"model": "bikes", "version": info.registered_model_version}])
    served = (data["mnth"] == "Feb") | (data["mnth"] == "June")
    preds = model.predict(X[served])
    ids = [f"r{i}" for i in range(int(served.sum()))]
    with PredictionLogger(f"{client.store.artifact_root}/prediction-logs", replica_id="test") as log:
        for i, (row, stamp) in enumerate(zip(X[served], stamps[served], strict=True)):
            log.append("bikes-api", RecordBlock(
                request_ids=[ids[i]], timestamp_ms=int(stamp), deployment="bikes-api", revision=1, model="bikes",
                version=1, shadow=False, features=row.reshape(1, -1), feature_names=FEATURES,
                predictions=preds[i : i + 1], latency_ms=2.0))
    client.store.log_feedback("bikes-api", [Feedback("bikes-api", rid, int(y), int(t)) for rid, y, t in
                                            zip(ids, data["bikers"][served], stamps[served], strict=True)])

    monitoring.create_monitor("bikes", "bikes-api", window="28d", checks={"performance": {"mae": 60}})
    february = monitoring.run_monitor("bikes", now=_ms(2011, 3, 1))
    june = monitoring.run_monitor("bikes", now=_ms(2011, 6, 29))

    def drift(run, column):
        (row,) = [f for f in run.results[0].features if f["column"] == column]
        return row

    (feb,), (jun,) = february.results, june.results
    assert feb.rows == int((data["mnth"] == "Feb").sum()) and feb.labeled_rows == feb.rows
    assert jun.window_start >= _ms(2011, 6, 1) and jun.rows == int(((stamps >= _ms(2011, 6, 1)) &
                                                                    (stamps < _ms(2011, 6, 29))).sum())
    for column in ("temp", "atemp"):
        assert drift(february, column)["drifted"] and drift(june, column)["drifted"]
        # January (688 rows) is a small reference: KS on the profile's stored values, whose D is bounded
        # by 1; the size of the shift is its effect (Wasserstein / std): 1.1 in February, 6 in June
        assert drift(june, column)["test"] == "ks"
        assert drift(june, column)["effect_size"] > 3 * drift(february, column)["effect_size"]
    assert not drift(february, "hr")["drifted"] and not drift(june, "hr")["drifted"]
    mae_feb, mae_jun = feb.check("performance.mae").value, jun.check("performance.mae").value
    assert mae_feb < 60 < mae_jun and mae_jun > 3 * mae_feb
    assert feb.check("performance.r2").passed is None  # recorded, no threshold: never an alert
    assert [e.alert.check for e in june.events if e.event == "opened"].count("performance.mae") == 1
    assert not [e for e in february.events if e.alert.check == "performance.mae"]
