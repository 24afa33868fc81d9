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


async def test_a_running_scheduler_picks_up_monitors_created_changed_and_deleted(serve_rainfall, rainfall):
    import threading
    import time

    import shipyard
    from shipyard.automation import JobList
    from shipyard.pipelines import Scheduler

    X, y, _ = rainfall
    served = serve_rainfall()
    client = shipyard.Client()
    ids = await served.predict(X[6000:6300])
    await served.feedback(ids, y[6000:6300])
    served.flush()

    jobs = JobList(client.store)
    scheduler = Scheduler(jobs, client.store, poll_s=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=scheduler.serve, args=(stop,), daemon=True)
    thread.start()
    try:
        time.sleep(0.5)  # the scheduler is running with no monitor at all
        client.create_monitor("live", "rain-api", window=300, schedule="every 1s")
        deadline = time.monotonic() + 60
        while len(client.get_monitor_results("live")) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(client.get_monitor_results("live")) >= 2  # ran, tick after tick, with no restart
        assert client.get_monitor_results("live")[0].rows == 300

        client.update_monitor("live", schedule="@yearly")
        time.sleep(1.0)  # a tick or more with the new schedule: the every-second ticks stop
        settled = client.store.last_tick("monitor.live")
        time.sleep(2.5)
        assert client.store.last_tick("monitor.live") == settled

        client.update_monitor("live", schedule="every 1s")
        time.sleep(1.0)
        client.delete_monitor("live")
        time.sleep(1.0)
        assert [job.name for job in scheduler.jobs if job.name.startswith("monitor.")] == []
        gone = client.store.last_tick("monitor.live")
        time.sleep(2.5)
        assert client.store.last_tick("monitor.live") == gone  # a deleted monitor is no longer ticked
    finally:
        stop.set()
        thread.join(10)
        scheduler.join()
