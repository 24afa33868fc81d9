"""The web UI in a real browser (Chromium through Playwright) over the demo's store: every page opens
without a script error, runs are filtered and sorted, a run's chart downsamples and zooms, two runs are
compared, an alias is set, a deployment is rolled back, artifacts are previewed, and logging in works."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from shipyard.store.sql import SqlStore
from tests.server.ui._seed import LONG_POINTS

expect = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright (test extra)").expect

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def sweep(store: SqlStore) -> tuple[str, dict[str, str]]:
    experiment = store.get_experiment_by_name("sweep")
    assert experiment is not None
    runs = store.search_runs([experiment.experiment_id])
    return experiment.experiment_id, {r.info.run_name: r.info.run_id for r in runs}


def unexpected(problems: list[str], *statuses: int) -> list[str]:
    """Console errors other than the answers a test provoked on purpose (a 400 for a bad filter)."""
    return [p for p in problems if not any(f"status of {s} " in p for s in statuses)]


def table_runs(page: Any) -> list[str]:
    return page.locator("table.runs tbody tr td:nth-child(2) a").all_inner_texts()


def test_every_page_opens_without_a_script_error(goto: Callable[[str], Any], page: Any,
                                                 demo_store: SqlStore) -> None:
    experiment_id, runs = sweep(demo_store)
    pipeline_run = demo_store.list_pipeline_runs()[0].run_id
    pages = {
        "/experiments": "Experiments", f"/experiments/{experiment_id}": "sweep",
        f"/runs/{runs['sweep-0']}": "sweep-0",
        f"/compare?run={runs['sweep-0']}&run={runs['sweep-1']}": "Compare 2 runs",
        "/models": "Registered models", "/models/rain": "rain", "/models/rain/versions/2": "rain v2",
        "/models/sweep-model/versions/1": "sweep-model v1", "/deployments": "Deployments",
        "/deployments/rain-api": "rain-api", "/monitors": "Monitors", "/monitors/rain-monitor": "rain-monitor",
        "/pipelines": "Pipelines", f"/pipelines/runs/{pipeline_run}": "rain-retrain",
    }
    for path, heading in pages.items():
        goto(path)
        assert heading in page.locator("h1").inner_text(), path
        if page.locator("[data-chart]").count():
            page.wait_for_selector("[data-chart][data-state=overview] canvas")
        if page.locator("[data-series-chart]").count():
            page.wait_for_selector("[data-series-chart][data-state=ready] canvas")
        assert page.evaluate("window.__xss") is None, path  # a param holding a <script> stayed text
    assert page.problems == []


def test_lineage_and_monitor_pages_show_the_real_data(goto: Callable[[str], Any], page: Any) -> None:
    goto("/models/sweep-model/versions/1")
    lineage = page.locator(".lineage").inner_text()
    assert "sweep-0" in lineage and "rainfall-2000" in lineage and "2,000 rows" in lineage
    assert page.locator("table.grid.compact tbody tr").count() == 8  # the signature's eight rainfall columns
    goto("/monitors/rain-monitor")
    assert page.locator("#drift svg.hist").count() == 8 and page.locator("#drift tr.drifted").count() >= 1
    assert page.locator("#alerts tbody tr").count() >= 1
    page.wait_for_selector("[data-series-chart][data-state=ready] canvas")
    # the check's label names its test: "feature_drift (share of drifted columns; ...)"
    option = page.locator("[data-series-chart] select option").filter(has_text="feature_drift").first
    page.select_option("[data-series-chart] select", option.get_attribute("value"))
    assert "results of drift_share" in page.locator("[data-series-chart] .chart-status").inner_text()
    assert page.problems == []


def test_filter_sort_and_choose_columns(goto: Callable[[str], Any], page: Any, demo_store: SqlStore) -> None:
    experiment_id, _ = sweep(demo_store)
    goto(f"/experiments/{experiment_id}")
    assert sorted(table_runs(page)) == ["sweep-0", "sweep-1", "sweep-2", "sweep-3"]
    page.fill("input[name=filter]", "params.model = 'forest' and metrics.accuracy > 0.7")
    page.press("input[name=filter]", "Enter")
    page.wait_for_url("**filter=*")
    expect(page.locator("table.runs tbody tr")).to_have_count(2)
    assert sorted(table_runs(page)) == ["sweep-0", "sweep-1"]
    page.fill("input[name=filter]", "params.model = ")
    page.press("input[name=filter]", "Enter")
    error = page.locator("#filter-error")
    error.wait_for()
    assert "expected" in error.inner_text() and page.locator("table.runs tbody tr").count() == 0
    page.click("text=clear")
    expect(page.locator("table.runs tbody tr")).to_have_count(4)
    page.click("th.metrics >> text=accuracy")  # descending first
    page.wait_for_url("**sort=metrics%3Aaccuracy*")
    expect(page.locator("table.runs tbody tr td:nth-child(2)").first).to_have_text("sweep-3")
    page.click("th.metrics >> text=accuracy")  # then ascending
    page.wait_for_url("**dir=asc*")
    expect(page.locator("table.runs tbody tr td:nth-child(2)").first).to_have_text("sweep-2")
    page.click("summary:has-text('Columns')")
    page.uncheck("details.columns input[value='metrics:long']")
    page.check("details.columns input[value='tags:team']")
    page.click("text=Show columns")
    page.wait_for_url("**col=tags%3Ateam*")
    headers = page.locator("table.runs thead th").all_inner_texts()
    assert "team" in headers and "long" not in headers and "accuracy" in headers
    assert unexpected(page.problems, 400) == []


def test_a_run_chart_is_downsampled_and_zooming_fetches_the_detail(goto: Callable[[str], Any], page: Any,
                                                                  demo_store: SqlStore) -> None:
    _, runs = sweep(demo_store)
    goto(f"/runs/{runs['sweep-0']}")
    panel = page.locator("#chart-run")
    page.wait_for_selector("#chart-run[data-state=overview] canvas")
    for key in ("accuracy", "loss"):  # chart the long history alone
        panel.locator(f"input[value={key}]").uncheck()
        page.wait_for_selector("#chart-run[data-state=overview] canvas")
    status = panel.locator(".chart-status")
    assert f"of {LONG_POINTS:,} points" in status.inner_text() and "downsampled" in status.inner_text()
    assert int(panel.get_attribute("data-shown")) <= 4 * 1280
    box = panel.locator(".u-over").bounding_box()
    with page.expect_request(lambda r: "/series.json" in r.url and "min=" in r.url) as zoom:
        page.mouse.move(box["x"] + box["width"] * 0.40, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.42, box["y"] + box["height"] / 2, steps=5)
        page.mouse.up()
    assert "key=long" in zoom.value.url
    page.wait_for_selector("#chart-run[data-state=zoomed]")
    text = status.inner_text()
    assert "in the zoomed range" in text and int(text.split(" of ")[1].split()[0].replace(",", "")) < LONG_POINTS
    panel.locator(".u-over").dblclick()
    page.wait_for_selector("#chart-run[data-state=overview]")
    panel.locator("input[type=radio][value=time]").check()
    page.wait_for_selector("#chart-run[data-state=overview] canvas")
    assert page.problems == []


def test_single_and_few_point_metrics_are_drawn_and_zoom_without_errors(goto: Callable[[str], Any], page: Any,
                                                                        demo_store: SqlStore) -> None:
    from shipyard.entities import Metric

    exp = demo_store.create_experiment("few-points")
    run = demo_store.create_run(exp, run_name="once")
    now = int(time.time() * 1000)
    demo_store.end_run(run.info.run_id, "FINISHED", now + 10,
                       metrics=[Metric("val_auc", 0.8032, now, 0), *(Metric("loss", 1 / (s + 1), now + s, s)
                                                                     for s in range(3))])
    goto(f"/runs/{run.info.run_id}")
    panel = page.locator("#chart-run")
    page.wait_for_selector("#chart-run[data-state=overview] canvas")
    status = panel.locator(".chart-status").inner_text()
    assert "4 of 4 points" in status and "one value each: val_auc = 0.8032" in status
    panel.locator("input[value=loss]").uncheck()  # val_auc alone: one point on a one-value x range
    page.wait_for_selector("#chart-run[data-state=overview] canvas")
    assert "val_auc = 0.8032" in panel.locator(".chart-status").inner_text()
    panel.locator("input[value=loss]").check()
    page.wait_for_selector("#chart-run[data-state=overview] canvas")
    box = panel.locator(".u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    page.wait_for_selector("#chart-run[data-state=zoomed]")
    panel.locator(".u-over").dblclick()
    page.wait_for_selector("#chart-run[data-state=overview]")
    assert page.problems == []


def test_compare_two_runs(goto: Callable[[str], Any], page: Any, demo_store: SqlStore) -> None:
    experiment_id, runs = sweep(demo_store)
    goto(f"/experiments/{experiment_id}")
    page.check(f"input[name=run][value='{runs['sweep-1']}']")
    page.check(f"input[name=run][value='{runs['sweep-3']}']")
    page.click("text=Compare selected")
    page.wait_for_url("**/compare?run=*")
    assert page.locator("h1").inner_text() == "Compare 2 runs"
    differs = page.locator("table.compare tr.differs th").all_inner_texts()
    assert {"lr", "depth", "model", "accuracy", "loss"} <= set(differs)
    assert "team" not in differs
    page.wait_for_selector("#chart-compare[data-state=overview] canvas")
    assert page.locator("#chart-compare .u-legend .u-series").count() >= 3  # x + two runs' series
    page.click("text=only differences")
    page.wait_for_url("**diff=1")
    assert page.locator("table.compare tr.same").count() == 0
    assert page.problems == []


def test_set_an_alias(goto: Callable[[str], Any], page: Any, demo_store: SqlStore) -> None:
    goto("/models/rain")
    page.fill("#aliases input[name=alias]", "ui-test")
    page.select_option("#aliases select[name=version]", "1")
    page.fill("#aliases input[name=reason]", "checked by hand")
    page.click("#aliases button[type=submit]")
    page.wait_for_selector("#aliases .badge:has-text('@ui-test')")
    assert demo_store.get_model_version_by_alias("rain", "ui-test").version == 1
    assert "checked by hand" in page.locator("#aliases").inner_text()
    page.fill("#aliases input[name=alias]", "latest")  # a reserved name: the store's message, inline
    page.click("#aliases button[type=submit]")
    page.wait_for_selector("#aliases .error")
    assert "latest" in page.locator("#aliases .error").inner_text()
    assert unexpected(page.problems, 400) == []


def test_roll_back_a_deployment(goto: Callable[[str], Any], page: Any, demo_store: SqlStore) -> None:
    # The demo ends with a bad v3 canary rolled back automatically: the previous revision is that canary.
    before = demo_store.get_deployment("rain-api")
    target = before.current.revision - 1
    goto("/deployments/rain-api")
    count = page.locator("#revisions tbody tr").count()
    # The split the button would restore is shown before it is pressed, with the guard's warning.
    assert f"restores revision {target}: rain v" in page.locator("#rollback-target").inner_text()
    assert "rolled that version back" in page.locator("#rollback-warning").inner_text()
    page.fill("input[name=reason]", "v2 looks off")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f"text=Roll back to revision {target}")
    expect(page.locator("#rollback-result")).to_contain_text("Pass force")
    assert demo_store.get_deployment("rain-api").current.revision == before.current.revision  # nothing changed
    page.check("input[name=force]")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f"text=Roll back to revision {target}")
    expect(page.locator("#revisions tbody tr")).to_have_count(count + 1)
    after = demo_store.get_deployment("rain-api").current
    assert after.revision == before.current.revision + 1 and after.rollback_of == target
    assert after.reason == "v2 looks off" and after.created_by == "web UI"
    first_row = page.locator("#revisions tbody tr").first.inner_text()
    assert "v2 looks off" in first_row and "current" in first_row
    assert unexpected(page.problems, 409) == []


def test_browse_and_preview_artifacts(goto: Callable[[str], Any], page: Any, demo_store: SqlStore) -> None:
    _, runs = sweep(demo_store)
    goto(f"/runs/{runs['sweep-0']}")
    page.click("#artifact-list >> text=plots/")
    page.click("#artifact-list >> text=curve.png")
    image = page.locator("#artifact-preview img")
    image.wait_for()
    expect(image).to_have_js_property("naturalWidth", 32)  # the PNG was served and decoded
    page.click("#artifact-list .path >> text=artifacts")
    page.click("#artifact-list >> text=data/")
    page.click("#artifact-list >> text=sample.csv")
    page.wait_for_selector("#artifact-preview table")
    assert page.locator("#artifact-preview tbody tr").count() == 50
    assert page.locator("#artifact-preview th").all_inner_texts() == ["day", "temperature", "rain"]
    page.click("#artifact-list .path >> text=artifacts")
    page.click("#artifact-list >> text=config.json")
    page.wait_for_selector("#artifact-preview pre")
    assert '"layers"' in page.locator("#artifact-preview pre").inner_text()
    page.click("#artifact-list >> text=logs/")
    page.click("#artifact-list >> text=train.txt")
    page.wait_for_selector("#artifact-preview pre:has-text('epoch 2 done')")
    assert "<script>" in page.locator("#artifact-preview pre").inner_text()  # shown as text, not run
    assert page.evaluate("window.__xss") is None
    model = page.locator("section.model").inner_text()
    assert "sklearn" in model and "temperature" in model  # the logged model's flavor and signature
    assert page.problems == []


def test_log_in_with_a_token(page: Any, demo_store: SqlStore) -> None:
    from shipyard.server import create_app
    from shipyard.store.sql.tokens import TokenStore
    from tests.server.conftest import LiveServer

    token = TokenStore(demo_store).create_token("browser-writer", "writer")
    server = LiveServer(create_app(demo_store, auth=True))
    try:
        page.goto(server.url + "/models/rain")
        page.wait_for_url("**/login?next=*")
        page.fill("input[name=token]", "shipyard_wrong")
        page.click("button:has-text('Log in')")
        page.wait_for_selector("#login-error .error")
        page.fill("input[name=token]", token)
        page.click("button:has-text('Log in')")
        page.wait_for_url("**/models/rain")
        assert "browser-writer" in page.locator("nav .who").inner_text()
        assert page.locator("#aliases form").count() == 1 and "Roll back" not in page.content()
        cookies = page.context.cookies()
        session = next(c for c in cookies if c["name"] == "shipyard_session")
        assert session["httpOnly"] and session["sameSite"] == "Lax"
        assert page.evaluate("document.cookie") == ""  # the page's scripts cannot read it
        page.click("nav >> text=log out")
        page.wait_for_url("**/login")
        assert unexpected(page.problems, 401) == []  # the wrong token's answer is a 401 on purpose
    finally:
        server.stop()
        TokenStore(demo_store).revoke_token("browser-writer")


def test_scheduled_pipelines_show_their_next_run_and_run_now_queues_one(goto: Callable[[str], Any], page: Any,
                                                                        demo_store: SqlStore) -> None:
    from datetime import UTC, datetime, timedelta

    from shipyard.entities import PipelineInfo

    demo_store.announce_pipelines([PipelineInfo("nightly-etl", "@daily", "UTC", ["day"], 1, "Loads the day.",
                                                "sched-host:1"),
                                   PipelineInfo("quarter-hour", "every 15m", owner="sched-host:1")])
    goto("/pipelines")
    row = page.locator("#scheduled tr[data-pipeline=nightly-etl]")
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    midnight = page.locator("#scheduled tr[data-pipeline=nightly-etl] .next-run").inner_text()
    assert midnight.startswith(f"{tomorrow}\u00a000:00:00 UTC") and "(in " in midnight
    quarter = page.locator("#scheduled tr[data-pipeline=quarter-hour] .next-run").inner_text()
    assert any(f":{m:02d}:00 UTC" in quarter for m in (0, 15, 30, 45)), quarter  # on the quarter hour
    assert "sched-host:1" in row.inner_text() and "never" in row.inner_text()
    row.locator("button:has-text('Run now')").click()
    result = row.locator(".run-now-result")
    expect(result).to_contain_text("Queued run")
    [queued] = demo_store.list_pipeline_runs("nightly-etl")
    assert (queued.state, queued.trigger) == ("PENDING", "run-now")
    result.locator("a").click()
    page.wait_for_url(f"**/pipelines/runs/{queued.run_id}")
    assert "PENDING" in page.locator("h1").inner_text()
    assert "with the pipeline's default parameters" in page.locator("main").inner_text()
    assert page.problems == []


def test_a_pipeline_run_draws_its_dag_from_the_recorded_edges(goto: Callable[[str], Any], page: Any,
                                                              demo_store: SqlStore) -> None:
    [run] = demo_store.list_pipeline_runs("rain-retrain")
    goto(f"/pipelines/runs/{run.run_id}")
    dag = page.locator("svg#dag")
    expect(dag).to_be_visible()
    edges = {(e.get_attribute("data-from"), e.get_attribute("data-to")) for e in dag.locator("path.edge").all()}
    assert edges == {("extract", "validate"), ("validate", "train"), ("extract", "report")}
    assert dag.locator("g.node.failed").get_attribute("data-key") == "validate"
    assert dag.locator("g.node.skipped").get_attribute("data-key") == "train"
    # the columns run left to right along the edges
    x = {k: dag.locator(f"g.node[data-key='{k}'] rect").bounding_box()["x"] for k in ("extract", "validate", "train")}
    assert x["extract"] < x["validate"] < x["train"]
    assert page.problems == []
