"""Schedules across DST, and two schedulers on one store starting each tick once."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

import pytest

from shipyard import pipeline, task
from shipyard.errors import InvalidInput, NotFound
from shipyard.pipelines import PipelineJob, Schedule, Scheduler
from shipyard.pipelines._pipeline import _store


def test_daily_in_berlin_follows_the_wall_clock_across_dst() -> None:
    sched = Schedule.parse("0 9 * * *", "Europe/Berlin")
    ticks = sched.ticks_between(datetime(2026, 3, 27, 12, tzinfo=UTC), datetime(2026, 3, 31, 12, tzinfo=UTC))
    assert [t.strftime("%d %H:%M") for t in ticks] == ["28 08:00", "29 07:00", "30 07:00", "31 07:00"]
    autumn = Schedule.parse("@hourly", "America/New_York").ticks_between(
        datetime(2026, 11, 1, 4, 30, tzinfo=UTC), datetime(2026, 11, 1, 7, 30, tzinfo=UTC))
    assert all(b > a for a, b in itertools.pairwise(autumn))  # no tick twice in the repeated hour


def test_presets_intervals_and_bad_schedules() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert len(Schedule.parse("@hourly").ticks_between(start, start + timedelta(days=1))) == 24
    assert len(Schedule.parse("every 15m").ticks_between(start, start + timedelta(hours=1))) == 4
    for bad in ("61 * * * *", "* * *", "@fortnightly", "every 0s"):
        with pytest.raises(InvalidInput):
            Schedule.parse(bad)
    with pytest.raises(InvalidInput, match="time zone"):
        Schedule.parse("@daily", "Mars/Olympus")


def test_next_run_is_the_first_tick_after_now() -> None:
    now = datetime(2026, 3, 28, 7, 30, tzinfo=UTC)  # 08:30 in Berlin, the day before DST starts
    assert Schedule.parse("0 9 * * *", "Europe/Berlin").next_after(now) == datetime(2026, 3, 28, 8, tzinfo=UTC)
    after = datetime(2026, 3, 28, 8, tzinfo=UTC)  # at a tick: the next one, an hour earlier in UTC after DST
    assert Schedule.parse("0 9 * * *", "Europe/Berlin").next_after(after) == datetime(2026, 3, 29, 7, tzinfo=UTC)
    assert Schedule.parse("every 15m").next_after(now) == datetime(2026, 3, 28, 7, 45, tzinfo=UTC)
    assert Schedule.parse("@yearly").next_after(now) == datetime(2027, 1, 1, tzinfo=UTC)


@task
def noop(day: str) -> str:
    return day


@pipeline(schedule="0 9 * * *", timezone="Europe/Berlin", params={"day": "{{ ds }}"}, max_active_runs=5)
def nightly(day: str) -> None:
    noop(day)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_schedulers_start_exactly_one_run_per_tick_across_dst(backend: str, tmp_path, request,
                                                                    monkeypatch) -> None:
    from shipyard.store import open_store

    if backend == "postgresql":
        monkeypatch.setenv("SHIPYARD_STORE_URI", request.getfixturevalue("postgres_uri"))
    uri, artifacts = _store()[0].uri, str(tmp_path / "a")
    start = datetime(2026, 3, 27, 12, tzinfo=UTC)
    schedulers, stores = [], []
    for owner in ("a", "b"):
        store = open_store(uri, artifacts)  # each scheduler has its own connections, as two processes would
        stores.append(store)
        schedulers.append(Scheduler([PipelineJob(nightly, store)], store, owner=owner, started=start))
    barrier = threading.Barrier(2)

    def drive(s: Scheduler) -> None:
        for hour in range(0, 5 * 24, 6):
            barrier.wait()
            s.tick(start + timedelta(hours=hour))

    threads = [threading.Thread(target=drive, args=(s,)) for s in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in schedulers:
        s.join()
    for store in stores:
        store.close()
    runs = _store()[0].list_pipeline_runs("nightly")
    dates = sorted(datetime.fromtimestamp(r.logical_date / 1000, UTC).strftime("%d %H:%M") for r in runs)
    assert dates == ["28 08:00", "29 07:00", "30 07:00", "31 07:00"]
    assert sorted(r.params["day"] for r in runs) == ["2026-03-28", "2026-03-29", "2026-03-30", "2026-03-31"]
    assert {r.state for r in runs} == {"SUCCEEDED"}


def test_catchup_off_fires_only_the_latest_missed_tick() -> None:
    store = _store()[0]
    start = datetime(2026, 3, 1, tzinfo=UTC)
    scheduler = Scheduler([PipelineJob(nightly, store)], store, started=start)
    fired = scheduler.tick(start + timedelta(days=3))
    scheduler.join()
    assert [t.strftime("%d") for _, t in fired] == ["03"]


def test_the_scheduler_starts_queued_runs_once() -> None:
    store = _store()[0]
    queued = nightly.submit(day="2026-01-01")
    scheduler = Scheduler([PipelineJob(nightly, store)], store, started=datetime.now(UTC))
    scheduler.tick()
    scheduler.tick()
    scheduler.join()
    assert store.get_pipeline_run(queued.run_id).state == "SUCCEEDED"
    assert len(store.list_pipeline_runs("nightly")) == 1


@task
def extract(day: str) -> list[int]:
    return [1, 2, 3]


@task
def total(rows: list[int], day: str) -> int:
    return sum(rows)


@pipeline(schedule="every 1h", params={"day": "{{ ds }}"})
def hourly_report(day: str, scale: int = 2) -> None:
    """Sums the rows of a day.

    More text the announcement leaves out."""
    rows = extract(day)
    total(rows, day) >> noop(day)


def test_the_scheduler_announces_its_pipelines_and_runs_one_queued_from_the_server_with_defaults() -> None:
    from shipyard.server.api.pipelines import queue_run_now

    store = _store()[0]
    with pytest.raises(NotFound, match=r"no scheduled pipeline 'hourly_report'.*shipyard scheduler"):
        queue_run_now(store, "hourly_report")
    scheduler = Scheduler([PipelineJob(hourly_report, store)], store, owner="host:7", started=datetime.now(UTC))
    scheduler.tick()
    [info] = store.list_pipelines()
    assert (info.name, info.schedule, info.parameters, info.description, info.owner) == (
        "hourly_report", "every 1h", ["day", "scale"], "Sums the rows of a day.", "host:7")
    queued = queue_run_now(store, "hourly_report")  # what the UI's button and POST /pipelines/{name}/runs do
    assert (queued.state, queued.trigger, queued.params) == ("PENDING", "run-now", {})
    scheduler.tick()
    scheduler.join()
    run = store.get_pipeline_run(queued.run_id)
    assert run.state == "SUCCEEDED", run.error
    # the DAG's edges, as the driver built them: data flow and `>>` alike
    assert {t.key: t.upstream for t in run.task_runs} == {"extract": [], "total": ["extract"], "noop": ["total"]}
