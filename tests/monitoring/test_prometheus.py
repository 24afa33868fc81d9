"""Monitor gauges in the Prometheus text format, on their own and on the serving app's /metrics."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.anyio


def _samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_gauges_follow_the_latest_run(serve_rainfall, rainfall):
    from shipyard import monitoring

    X, y, _ = rainfall
    served = serve_rainfall()
    monitoring.create_monitor("rain", "rain-api", window=1000, checks={"performance": {"accuracy": 0.7}})
    ids = await served.predict(X[12_000:13_000])
    await served.feedback(ids, y[12_000:13_000])
    served.flush()
    run = monitoring.run_monitor("rain")
    (result,) = run.results

    samples = _samples(monitoring.render_metrics().decode())
    version = {"monitor": "rain", "deployment": "rain-api", "model": "rain", "version": "1"}
    assert samples[("shipyard_monitor_status", frozenset(version.items()))] == 1  # alert
    accuracy = result.check("performance.accuracy").value
    assert samples[("shipyard_monitor_performance", frozenset({**version, "metric": "accuracy"}.items()))] == \
        pytest.approx(accuracy)
    dew = {**version, "feature": "dew point"}
    assert samples[("shipyard_monitor_feature_drifted", frozenset(dew.items()))] == 1
    (row,) = [f for f in result.features if f["column"] == "dew point"]
    score = {**dew, "test": "wasserstein"}
    drift_score = samples[("shipyard_monitor_feature_drift_score", frozenset(score.items()))]
    assert drift_score == pytest.approx(row["statistic"])
    assert samples[("shipyard_monitor_open_alerts", frozenset({"monitor": "rain"}.items()))] >= 1

    # the serving process shows the same gauges on its /metrics
    import shipyard
    from shipyard.serving.app import create_app
    from shipyard.serving.settings import ServingSettings

    store = shipyard.Client().store
    app = create_app(store, deployments=["rain-api"], settings=ServingSettings(poll_interval_s=None),
                     extra_metrics=lambda: monitoring.render_metrics(store))
    try:
        import httpx

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            text = (await http.get("/metrics")).text
    finally:
        app.close()
    assert "shipyard_monitor_status{" in text and 'metric="accuracy"' in text
