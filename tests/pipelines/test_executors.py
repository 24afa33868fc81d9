"""Timeouts under each local executor, and the process executor running a pipeline end to end.

Tasks are module-level so the process executor's workers can import them by reference.
"""

from __future__ import annotations

import signal
import time

import pytest

from shipyard import pipeline, task
from shipyard.pipelines import ProcessExecutor, ThreadExecutor


@task(timeout=1)
def sleeps_a_minute() -> None:
    time.sleep(60)


@task(timeout=1)
def blocked_in_c() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})  # no signal can reach the sleep now
    time.sleep(60)


@task
def downstream(_: object) -> None: ...


@task
def independent() -> str:
    return "fine"


@pipeline
def stuck_sleep() -> None:
    downstream(sleeps_a_minute())
    independent()


@pipeline
def stuck_in_c() -> None:
    downstream(blocked_in_c())
    independent()


def _assert_timed_out(run, stuck: str, started: float) -> None:
    assert time.monotonic() - started < 10
    assert run.state == "FAILED"
    assert {t.key: t.state for t in run.task_runs} == {stuck: "TIMED_OUT", "downstream": "SKIPPED",
                                                        "independent": "SUCCEEDED"}
    assert run.task(stuck).error_kind == "timeout"


def test_thread_executor_times_out_a_sleeping_task() -> None:
    started = time.monotonic()
    with ThreadExecutor(max_workers=2) as executor:
        run = stuck_sleep.run(executor=executor)
    _assert_timed_out(run, "sleeps_a_minute", started)


@pytest.mark.parametrize("pipe, stuck", [(stuck_sleep, "sleeps_a_minute"), (stuck_in_c, "blocked_in_c")])
def test_process_executor_stops_a_stuck_task(pipe, stuck: str) -> None:
    started = time.monotonic()
    with ProcessExecutor(max_workers=1) as executor:
        run = pipe.run(executor=executor)
        processes = list(executor._isolated)
    _assert_timed_out(run, stuck, started)
    assert processes and not any(p.is_alive() for p in processes)  # the task's process is gone


@task
def numbers(n: int) -> list[int]:
    print("made", n)
    return list(range(n))


@task
def scale(xs: list[int], by: int) -> list[int]:
    return [x * by for x in xs]


@task
def add_up(parts: list[list[int]]) -> int:
    return sum(sum(p) for p in parts)


@pipeline
def small(n: int = 4) -> None:
    xs = numbers(n)
    add_up([scale(xs, 2), scale(xs, 3)])


def test_process_executor_runs_a_small_pipeline() -> None:
    with ProcessExecutor(max_workers=2) as executor:
        run = small.run(executor=executor, n=4)
    assert run.state == "SUCCEEDED", run.error
    assert {t.key: t.state for t in run.task_runs} == {"numbers": "SUCCEEDED", "scale": "SUCCEEDED",
                                                        "scale[1]": "SUCCEEDED", "add_up": "SUCCEEDED"}
    assert run.task("add_up").end_time >= max(run.task("scale").end_time, run.task("scale[1]").end_time)
    from shipyard.pipelines._pipeline import _store

    assert len(_store()[0].get_pipeline_run(run.run_id).task_runs) == 4


SCRIPT = '''
from shipyard import pipeline, task

@task(retries=1)
def extract(day: str):
    return [1, 2, 3]

@task(timeout=60)          # a task with a timeout runs in a process of its own
def train(rows) -> str:
    return f"trained on {len(rows)} rows"

@pipeline(params={"day": "{{ ds }}"})
def nightly(day: str):
    train(extract(day))

if __name__ == "__main__":
    run = nightly.run(day="2026-01-01", executor="processes")
    print(run.state, [(t.task_name, t.state) for t in run.task_runs])
'''


def test_tasks_defined_in_a_script_run_on_the_process_executor(tmp_path, shipyard_home) -> None:
    import os
    import subprocess
    import sys

    script = tmp_path / "nightly.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "SHIPYARD_HOME": str(shipyard_home)}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "SUCCEEDED [('extract', 'SUCCEEDED'), ('train', 'SUCCEEDED')]" in done.stdout
