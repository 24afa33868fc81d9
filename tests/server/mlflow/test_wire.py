"""The MLflow face at the wire, without MLflow installed: the error codes and statuses MLflow clients
branch on, bad input answered 4xx, page tokens, stages, logged models' read-only files, and that
both faces show the same store."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from shipyard import entities as e
from shipyard.store.sql import SqlStore
from shipyard.store.sql.tokens import TokenStore

pytestmark = pytest.mark.integration

API = "/api/2.0/mlflow"


@pytest.fixture
def http(live_server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server().url, timeout=60) as client:
        yield client


def _ok(r: httpx.Response) -> dict:
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_errors_carry_mlflow_codes_and_statuses(http: httpx.Client) -> None:
    missing = http.get(f"{API}/experiments/get-by-name", params={"experiment_name": "nope"})
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    _ok(http.post(f"{API}/registered-models/create", json={"name": "m"}))
    again = http.post(f"{API}/registered-models/create", json={"name": "m"})  # register_model tolerates this
    assert again.status_code == 400 and again.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    for method, path, body in [("POST", "/runs/create", {}),
                               ("POST", "/runs/log-batch", {"run_id": "f" * 32, "metrics": "x"}),
                               ("POST", "/runs/search", {"experiment_ids": ["0"], "filter": "metrics.a >"}),
                               ("POST", "/runs/log-metric", {"run_id": "f" * 32, "key": "a", "value": "high"}),
                               ("GET", "/model-versions/search", {"filter": "nonsense = 1"}),
                               ("GET", "/model-versions/get", {"name": "m", "version": "one"}),
                               ("POST", "/experiments/search", {"page_token": "garbage"})]:
        r = http.request(method, API + path, **({"params": body} if method == "GET" else {"json": body}))
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", (path, r.text)
    unknown = http.post("/api/3.0/mlflow/traces", json={})
    assert unknown.status_code == 404 and unknown.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    not_json = http.post(f"{API}/runs/create", content=b"{nope", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400


def test_experiment_zero_is_the_default_experiment_and_runs_show_in_both_faces(http: httpx.Client,
                                                                               sql_store: SqlStore) -> None:
    run = _ok(http.post(f"{API}/runs/create", json={"experiment_id": "0", "start_time": 5,
                                                       "tags": [{"key": "mlflow.user", "value": "ann"}]}))["run"]
    default = sql_store.get_experiment_by_name("Default")
    assert default is not None and run["info"]["experiment_id"] == default.experiment_id
    assert run["info"]["artifact_uri"].startswith(f"mlflow-artifacts:/{default.experiment_id}/")
    # a run shipyard's SDK logged reads with the system tags MLflow clients filter on
    mine = sql_store.create_run(default.experiment_id, "sdk-run", parent_run_id=run["info"]["run_id"])
    sql_store.log_batch(mine.info.run_id, [e.Metric("m", float("nan"), 1, 0)])
    got = _ok(http.get(f"{API}/runs/get", params={"run_id": mine.info.run_id}))["run"]
    tags = {t["key"]: t["value"] for t in got["data"]["tags"]}
    assert tags["mlflow.runName"] == "sdk-run" and tags["mlflow.parentRunId"] == run["info"]["run_id"]
    assert got["data"]["metrics"] == [{"key": "m", "value": "NaN", "timestamp": 0, "step": 0}]
    found = _ok(http.post(f"{API}/runs/search", json={
        "experiment_ids": ["0"], "filter": f"tags.mlflow.parentRunId = '{run['info']['run_id']}'"}))["runs"]
    assert [r["info"]["run_id"] for r in found] == [mine.info.run_id]
    assert sql_store.get_run(run["info"]["run_id"]).data.tags["mlflow.user"] == "ann"
    # MLflow 2 clients record logged models in the run's history tag
    for path in ("model", "other"):
        _ok(http.post(f"{API}/runs/log-model", json={"run_id": mine.info.run_id,
                                                     "model_json": f'{{"artifact_path": "{path}"}}'}))
    history = sql_store.get_run(mine.info.run_id).data.tags["mlflow.log-model.history"]
    assert history == '[{"artifact_path":"model"},{"artifact_path":"other"}]'


def test_pages_of_experiments_and_metric_history(http: httpx.Client, sql_store: SqlStore) -> None:
    for i in range(5):
        sql_store.create_experiment(f"e{i}")
    names, token = [], None
    while True:
        page = _ok(http.post(f"{API}/experiments/search", json={"max_results": 2, "order_by": ["name ASC"],
                                                                 **({"page_token": token} if token else {})}))
        names += [x["name"] for x in page["experiments"]]
        token = page.get("next_page_token")
        if not token:
            break
    assert names == ["e0", "e1", "e2", "e3", "e4"]
    run = sql_store.create_run(sql_store.create_experiment("h"))
    sql_store.log_batch(run.info.run_id, [e.Metric("loss", 1.0 / (s + 1), 100 + s, s) for s in range(5)])
    first = _ok(http.get(f"{API}/metrics/get-history", params={"run_id": run.info.run_id, "metric_key": "loss",
                                                                "max_results": 3}))
    rest = _ok(http.get(f"{API}/metrics/get-history", params={"run_id": run.info.run_id, "metric_key": "loss",
                                                               "page_token": first["next_page_token"]}))
    assert [m["step"] for m in first["metrics"] + rest["metrics"]] == [0, 1, 2, 3, 4] and "next_page_token" not in rest


def test_stages_for_old_clients(http: httpx.Client, sql_store: SqlStore) -> None:
    for _ in range(3):
        sql_store.create_model_version("churn", "s3://bucket/model")

    def stage(version: int, name: str, archive: bool = False) -> dict:
        return _ok(http.post(f"{API}/model-versions/transition-stage", json={
            "name": "churn", "version": str(version), "stage": name, "archive_existing_versions": archive}))

    assert stage(1, "Production")["model_version"]["current_stage"] == "Production"
    stage(2, "staging")
    stage(3, "Production", archive=True)  # version 1 leaves Production for Archived
    latest = _ok(http.get(f"{API}/registered-models/get-latest-versions", params={"name": "churn"}))
    assert {v["current_stage"]: v["version"] for v in latest["model_versions"]} == {
        "Archived": "1", "Staging": "2", "Production": "3"}
    # the stage is the version tag shipyard's SDK reads too; not one of the tags MLflow shows
    assert [sql_store.get_model_version("churn", v).tags["mlflow.current_stage"] for v in (1, 2, 3)] == [
        "Archived", "Staging", "Production"]
    got = _ok(http.get(f"{API}/model-versions/get", params={"name": "churn", "version": "3"}))["model_version"]
    assert got["current_stage"] == "Production" and got["tags"] == []
    bad = http.post(f"{API}/model-versions/transition-stage", json={"name": "churn", "version": "2", "stage": "Gold"})
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    sql_store.set_registered_model_alias("churn", "champion", 2)
    # the client appends its prompt exclusion to every registered-model search
    found = _ok(http.get(f"{API}/registered-models/search", params={
        "filter": "name LIKE 'ch%' AND tag.`mlflow.prompt.is_prompt` != 'true'"}))
    assert [m["name"] for m in found["registered_models"]] == ["churn"]
    assert {a["alias"]: a["version"] for a in found["registered_models"][0]["aliases"]} == {"champion": "2"}


def test_a_ready_logged_model_is_read_only_to_writers(live_server, sql_store: SqlStore) -> None:
    tokens = TokenStore(sql_store)
    writer = {"Authorization": f"Bearer {tokens.create_token('w', 'writer')}"}
    admin = {"Authorization": f"Bearer {tokens.create_token('a', 'admin')}"}
    with httpx.Client(base_url=live_server(auth=True).url, timeout=60) as http:
        run = sql_store.create_run(sql_store.create_experiment("x"))
        model = _ok(http.post(f"{API}/logged-models", headers=writer, json={
            "experiment_id": run.info.experiment_id, "name": "model", "source_run_id": run.info.run_id}))["model"]
        uri = model["info"]["artifact_uri"]
        assert uri == f"mlflow-artifacts:/{run.info.experiment_id}/{run.info.run_id}/artifacts/model"
        url = "/api/2.0/mlflow-artifacts/artifacts/" + uri[len("mlflow-artifacts:/"):] + "/MLmodel"
        assert http.put(url, content=b"v1", headers=writer).status_code == 200
        model_id = model["info"]["model_id"]
        _ok(http.patch(f"{API}/logged-models/{model_id}", headers=writer, json={"status": "LOGGED_MODEL_READY"}))
        swapped = http.put(url, content=b"evil", headers=writer)
        assert swapped.status_code == 403 and swapped.json()["error_code"] == "PERMISSION_DENIED"
        assert http.get(url, headers=writer).content == b"v1"
        assert http.put(url, content=b"repaired", headers=admin).status_code == 200
        # the record is the platform's: a writer cannot forge it through either face
        forged = http.post(f"{API}/runs/set-tag", headers=writer, json={
            "run_id": run.info.run_id, "key": f"shipyard.mlflow.model.{model_id}", "value": "{}"})
        assert forged.status_code == 403
        # MLflow's other way to send credentials: Basic auth, the token as the password
        basic = httpx.BasicAuth("anyone", writer["Authorization"].removeprefix("Bearer "))
        assert http.post(f"{API}/runs/set-tag", auth=basic, json={
            "run_id": run.info.run_id, "key": "via", "value": "basic"}).status_code == 200
        bad = http.get(f"{API}/runs/get", auth=httpx.BasicAuth("anyone", "nope"), params={"run_id": run.info.run_id})
        assert bad.status_code == 401 and bad.json()["error_code"] == "UNAUTHENTICATED"
        assert http.post(f"{API}/runs/delete", auth=basic, json={"run_id": run.info.run_id}).status_code == 403
        listing = _ok(http.get("/api/2.0/mlflow-artifacts/artifacts", headers=writer,
                               params={"path": uri[len("mlflow-artifacts:/"):]}))
        assert listing == {"files": [{"path": "MLmodel", "is_dir": False, "file_size": 8}]}
