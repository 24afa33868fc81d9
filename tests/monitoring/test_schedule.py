"""Monitors with a schedule are jobs of the pipelines' scheduler: each tick runs the monitor once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

pytestmark = pytest.mark.anyio


async def test_the_scheduler_runs_a_scheduled_monitor(serve_rainfall, rainfall):
    import shipyard
    from shipyard.automation import JobList
    from shipyard.pipelines import Scheduler

    X, y, _ = rainfall
    served = serve_rainfall()
    client = shipyard.Client()
    client.create_monitor("rain", "rain-api", window=500, schedule="every 5m")
    client.create_monitor("adhoc", "rain-api", window=500)  # no schedule: `monitors run` only
    ids = await served.predict(X[6000:6500])
    await served.feedback(ids, y[6000:6500])
    served.flush()

    jobs = JobList(client.store).monitors()
    assert [job.name for job in jobs] == ["monitor.rain"]
    now = datetime.now(UTC)
    scheduler = Scheduler(jobs, client.store, started=now - timedelta(minutes=12))
    fired = scheduler.tick(now)
    assert [name for name, _ in fired] == ["monitor.rain"]  # catch-up off: one run, not three
    scheduler.join()
    (result,) = client.get_monitor_results("rain")
    assert result.rows == 500 and result.status in ("ok", "alert")
    assert scheduler.tick(now) == []  # the tick is claimed: a second scheduler would not run it again
    assert client.get_monitor_results("adhoc") == []
