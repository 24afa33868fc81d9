"""A monitor over real traffic: the rainfall data replayed through a served model, 1,000 rows a window.

What the data's README measured must show up in the stored results: before row 12,000 visibility
drifts (natural drift) while the model keeps its quality, and no performance alert opens; from row
12,000 on, dew point and sea-level pressure drift, accuracy and ROC AUC fall, and each performance
alert opens once and stays open.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio

DRIFT_AT = 12_000


async def test_rainfall_monitor_tells_harmless_from_harmful_drift(serve_rainfall, rainfall):
    from shipyard import monitoring

    X, y, _ = rainfall
    served = serve_rainfall()
    monitoring.create_monitor("rain", "rain-api", window="1000 rows",
                              checks={"performance": {"accuracy": 0.7, "roc_auc": 0.7}})
    runs = {}
    for start in range(6000, 18_000, 1000):
        rows = slice(start, start + 1000)
        ids = await served.predict(X[rows])
        await served.feedback(ids, y[rows])
        served.flush()
        runs[start] = monitoring.run_monitor("rain")

    before = [s for s in runs if s + 1000 <= DRIFT_AT]
    after = [s for s in runs if s >= DRIFT_AT]
    (result,) = runs[6000].results
    assert (result.model, result.version, result.rows, result.labeled_rows) == ("rain", 1, 1000, 1000)

    def drifted(start: int, column: str) -> bool:
        (row,) = [f for f in runs[start].results[0].features if f["column"] == column]
        assert row["test"] == "wasserstein"  # a profile reference: a distance, never a sketched p-value
        return row["drifted"]

    assert not any(drifted(s, "sea-level pressure") for s in before)
    assert all(drifted(s, "sea-level pressure") for s in after)
    assert all(drifted(s, "dew point") for s in after)
    assert sum(drifted(s, "visibility") for s in before) >= len(before) - 1  # real drift, before the injection

    def metric(start: int, name: str) -> float:
        return runs[start].results[0].check(f"performance.{name}").value

    for name in ("accuracy", "roc_auc"):
        assert min(metric(s, name) for s in before) > 0.7
        assert max(metric(s, name) for s in after) < 0.7
    # no performance alert while only visibility drifts; each opens once at the drift point and stays open
    opened = {s: [e.alert.check for e in runs[s].events if e.event == "opened"] for s in runs}
    assert not any(check.startswith("performance.") for s in before for check in opened[s])
    assert {"performance.accuracy", "performance.roc_auc"} <= set(opened[DRIFT_AT])
    assert not any(e.event == "resolved" and e.alert.check.startswith("performance.")
                   for s in after for e in runs[s].events)
    perf_alerts = [a for a in served_alerts() if a.check.startswith("performance.")]
    assert sorted(a.check for a in perf_alerts) == ["performance.accuracy", "performance.roc_auc"]
    assert all(a.state == "OPEN" for a in perf_alerts)
    # the time series of the monitor is stored, one point per window
    series = served_results()
    assert len(series) == len(runs) and [r.run_time for r in series] == sorted(r.run_time for r in series)


def served_alerts():
    import shipyard

    return shipyard.Client().store.list_alerts("rain")


def served_results():
    import shipyard

    return shipyard.Client().store.list_monitor_results("rain")
