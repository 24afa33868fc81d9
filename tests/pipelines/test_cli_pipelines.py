"""``shipyard pipelines ...`` end to end, in-process, against the per-test store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, cli  # noqa: F401 - the fixture

SOURCE = '''
from shipyard import pipeline, task

@task
def greet(who: str, times: int) -> str:
    print("hello", who, times)
    return who

@task
def fail(_: str) -> None:
    raise RuntimeError("nope")

@pipeline(schedule="@daily")
def hello(who: str = "world", times: int = 1):
    greet(who, times)

@pipeline
def broken():
    fail(greet("x", 1))
'''


@pytest.fixture
def module(tmp_path: Path) -> str:
    path = tmp_path / "my_pipelines.py"
    path.write_text(SOURCE)
    return str(path)


def test_list_run_runs_show_logs(cli: Cli, module: str) -> None:  # noqa: F811
    listed = cli("pipelines", "list", "--module", module, "--json")
    assert listed.code == 0 and {p["name"] for p in listed.json()} == {"hello", "broken"}
    due = {p["name"]: p["next_run"] for p in listed.json()}
    tomorrow = (int(time.time() * 1000) // 86_400_000 + 1) * 86_400_000  # @daily: the next UTC midnight
    assert due["hello"] == tomorrow or due["broken"] == tomorrow
    table = cli("pipelines", "list", "--module", module)
    assert "Next run" in table.out and time.strftime("%Y-%m-%d", time.localtime(tomorrow / 1000)) in table.out
    ran = cli("pipelines", "run", "hello", "--module", module, "--param", "times=3", "--json")
    assert ran.code == 0, ran.err
    run = ran.json()
    assert run["state"] == "SUCCEEDED" and run["params"] == {"who": "world", "times": 3}
    assert cli("pipelines", "runs", "--json").json()[0]["run_id"] == run["run_id"]
    assert cli("pipelines", "show", run["run_id"]).code == 0
    logs = cli("pipelines", "logs", run["run_id"], "--task", "greet")
    assert "hello world 3" in logs.out
    failed = cli("pipelines", "run", "broken", "--module", module)
    assert failed.code == 1 and "FAILED" in failed.out
    assert cli("pipelines", "cancel", run["run_id"]).code == 1  # finished already


def test_bad_names_and_params_are_clear_errors(cli: Cli, module: str) -> None:  # noqa: F811
    missing = cli("pipelines", "run", "nope", "--module", module)
    assert missing.code == 1 and "no pipeline 'nope'" in missing.err
    typed = cli("pipelines", "run", "hello", "--module", module, "--param", "times=many")
    assert typed.code == 1 and "'times' must be int" in typed.err
    run_id = cli("pipelines", "run", "hello", "--module", module, "--json").json()["run_id"]
    task = cli("pipelines", "logs", run_id, "--task", "nosuch")
    assert task.code == 1 and "no task 'nosuch'" in task.err
    assert cli("pipelines", "runs", "--json").json()[0]["state"] == "SUCCEEDED"


SLOW = '''
import time
from shipyard import pipeline, task

@task
def sleepy() -> None:
    time.sleep(120)

@pipeline(schedule="every 1s", max_active_runs=1)
def slow():
    sleepy()
'''


def test_cancel_ends_a_run_left_running_by_a_killed_scheduler(cli: Cli, tmp_path: Path) -> None:  # noqa: F811
    import shipyard
    from shipyard.cli._pipelines import scheduler_jobs

    path = tmp_path / "slow_pipelines.py"
    path.write_text(SLOW)
    store = shipyard.Client().store
    proc = subprocess.Popen([sys.executable, "-m", "shipyard", "scheduler", "--module", str(path), "--poll", "0.2"],
                            env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (running := store.list_pipeline_runs("slow", states=["RUNNING"])) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert running, proc.stderr.read().decode() if proc.poll() is not None else "no run started"
        time.sleep(1.5)  # its task is running (and recorded) too
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        proc.stderr.close()
    (stuck,) = running
    (job,) = scheduler_jobs(store, [str(path)]).pipelines
    assert not job.has_room()  # blocked: max_active_runs=1, and the orphan stays RUNNING

    asked = cli("pipelines", "cancel", stuck.run_id, "--wait", "1.5")
    assert asked.code == 0 and "still RUNNING" in asked.err and "--force" in asked.err
    assert store.get_pipeline_run(stuck.run_id).state == "RUNNING"  # no driver is left to end it

    forced = cli("--json", "pipelines", "cancel", stuck.run_id, "--force")
    assert forced.code == 0, forced.err
    assert forced.json()["state"] == "CANCELLED"
    ended = store.get_pipeline_run(stuck.run_id)
    assert ended.state == "CANCELLED" and "force" in (ended.error or "") and ended.end_time
    assert [t.state for t in ended.task_runs] == ["CANCELLED"] * len(ended.task_runs)

    assert job.has_room()  # the pipeline is unblocked: the next tick starts a run
    assert cli("pipelines", "cancel", stuck.run_id).code == 1  # finished: nothing to cancel


def _start_scheduler(path: Path, lease_s: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SHIPYARD_PIPELINE_LEASE_S": lease_s}
    return subprocess.Popen([sys.executable, "-m", "shipyard", "scheduler", "--module", str(path), "--poll", "0.2"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_a_live_scheduler_reclaims_the_run_of_a_killed_one_within_the_lease(tmp_path: Path) -> None:
    import shipyard

    path = tmp_path / "slow_pipelines.py"
    path.write_text(SLOW)
    store = shipyard.Client().store
    first = _start_scheduler(path, "3")
    second: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.monotonic() + 60
        while not (running := store.list_pipeline_runs("slow", states=["RUNNING"])) and time.monotonic() < deadline:
            time.sleep(0.2)
        (orphan,) = running
        time.sleep(1.0)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        killed = time.monotonic()
        second = _start_scheduler(path, "3")
        while store.get_pipeline_run(orphan.run_id).state == "RUNNING" and time.monotonic() < killed + 60:
            time.sleep(0.2)
        reclaimed_after = time.monotonic() - killed
        ended = store.get_pipeline_run(orphan.run_id)
        assert ended.state == "FAILED" and "lease" in (ended.error or ""), ended
        assert reclaimed_after < 3 + 5 + 5  # the lease, the scheduler's check interval, a slow start
        assert all(t.state == "FAILED" for t in ended.task_runs)
        while not (new := [r for r in store.list_pipeline_runs("slow", states=["RUNNING"])]) and \
                time.monotonic() < killed + 60:
            time.sleep(0.2)
        assert new and new[0].run_id != orphan.run_id  # the second scheduler runs the pipeline again
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(30)


def test_list_without_code_shows_what_schedulers_announced(cli: Cli, tmp_path, monkeypatch) -> None:  # noqa: F811
    from shipyard.entities import PipelineInfo
    from shipyard.pipelines._pipeline import _store

    monkeypatch.chdir(tmp_path)  # no shipyard.yaml here, no --module
    empty = cli("pipelines", "list")
    assert empty.code == 0 and "no scheduler has announced a pipeline" in empty.err
    _store()[0].announce_pipelines([PipelineInfo("nightly", "@daily", "Europe/Berlin", ["day"], owner="host:9")])
    listed = cli("pipelines", "list", "--json").json()
    assert [(p["name"], p["schedule"], p["scheduler"]) for p in listed] == [
        ("nightly", "@daily (Europe/Berlin)", "host:9")]
    assert listed[0]["next_run"] > time.time() * 1000
    table = cli("pipelines", "list")
    assert "nightly" in table.out and "announced" in table.err
