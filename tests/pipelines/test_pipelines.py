"""Pipelines as a user writes them: DAG order, overlap, retries, timeouts, cache, failures, cancel."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

import shipyard
from shipyard import pipeline, task
from shipyard.errors import InvalidInput, NotFound
from shipyard.pipelines import cancel, get_run_context
from shipyard.pipelines._pipeline import _store

order: list[str] = []


@task
def extract(day: str) -> list[int]:
    order.append("extract")
    return [1, 2, 3]


@task
def transform(rows: list[int], factor: int = 2) -> list[int]:
    order.append("transform")
    return [r * factor for r in rows]


@task
def load(rows: list[int]) -> int:
    order.append("load")
    print("loaded", len(rows))
    return sum(rows)


@pipeline(params={"day": "{{ ds }}"})
def etl(day: str, factor: int = 2) -> None:
    load(transform(extract(day), factor))


def test_dag_runs_in_data_order_and_is_recorded() -> None:
    order.clear()
    run = etl.run(factor=3)
    assert run.state == "SUCCEEDED" and order == ["extract", "transform", "load"]
    assert [(t.task_name, t.state, t.attempts) for t in run.task_runs] == [
        ("extract", "SUCCEEDED", 1), ("transform", "SUCCEEDED", 1), ("load", "SUCCEEDED", 1)]
    stored = _store()[0].get_pipeline_run(run.run_id)
    assert stored.params["factor"] == 3 and len(stored.params["day"]) == 10  # {{ ds }} rendered
    assert stored.task("load").logs == "loaded 3\n" and stored.task("load").start_time is not None


@task
def nap(label: str) -> tuple[float, float]:
    start = time.monotonic()
    time.sleep(0.3)
    return start, time.monotonic()


@task
def both(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


@pipeline
def branches() -> None:
    both(nap("a"), nap("b"))


def test_independent_branches_overlap_under_threads() -> None:
    run = branches.run()
    assert [t.state for t in run.task_runs] == ["SUCCEEDED"] * 3
    a, b = run.task("nap"), run.task("nap[1]")
    assert a.start_time < b.end_time and b.start_time < a.end_time  # the two naps overlapped
    assert run.task("both").start_time - min(a.start_time, b.start_time) < 550


attempt_times: list[float] = []


@task(retries=3, retry_delay=0.05, backoff=2.0)
def flaky() -> str:
    attempt_times.append(time.monotonic())
    if len(attempt_times) < 3:
        raise ConnectionError("try again")
    return "ok"


@pipeline
def retrying() -> None:
    flaky()


def test_retries_with_backoff() -> None:
    attempt_times.clear()
    run = retrying.run()
    record = run.task("flaky")
    assert (run.state, record.state, record.attempts) == ("SUCCEEDED", "SUCCEEDED", 3)
    gaps = [b - a for a, b in itertools.pairwise(attempt_times)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1
    assert "attempt 1 FAILED: ConnectionError: try again" in record.logs


ticks: list[int] = []


@task(timeout=0.3)
def stuck() -> None:
    for i in range(1000):
        ticks.append(i)
        time.sleep(0.01)


@task
def after(_: object) -> None: ...


@task
def independent() -> str:
    return "fine"


@pipeline
def with_timeout() -> None:
    after(stuck())
    independent()


def test_timeout_stops_a_sleeping_task_and_skips_downstream_only() -> None:
    ticks.clear()
    started = time.monotonic()
    run = with_timeout.run()
    assert time.monotonic() - started < 2
    assert run.state == "FAILED"
    assert {t.key: t.state for t in run.task_runs} == {"stuck": "TIMED_OUT", "after": "SKIPPED",
                                                        "independent": "SUCCEEDED"}
    assert run.task("stuck").error_kind == "timeout"
    time.sleep(0.1)
    seen = len(ticks)
    time.sleep(0.2)
    assert len(ticks) == seen < 100  # the task's thread really stopped


@task
def broken(x: int) -> int:
    raise ValueError(f"bad value {x}")


@task
def platform() -> None:
    raise NotFound("model 'x' not found")


@pipeline
def failing() -> None:
    after(broken(1))
    platform()
    independent()


def test_failure_skips_downstream_only_with_the_users_traceback() -> None:
    run = failing.run()
    states = {t.key: t.state for t in run.task_runs}
    assert states == {"broken": "FAILED", "after": "SKIPPED", "platform": "FAILED", "independent": "SUCCEEDED"}
    bad = run.task("broken")
    assert bad.error == "ValueError: bad value 1" and bad.error_kind == "user"
    assert 'raise ValueError(f"bad value {x}")' in bad.traceback and "_execute.py" not in bad.traceback
    assert run.task("platform").error_kind == "shipyard"
    assert "2 task(s) failed" in run.error


calls: list[int] = []


@task(cache=True, name="square")
def square_v1(x: int) -> int:
    calls.append(x)
    return x * x


@task(cache=True, name="square")
def square_v2(x: int) -> int:
    calls.append(x)
    return x * x + 0


@pipeline
def cached_v1(x: int) -> None:
    after(square_v1(x))


@pipeline
def cached_v2(x: int) -> None:
    after(square_v2(x))


def test_cache_hits_with_same_inputs_and_misses_after_a_code_change() -> None:
    calls.clear()
    assert cached_v1.run(x=4).task("square").state == "SUCCEEDED"
    second = cached_v1.run(x=4)
    assert second.task("square").state == "CACHED" and second.state == "SUCCEEDED" and calls == [4]
    assert cached_v1.run(x=5).task("square").state == "SUCCEEDED"  # other input
    assert cached_v2.run(x=4).task("square").state == "SUCCEEDED"  # changed code
    assert calls == [4, 5, 4]


@task
def step(name: str) -> None:
    order.append(name)


@pipeline(schedule="@daily")
def airflow_style() -> None:
    e = step("extract")
    t = step("train")
    e >> t


@pipeline
def diamond() -> None:
    last = step("last")
    [step("a"), step("b")] >> last


def test_airflow_style_ordering() -> None:
    order.clear()
    assert airflow_style.run().state == "SUCCEEDED" and order == ["extract", "train"]
    order.clear()
    assert diamond.run().state == "SUCCEEDED" and order[-1] == "last"


@pipeline
def cyclic() -> None:
    a, b = step("a"), step("b")
    a >> b >> a


def test_bad_input_is_refused_before_anything_runs() -> None:
    with pytest.raises(InvalidInput, match="cycle"):
        cyclic.run()
    with pytest.raises(InvalidInput, match="no parameter 'fctor'"):
        etl.run(fctor=3)
    with pytest.raises(InvalidInput, match="'factor' must be int"):
        etl.run(factor="3")
    with pytest.raises(InvalidInput, match="bad cron"):
        pipeline(schedule="61 * * * *")(lambda: None)
    assert _store()[0].list_pipeline_runs() == []


@task
def fan(config: dict[str, int]) -> int:
    return config["n"] * 10


@task
def total(values: list[int]) -> int:
    assert get_run_context().logical_date.year == 2026
    return sum(values)


@pipeline
def fanout() -> None:
    total(fan.map([{"n": 1}, {"n": 2}, {"n": 3}]))


def test_map_fans_out_and_tasks_see_the_logical_date() -> None:
    from datetime import datetime

    run = fanout.run(logical_date=datetime(2026, 1, 1))
    assert run.state == "SUCCEEDED"
    assert [t.key for t in run.task_runs][:3] == ["fan[0]", "fan[1]", "fan[2]"]


@task
def trains() -> str:
    shipyard.log_param("depth", 3)
    shipyard.log_metric("acc", 0.9)
    return "ok"


@pipeline
def training() -> None:
    trains()


def test_a_task_that_logs_gets_a_linked_tracking_run() -> None:
    run = training.run()
    tracking_id = run.task("trains").tracking_run_id
    assert tracking_id
    tracked = shipyard.Client().get_run(tracking_id)
    assert tracked.data.params == {"depth": "3"} and tracked.data.metrics["acc"] == 0.9
    assert tracked.data.tags["shipyard.pipeline.run_id"] == run.run_id and tracked.info.status == "FINISHED"


@task
def cancels_its_run() -> None:
    cancel(get_run_context().run_id)


@pipeline
def cancelled() -> None:
    step(cancels_its_run())


def test_cancel_stops_starting_tasks() -> None:
    run = cancelled.run()
    assert run.state == "CANCELLED" and run.task("step").state == "CANCELLED"
    assert _store()[0].get_pipeline_run(run.run_id).state == "CANCELLED"


@task
def long_nap() -> None:
    time.sleep(2.5)


@pipeline
def napping() -> None:
    long_nap()


def test_a_forced_cancel_of_a_live_run_is_the_end_that_stays() -> None:
    store = _store()[0]
    finished: list[object] = []
    driver = threading.Thread(target=lambda: finished.append(napping.run()))
    driver.start()
    deadline = time.monotonic() + 30
    while not (running := store.list_pipeline_runs("napping", states=["RUNNING"])) and time.monotonic() < deadline:
        time.sleep(0.05)
    (run,) = running
    while not store.get_pipeline_run(run.run_id).task_runs and time.monotonic() < deadline:
        time.sleep(0.05)  # the task's RUNNING record is written (task runs are written once a second)
    forced = cancel(run.run_id, force=True)  # as from another process: this one's driver is not told
    assert forced.state == "CANCELLED" and forced.task_runs and all(t.state == "CANCELLED" for t in forced.task_runs)
    driver.join(30)
    (result,) = finished
    assert result.state == "CANCELLED"  # the driver, finishing later, does not overwrite it nor fail
    assert store.get_pipeline_run(run.run_id).error == forced.error


def test_submit_queues_a_checked_run() -> None:
    queued = etl.submit(factor=5)
    assert queued.state == "PENDING"
    with pytest.raises(InvalidInput):
        etl.submit(factor=[1])
    assert threading.active_count() >= 1


def test_cancel_ends_a_run_whose_lease_ran_out_at_once() -> None:
    store = _store()[0]
    orphan = store.create_pipeline_run("napping", {})  # as a scheduler killed right after its heartbeat
    assert store.renew_pipeline_lease(orphan.run_id, 1)
    time.sleep(1.2)
    ended = cancel(orphan.run_id)
    assert ended.state == "FAILED" and "lease" in (ended.error or "")
