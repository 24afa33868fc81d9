"""Web UI fixtures: a small store written through the Store API (HTTP tests), the demo's store with
real data (browser tests), Chromium driven by Playwright, and a screenshot of every failed browser test.

Browser tests use Debian's Chromium at /usr/bin/chromium (``apt-get install -y chromium``; ``.ci/run``
installs it) and never download a browser; without it they are skipped with that reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shipyard.entities import (
    Alert,
    CheckResult,
    Metric,
    MonitorResult,
    Param,
    PipelineInfo,
    PolicyEvent,
    Rollout,
    Route,
    RunTag,
    TaskRun,
)
from shipyard.store.sql import SqlStore

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[3]
SCREENSHOTS = REPO / "test-artifacts" / "browser"
EVIL = "<script>window.__xss = 1</script>"
_REPORT = pytest.StashKey[pytest.TestReport]()


# ----------------------------------------------------------------------------------- a small store

@dataclass
class Small:
    """Ids of what :func:`seed_small` wrote."""

    experiment_id: str
    runs: list[str]
    pipeline_run: str


def seed_small(store: SqlStore) -> Small:
    """Every kind of record the UI shows, written through the Store API in well under a second."""
    now = int(time.time() * 1000)
    exp = store.create_experiment("small", tags={"team": "ui"})
    runs = []
    for i in range(3):
        run = store.create_run(exp, run_name=f"run-{i}", start_time=now + i, tags={"stage": "dev"})
        store.end_run(run.info.run_id, "FINISHED", now + 100 + i,
                      metrics=[Metric("loss", 1.0 / (s + 1 + i), now + s, s) for s in range(50)]
                      + [Metric("acc", 0.5 + 0.1 * i, now, 0)],
                      params=[Param("lr", str(0.1 * (i + 1))), Param("depth", "3"), Param("note", EVIL)],
                      tags=[RunTag("shipyard.source.name", "train.py")])
        runs.append(run.info.run_id)
    for v in (1, 2):
        store.create_model_version("small-model", f"runs:/{runs[v]}/model", run_id=runs[v], description=f"v{v}")
    store.set_registered_model_alias("small-model", "champion", 1, reason="first")
    store.create_deployment("small-api", routes=[Route("small-model", 1)], created_by="alice", reason="launch")
    store.update_deployment("small-api", routes=[Route("small-model", 1, 80.0), Route("small-model", 2, 20.0)],
                            created_by="bob", reason="canary v2")
    store.create_rollout(Rollout("", "small-api", "small-model", 2, 1, [20.0, 100.0], 0, {"metric": "roc_auc"},
                                 started_time=now))
    store.add_policy_event(PolicyEvent("retrain", "small-api", "triggered", message="accuracy fell"))
    store.create_monitor("small-monitor", "small-api", {"window": {"rows": 100}, "checks": {}})
    histogram = {"kind": "numeric", "edges": [0.0, 1.0, 2.0, 3.0], "reference": [0.2, 0.5, 0.3],
                 "current": [0.1, 0.3, 0.6]}
    categories = {"kind": "categorical", "categories": ["a", EVIL], "reference": [0.7, 0.3], "current": [0.4, 0.6]}
    store.log_monitor_results([
        MonitorResult("small-monitor", now + k * 1000, "small-model", 1, "alert" if k else "ok", rows=100,
                      labeled_rows=80, window_start=now + k * 1000 - 500, window_end=now + k * 1000,
                      checks=[CheckResult("performance.accuracy", "accuracy", 0.9 - 0.1 * k, 0.75, "min", k < 2)],
                      features=[{"column": "x", "type": "numeric", "test": "wasserstein", "statistic": 0.1 * k,
                                 "p_value": None, "threshold": 0.1, "drifted": k > 1, "histogram": histogram},
                                {"column": "colour", "type": "categorical", "test": "jensenshannon",
                                 "statistic": 0.2, "p_value": None, "threshold": 0.1, "drifted": True,
                                 "histogram": categories}])
        for k in range(3)])
    store.open_alert(Alert("", "small-monitor", "performance.accuracy", "small-model", 1, "OPEN", now + 2000,
                           value=0.7, threshold=0.75, message="accuracy = 0.7, below the minimum 0.75"))
    prun = store.create_pipeline_run("etl", {"day": "2026-11-27"})
    store.finish_pipeline_run(prun.run_id, "FAILED", task_runs=[
        TaskRun(prun.run_id, "extract", "extract", "SUCCEEDED", 1, now, now + 40, logs="read 10 rows\n"),
        TaskRun(prun.run_id, "load", "load", "FAILED", 2, now + 40, now + 90, error="ValueError: bad row",
                error_kind="user", traceback="Traceback ...\nValueError: bad row\n", logs=f"loading {EVIL}\n"),
        TaskRun(prun.run_id, "report", "report", "SKIPPED", 0, error="upstream task 'load' FAILED",
                upstream=["extract", "load"])],
        error="1 task(s) failed: load")
    # the load's edge written apart, as a driver's first flush would
    store.write_task_runs(prun.run_id, [TaskRun(prun.run_id, "load", "load", "FAILED", 2, now + 40, now + 90,
                                                error="ValueError: bad row", error_kind="user",
                                                traceback="Traceback ...\nValueError: bad row\n",
                                                logs=f"loading {EVIL}\n", upstream=["extract"])])
    store.announce_pipelines([PipelineInfo("etl", "0 6 * * *", "Europe/Berlin", ["day"], 1, f"Loads {EVIL}",
                                           "sched-host:42")])
    return Small(exp, runs, prun.run_id)


@pytest.fixture
def small(sql_store: SqlStore) -> Small:
    return seed_small(sql_store)


# ----------------------------------------------------------------------------------- the browser

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.stash[_REPORT] = report


def _need_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install -y chromium; "
                    ".ci/run installs it); Playwright never downloads a browser here")
    pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright package (test extra)")


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's store plus the sweep runs and a pipeline (tests/server/ui/_seed.py), made once."""
    _need_chromium()
    home = tmp_path_factory.mktemp("ui-demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    done = subprocess.run([sys.executable, "-m", "tests.server.ui._seed", str(home)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return home


@pytest.fixture(scope="session")
def demo_store(demo_home: Path) -> Iterator[SqlStore]:
    store = SqlStore(f"sqlite:///{demo_home / 'shipyard.db'}", str(demo_home / "artifacts"))
    yield store
    store.close()


@pytest.fixture(scope="session")
def ui_url(demo_store: SqlStore) -> Iterator[str]:
    from shipyard.server import create_app
    from tests.server.conftest import LiveServer

    server = LiveServer(create_app(demo_store))
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One browser per test module: Playwright's sync API keeps an event loop on this thread while it
    runs, which asyncio tests of later modules must not find."""
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser page; console errors and uncaught exceptions are collected in ``page.problems``
    (a test asserts there are none), and a failed test leaves a screenshot in test-artifacts/browser/."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    tab.problems = problems
    yield tab
    report = request.node.stash.get(_REPORT, None)
    if report is not None and report.failed:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.nodeid)[-150:]
        tab.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    context.close()


@pytest.fixture
def goto(page: Any, ui_url: str) -> Callable[[str], Any]:
    def go(path: str) -> Any:
        response = page.goto(ui_url + path)
        assert response is not None and response.status < 400, f"{path}: {response and response.status}"
        return page

    return go
