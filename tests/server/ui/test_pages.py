"""The web UI over HTTP (no browser): every page renders the store's data, escaped; the runs table sorts,
filters (errors inline), chooses columns and pages; artifacts are browsed and previewed inside the run's
root only; state-changing forms are refused from anywhere but the UI's own page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shipyard.store.sql import SqlStore
from tests.server.ui.conftest import EVIL, Small

pytestmark = pytest.mark.integration

HX = {"HX-Request": "true"}


@pytest.fixture
def http(live_server, small: Small) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server().url, follow_redirects=False) as client:
        yield client


def rows(html: str, table_class: str = "runs") -> list[str]:
    body = html.split(f'class="grid {table_class}"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<a href="/runs/[0-9a-f]{32}"[^>]*>([^<]+)</a>', body)


def test_every_page_shows_the_store_and_escapes_it(http: httpx.Client, small: Small, sql_store: SqlStore) -> None:
    assert http.get("/").headers["location"] == "/experiments"
    pages = {
        "/experiments": ["small", "team=ui"],
        f"/experiments/{small.experiment_id}": ["run-0", "run-2", "loss", "lr"],
        f"/runs/{small.runs[0]}": ["run-0", "FINISHED", "lr", "0.1", "stage", "dev", "data-chart"],
        "/compare?" + "&".join(f"run={r}" for r in small.runs[:2]): ["Compare 2 runs", "differs", "lr"],
        "/models": ["small-model", "@champion"],
        "/models/small-model": ["@champion", "v2", "Set alias", "first"],
        "/models/small-model/versions/2": ["Lineage", "run-2", "lr"],
        "/deployments": ["small-api", "80 %"],
        "/deployments/small-api": ["revision 2", "canary v2", "bob", "alice", "Roll back", "accuracy fell",
                                   "RUNNING"],
        "/monitors": ["small-monitor", "small-api"],
        "/monitors/small-monitor": ["performance.accuracy", "wasserstein", "<svg class=\"hist\"",
                                    "accuracy = 0.7, below the minimum 0.75", "series-data"],
        "/pipelines": ["etl", "FAILED", "0 6 * * *", "Europe/Berlin", "sched-host:42", "Run now", "(in "],
        f"/pipelines/runs/{small.pipeline_run}": ["extract", "load", "ValueError: bad row", "read 10 rows",
                                                  "<svg class=\"tasks\"", "SKIPPED", "<svg class=\"dag\"",
                                                  'data-from="load" data-to="report"'],
    }
    for path, expected in pages.items():
        r = http.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        for text in expected:
            assert text in r.text, (path, text)
        assert EVIL not in r.text and "<script>window" not in r.text, path  # autoescaped everywhere
        assert r.headers["content-security-policy"].startswith("default-src 'self'")
        assert r.headers["x-content-type-options"] == "nosniff"
        assert float(r.headers["server-timing"].split("dur=")[1]) >= 0
        scripts = re.findall(r'<script[^>]*src="([^"]+)"', r.text) + re.findall(r'<link[^>]*href="([^"]+)"', r.text)
        assert scripts and all(s.startswith("/static/") for s in scripts)  # nothing from the internet
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in http.get(f"/runs/{small.runs[0]}").text


def test_unknown_things_are_404_pages(http: httpx.Client) -> None:
    for path in ("/runs/" + "0" * 32, "/experiments/nope", "/models/nope", "/models/small-model/versions/9",
                 "/deployments/nope", "/monitors/nope", "/pipelines/runs/nope", "/static/nope.js"):
        r = http.get(path)
        assert r.status_code == 404 and "text/html" in r.headers["content-type"], path
    assert http.get("/models/small-model/versions/x").status_code == 400
    r = http.get("/series.json?run=" + "0" * 32 + "&key=loss")
    assert r.status_code == 404 and r.json()["message"]


def test_runs_table_sorts_filters_chooses_columns_and_pages(http: httpx.Client, small: Small) -> None:
    base = f"/experiments/{small.experiment_id}"
    assert rows(http.get(base).text) == ["run-2", "run-1", "run-0"]  # newest first
    assert rows(http.get(base, params={"sort": "metrics:acc", "dir": "asc"}).text) == ["run-0", "run-1", "run-2"]
    assert rows(http.get(base, params={"sort": "params:lr", "dir": "desc"}).text)[0] == "run-2"
    assert rows(http.get(base, params={"sort": "attributes:run_name", "dir": "asc"}).text)[0] == "run-0"
    r = http.get(base, params={"filter": "params.lr = '0.2' or metrics.acc > 0.65"})
    assert r.status_code == 200 and rows(r.text) == ["run-2", "run-1"]
    r = http.get(base, params={"filter": "metrics.acc >"})
    assert r.status_code == 400 and 'id="filter-error"' in r.text and "metrics.acc &gt;" in r.text
    assert "expected" in r.text.split('id="filter-error"')[1][:300]
    # columns: chosen ones only, in order; an unknown entity is ignored
    r = http.get(base, params={"col": ["params:depth", "tags:stage", "bogus:x"]})
    header = r.text.split("<thead>", 1)[1].split("</thead>", 1)[0]
    assert 'title="params.depth"' in header and 'title="tags.stage"' in header and "loss" not in header
    # pages: 2 per page, next and back again
    first = http.get(base, params={"per": 25})
    assert rows(first.text) == ["run-2", "run-1", "run-0"] and 'rel="next"' not in first.text
    from shipyard.store.sql.search import encode_page_token

    second = http.get(base, params={"page": encode_page_token(2), "back": "~", "per": 25})
    assert rows(second.text) == ["run-0"] and 'rel="prev"' in second.text
    assert http.get(base, params={"page": "garbage"}).status_code == 400


def test_chart_data_is_downsampled_and_zooms(http: httpx.Client, small: Small) -> None:
    r = http.get("/series.json", params={"run": small.runs[0], "key": ["loss", "acc"], "buckets": 100})
    body = r.json()
    assert r.status_code == 200 and body["axis"] == "step" and body["range"] is None
    loss = next(s for s in body["series"] if s["key"] == "loss")
    assert loss["total"] == 50 and loss["x"] == list(range(50)) and loss["y"][0] == 1.0
    zoom = http.get("/series.json", params={"run": small.runs[0], "key": "loss", "min": 10, "max": 19.5}).json()
    assert zoom["series"][0]["x"] == list(range(10, 21)) and zoom["range"] == [10, 19.5]  # whole steps around
    times = http.get("/series.json", params={"run": small.runs, "key": "loss", "x": "time"}).json()
    assert len(times["series"]) == 3 and times["series"][0]["label"] == "run-0: loss"
    assert all(isinstance(x, float) for x in times["series"][0]["x"])  # seconds for uPlot's time axis
    for bad in ({"x": "epoch"}, {"min": "a", "max": "1"}, {"min": "5", "max": "1"}, {"min": "inf", "max": "1"}):
        r = http.get("/series.json", params={"run": small.runs[0], "key": "loss", **bad})
        assert r.status_code == 400 and r.json()["message"], bad
    assert http.get("/series.json", params={"key": "loss"}).status_code == 400


def test_artifacts_browse_preview_and_stay_inside_the_run(http: httpx.Client, small: Small,
                                                          sql_store: SqlStore, tmp_path: Path) -> None:
    from shipyard.artifacts import get_artifact_repository

    run = sql_store.get_run(small.runs[0])
    repo = get_artifact_repository(run.info.artifact_uri)
    repo.log_bytes(b"a,b\n" + b"".join(b"%d,%d\n" % (i, i * i) for i in range(100)), "data/t.csv")
    repo.log_bytes(b'{"k": [1, 2], "html": "<b>"}', "cfg.json")
    repo.log_bytes(b"line\n" * 30_000, "logs/big.log")
    repo.log_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "p.png")
    repo.log_bytes(bytes(range(256)), "blob.bin")
    repo.log_bytes(b"<svg onload='alert(1)'/>", "evil.svg")
    base = f"/runs/{small.runs[0]}/artifacts"
    listing = http.get(base).text
    assert "data/" in listing and "cfg.json" in listing and listing.index("data/") < listing.index("blob.bin")
    assert "t.csv" in http.get(base, params={"path": "data"}).text
    csv = http.get(f"{base}/preview", params={"path": "data/t.csv"}).text
    assert "<th>a</th>" in csv and "<td>9</td><td>81</td>" in csv and "first 50 rows" in csv
    js = http.get(f"{base}/preview", params={"path": "cfg.json"}).text
    assert "&#34;k&#34;: [" in js or "&quot;k&quot;: [" in js
    assert "&lt;b&gt;" in js
    big = http.get(f"{base}/preview", params={"path": "logs/big.log"}).text
    assert "Only the beginning is shown" in big and len(big) < 100_000
    assert "binary file" in http.get(f"{base}/preview", params={"path": "blob.bin"}).text
    assert "<img src=" in http.get(f"{base}/preview", params={"path": "p.png"}).text
    png = http.get(f"{base}/raw", params={"path": "p.png"})
    assert png.headers["content-type"] == "image/png" and png.headers["content-disposition"].startswith("inline")
    svg = http.get(f"{base}/raw", params={"path": "evil.svg"})
    assert svg.headers["content-security-policy"].startswith("sandbox")
    blob = http.get(f"{base}/raw", params={"path": "blob.bin"})
    assert blob.content == bytes(range(256)) and blob.headers["content-disposition"].startswith("attachment")
    (tmp_path / "secret.txt").write_text("TOP-SECRET-CONTENT")
    for path in ("../../secret.txt", "/etc/passwd", "data/../../x", "a\\b"):
        for endpoint in ("", "/preview", "/raw"):
            r = http.get(f"{base}{endpoint}", params={"path": path})
            assert r.status_code == 400 and "TOP-SECRET" not in r.text, (endpoint, path)
    assert http.get(f"{base}/preview", params={"path": "data"}).status_code == 404


def test_forms_set_an_alias_and_roll_back(http: httpx.Client, sql_store: SqlStore) -> None:
    r = http.post("/models/small-model/aliases", data={"alias": "staging", "version": "2", "reason": "try it"},
                  headers=HX)
    assert r.status_code == 200 and "@staging" in r.text and 'id="aliases"' in r.text
    assert sql_store.get_model_version_by_alias("small-model", "staging").version == 2
    assert sql_store.get_alias_history("small-model", "staging")[-1].reason == "try it (web UI)"
    r = http.post("/models/small-model/aliases", data={"alias": "latest", "version": "1"}, headers=HX)
    assert r.status_code == 400 and 'class="error"' in r.text and 'value="latest"' in r.text
    assert http.post("/models/small-model/aliases", data={"alias": "x", "version": ""}, headers=HX).status_code == 400
    r = http.post("/deployments/small-api/rollback", data={"reason": "bad canary"}, headers=HX)
    assert r.status_code == 200 and r.headers["hx-redirect"] == "/deployments/small-api"
    current = sql_store.get_deployment("small-api").current
    assert current.revision == 3 and current.rollback_of == 1 and current.reason == "bad canary"
    assert current.created_by == "web UI"
    # without htmx's header (a plain cross-site form) or from another origin: refused, nothing changes
    assert http.post("/deployments/small-api/rollback", data={}).status_code == 403
    r = http.post("/deployments/small-api/rollback", data={}, headers={**HX, "Origin": "https://evil.example"})
    assert r.status_code == 403
    assert sql_store.get_deployment("small-api").current.revision == 3


def test_run_now_queues_a_run_of_a_scheduled_pipeline_only(http: httpx.Client, sql_store: SqlStore) -> None:
    r = http.post("/pipelines/etl/run", data={}, headers=HX)
    assert r.status_code == 200 and "Queued run" in r.text
    [queued] = sql_store.list_pipeline_runs("etl", states=["PENDING"])
    assert (queued.trigger, queued.params) == ("run-now", {}) and queued.run_id[:8] in r.text
    r = http.post("/pipelines/nightly/run", data={}, headers=HX)  # no scheduler announced it
    assert r.status_code == 404 and "no scheduled pipeline &#39;nightly&#39;" in r.text and "announced: etl" in r.text
    assert http.post("/pipelines/etl/run", data={}).status_code == 403  # not from the UI's page
    assert len(sql_store.list_pipeline_runs("etl", states=["PENDING"])) == 1


def test_the_dag_is_layered_from_the_recorded_edges() -> None:
    from shipyard.entities import TaskRun
    from shipyard.server.ui._dag import dag_svg, layers

    tasks = [TaskRun("r", "report", "report", upstream=["train[1]", "train[0]"]),
             TaskRun("r", "extract", "extract"), TaskRun("r", "train[0]", "train", upstream=["extract"]),
             TaskRun("r", "train[1]", "train", upstream=["extract"]), TaskRun("r", "notify", "notify")]
    assert layers(tasks) == [["extract", "notify"], ["train[0]", "train[1]"], ["report"]]
    svg = str(dag_svg(tasks))
    assert svg.count('class="edge"') == 4 and svg.count('class="node') == 5
    # a cycle (which no driver records) or an edge to an unknown task still draws, without looping
    assert layers([TaskRun("r", "a", "a", upstream=["b"]), TaskRun("r", "b", "b", upstream=["a", "zz"])]) == [
        ["a", "b"]]


def test_ui_is_not_in_the_api_spec_and_static_files_are_cached(http: httpx.Client) -> None:
    paths = http.get("/openapi.json").json()["paths"]
    # the platform's API, MLflow's REST face (documented for MLflow clients) and the probes; no UI page
    assert all(p.startswith(("/api/v1/", "/api/2.0/mlflow/", "/api/2.0/mlflow-artifacts/"))
               or p in ("/health", "/metrics") for p in paths)
    assert any(p.startswith("/api/2.0/mlflow/") for p in paths) and "/experiments" not in paths
    page = http.get("/experiments").text
    css = re.search(r'href="(/static/style\.css\?v=[0-9a-f]+)"', page).group(1)
    r = http.get(css)
    assert r.status_code == 200 and "immutable" in r.headers["cache-control"]
    assert r.headers["content-type"].startswith("text/css")
    for vendored in ("vendor/htmx.min.js", "vendor/uPlot.iife.min.js", "vendor/uPlot.min.css",
                     "vendor/LICENSE-htmx.txt", "vendor/LICENSE-uplot.txt"):
        assert http.get(f"/static/{vendored}").status_code == 200, vendored


def test_no_page_or_script_loads_anything_from_the_internet() -> None:
    ui = Path(__file__).resolve().parents[3] / "src" / "shipyard" / "server" / "ui"
    for path in [*ui.glob("templates/*.html"), ui / "static" / "ui.js", ui / "static" / "style.css"]:
        text = path.read_text()
        assert not re.search(r"(src|href|url)\s*[=(]\s*[\"']?(https?:)?//", text), path
    for vendored in (ui / "static" / "vendor").glob("*.js"):
        code = vendored.read_text()
        assert not re.search(r"""(import\(|fetch\(|src=)["']https?://""", code), vendored
