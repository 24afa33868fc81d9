"""``shipyard scheduler --executor dask://...`` against a Dask cluster started from the Dask CLI, with
a server on auth: the scheduler holds only the server's URL and a token, the workers hold nothing.
The workers get the tracking URI and token from the scheduler (a worker plugin), so tracking in the
tasks reaches the server; the pipeline's module is shipped to them by value; a module they lack
fails the task with a message naming it."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._topology import DaskCluster, Process, ShipyardServer, without_cloud_credentials
from tests._wait import wait_until

pytest.importorskip("distributed")
pytestmark = pytest.mark.integration

FLOWS = '''
import shipyard
from shipyard import pipeline, task

import helperlib  # importable here (the project folder), not on the workers


def worker_name() -> str:
    import os

    return os.path.basename(os.getcwd())  # each worker runs in its own folder


@task
def train(n: int) -> str:
    shipyard.log_metric("n", n)
    shipyard.log_param("worker", worker_name())
    return worker_name()


@task
def report(worker: str) -> str:
    return f"trained on {worker}"


@task(cache=True)
def prepared(n: int) -> list:
    return list(range(n))  # its output goes to the task cache through the server, with the worker's token


@pipeline(schedule="every 2s")
def nightly(n: int = 3) -> None:
    report(train(n))
    prepared(n)


@task
def uses_helper() -> int:
    return helperlib.double(2)


@pipeline(schedule="every 2s")
def needs_helper() -> None:
    uses_helper()
'''


def _env_without_shipyard(env: dict[str, str], home: Path) -> dict[str, str]:
    clean = {k: v for k, v in without_cloud_credentials(env).items() if not k.startswith("SHIPYARD_")}
    return {**clean, "SHIPYARD_HOME": str(home)}


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(URL, admin token) of ``shipyard server --auth`` over SQLite and a local artifact folder."""
    from shipyard.store import open_store
    from shipyard.store.sql.tokens import TokenStore

    folder = tmp_path / "server"
    folder.mkdir()
    db, artifacts = f"sqlite:///{folder / 'server.db'}", str(folder / "artifacts")
    store = open_store(db, artifacts)
    token = TokenStore(store).create_token("scheduler", "admin")
    store.close()
    server = ShipyardServer(folder, {**os.environ, "SHIPYARD_STORE_URI": db, "SHIPYARD_ARTIFACT_URI": artifacts},
                            "--auth")
    yield server.url, token
    server.stop()
    from shipyard import _http
    from shipyard.tracking.client import _stores

    for key in [k for k in _stores if k[0].startswith("http")]:
        _stores.pop(key).close()
    while _http._clients:
        _http._clients.popitem()[1].close()


def test_scheduler_runs_pipelines_on_a_dask_cluster_that_knows_nothing(
        tmp_path: Path, platform: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    url, token = platform
    project = tmp_path / "project"
    project.mkdir()
    (project / "flows.py").write_text(textwrap.dedent(FLOWS))
    (project / "helperlib.py").write_text("def double(x):\n    return 2 * x\n")
    cluster = DaskCluster(tmp_path, _env_without_shipyard(dict(os.environ), tmp_path / "worker-home"), n_workers=1)
    scheduler = None
    try:
        env = {**_env_without_shipyard(dict(os.environ), tmp_path / "scheduler-home"),
               "SHIPYARD_TRACKING_URI": url, "SHIPYARD_TRACKING_TOKEN": token}
        scheduler = Process([sys.executable, "-m", "shipyard", "scheduler", "--module", "flows.py", "--poll", "0.5",
                             "--executor", cluster.address.replace("tcp://", "dask://")],
                            tmp_path / "scheduler.log", env, cwd=project)
        scheduler.wait_for(r"pipelines on dask://")

        monkeypatch.setenv("SHIPYARD_TRACKING_URI", url)
        monkeypatch.setenv("SHIPYARD_TRACKING_TOKEN", token)
        import shipyard

        store = shipyard.Client().store

        def finished(name: str):  # type: ignore[no-untyped-def]
            runs = store.list_pipeline_runs(name, states=["SUCCEEDED", "FAILED"], max_results=1)
            return store.get_pipeline_run(runs[0].run_id) if runs else None

        good = wait_until(lambda: finished("nightly"), 90, "a finished run of nightly")
        bad = wait_until(lambda: finished("needs_helper"), 60, "a finished run of needs_helper")
    finally:
        if scheduler is not None:
            scheduler.stop()
        cluster.stop()

    assert good.state == "SUCCEEDED", (good.error, [(t.key, t.error) for t in good.task_runs])
    train = good.task("train")
    # Tracking in the task went to the server (the worker had no tracking URI of its own) ...
    tracked = store.get_run(train.tracking_run_id)
    assert tracked.data.params["worker"] == "dask-worker-0"
    assert tracked.data.metrics["n"] == 3
    assert tracked.data.tags["shipyard.pipeline.run_id"] == good.run_id
    cached = good.task("prepared")
    assert cached.state in ("SUCCEEDED", "CACHED") and cached.output_uri, cached.logs
    assert "not cached" not in cached.logs and "cache lookup failed" not in cached.logs, cached.logs
    # ... and nothing went to a SQLite file in the worker's folders.
    assert not list(tmp_path.glob("dask-worker-*/**/shipyard.db")) and not (tmp_path / "worker-home").exists()

    assert bad.state == "FAILED"
    message = bad.task("uses_helper").error
    assert "cannot import module 'helperlib'" in message and "Install it on the workers" in message, message


def test_a_bad_executor_fails_the_start_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    from shipyard.cli import main

    assert main(["server", "--scheduler", "--executor", "dask:/typo:8786", "--port", "0"]) != 0
    assert "unknown executor 'dask:/typo:8786'" in capsys.readouterr().err
    assert main(["server", "--executor", "dask://h:8786", "--port", "0"]) != 0
    assert "add --scheduler" in capsys.readouterr().err
    assert main(["scheduler", "--executor", "sparkle"]) != 0
    assert "unknown executor 'sparkle'" in capsys.readouterr().err
