"""An unmodified MLflow client (3.17.2, in its own venv) against a live ``shipyard server``, with and
without ``--auth``: what the MLflow client logged is what shipyard's own client reads back.

The flow (``flow.py``) covers tracking (experiments, runs, params, metrics with steps and batches,
tags, datasets, nested runs, search with filters on MLflow's system tags and page tokens), the
``mlflow-artifacts`` proxy (upload, list, download), ``mlflow.sklearn.log_model`` with MLflow 3's
logged-model calls, the registry (register, alias, tags, ``pyfunc.load_model`` by alias and predict)
and the deprecated stages (transition, get-latest-versions, ``models:/name/Production``).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard import Client
from shipyard.server.mlflow import TESTED_VERSIONS
from shipyard.store.sql import SqlStore
from shipyard.store.sql.tokens import TokenStore
from tests.server.mlflow._venv import MLFLOW_VERSION, mlflow_python
from tests.server.test_cli_server import ServerProcess

pytestmark = pytest.mark.integration

FLOW = Path(__file__).with_name("flow.py")


def _run_flow(python: Path, url: str, token: str | None, out: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "SHIPYARD_"))}
    env.update(MLFLOW_TRACKING_URI=url, MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", GIT_PYTHON_REFRESH="quiet")
    if token:
        env["MLFLOW_TRACKING_TOKEN"] = token
    done = subprocess.run([str(python), str(FLOW), str(out)], env=env, capture_output=True, text=True, timeout=280,
                          cwd=out.parent)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    return json.loads(out.read_text())  # type: ignore[no-any-return]


def _check_with_shipyard(client: Client, logged: dict[str, Any], tmp_path: Path) -> None:
    assert logged["mlflow_version"] == MLFLOW_VERSION
    rid = logged["run_id"]
    run = client.get_run(rid)
    assert run.data.params == logged["params"] == {"lr": "0.01", "model": "logreg", "depth": "3", "opt": "adam"}
    assert run.data.metrics == logged["metrics"] == {"loss": 0.1, "acc": 0.8, "f1": 0.7}
    assert logged["tags"].items() <= run.data.tags.items()
    assert run.data.tags["mlflow.runName"] == run.info.run_name == logged["run_name"] == "parent"
    assert run.info.status == logged["status"] == "FINISHED"
    history = [(m.step, m.value) for m in client.get_metric_history(rid, "loss")]
    assert history == [tuple(p) for p in logged["loss_history"]] == [(0, 1.0), (1, 0.5), (2, 1 / 3), (3, 0.25),
                                                                     (4, 0.2), (5, 0.1)]
    [dataset] = run.inputs.datasets
    assert (dataset.name, dataset.digest, dataset.context, dataset.num_rows) == (*logged["dataset"][0][:2],
                                                                                  "training", 6)
    # nested runs: shipyard's parent link and MLflow's tag agree, and shipyard's filters find them
    children = client.search_runs([logged["experiment_id"]], f"tags.mlflow.parentRunId = '{rid}'")
    assert sorted(r.info.run_id for r in children) == logged["children"]
    assert {r.info.parent_run_id for r in children} == {rid}
    assert logged["pages"] == [["child-0", "child-1"], ["child-2"], None]
    assert logged["search_frame"] == {"rows": 1, "run_id": [rid], "acc": [0.8]} and logged["by_run_name"] == 1
    # artifacts the MLflow client uploaded are the run's artifacts for shipyard, and the other way round
    assert logged["artifacts"] == ["cfg", "model", "notes.txt"] and logged["cfg_artifacts"] == ["cfg/config.json"]
    assert sorted(f.path for f in client.list_artifacts(rid)) == logged["artifacts"]
    assert client.download_artifacts(rid, "notes.txt", tmp_path / "dl").read_text() == logged["notes"] == "hello"
    assert client.download_artifacts(rid, "model/MLmodel", tmp_path / "dl").read_text().startswith("artifact_path")
    # registry: the MLflow 3 logged model registered, aliased, tagged, loaded by alias and by stage
    assert logged["duplicate_experiment_error"] == logged["duplicate_model_error"] == "RESOURCE_ALREADY_EXISTS"
    assert logged["missing_alias_error"] == "RESOURCE_DOES_NOT_EXIST"
    v1 = client.get_model_version_by_alias("face-model", "champion")
    assert (v1.version, logged["version"], logged["by_alias"]) == (1, "1", "1")
    assert v1.source == f"runs:/{rid}/model" and v1.run_id == rid and v1.tags["validated"] == "true"
    assert client.get_registered_model("face-model").tags["owner"] == "team-a"
    assert logged["predictions"] == logged["expected_predictions"] == logged["stage_predictions"] == \
        logged["runs_uri_predictions"]
    assert logged["logged_model"] == "model" and logged["logged_models"] == [logged["model_id"]]
    assert logged["version2"] == "2" and logged["versions_found"] == [1, 2] and logged["models_found"] == ["face-model"]
    assert logged["latest_staging"] == ["1"]
    assert client.get_model_version("face-model", 1).tags["mlflow.current_stage"] == "Staging"
    assert client.get_model_version("face-model", 2).source == f"runs:/{rid}/model"


def test_an_unmodified_mlflow_client_against_shipyard_server(shipyard_home: Path, tmp_path: Path) -> None:
    assert MLFLOW_VERSION in TESTED_VERSIONS  # what docs/server.md and the package say is tested
    python = mlflow_python()
    shipyard_home.mkdir(parents=True, exist_ok=True)
    server = ServerProcess(shipyard_home)
    try:
        logged = _run_flow(python, server.url, None, tmp_path / "flow.json")
        _check_with_shipyard(Client(server.url), logged, tmp_path)
        # and shipyard's web UI shows what the MLflow client logged
        page = httpx.get(f"{server.url}/runs/{logged['run_id']}", timeout=60)
        assert page.status_code == 200 and "parent" in page.text and "logreg" in page.text
        assert "champion" in httpx.get(f"{server.url}/models/face-model", timeout=60).text
    finally:
        assert server.stop() == 0


def test_an_mlflow_client_with_a_shipyard_token(shipyard_home: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    python = mlflow_python()
    shipyard_home.mkdir(parents=True, exist_ok=True)
    store = SqlStore(f"sqlite:///{shipyard_home / 'shipyard.db'}", str(shipyard_home / "artifacts"))
    writer = TokenStore(store).create_token("mlflow-ci", "writer")
    reader = TokenStore(store).create_token("dashboards", "reader")
    store.close()
    server = ServerProcess(shipyard_home, "--auth")
    try:
        api = f"{server.url}/api/2.0/mlflow"
        anonymous = httpx.post(f"{api}/experiments/create", json={"name": "x"})
        assert anonymous.status_code == 401 and anonymous.json()["error_code"] == "UNAUTHENTICATED"
        refused = httpx.post(f"{api}/experiments/create", json={"name": "x"},
                             headers={"Authorization": f"Bearer {reader}"})
        assert refused.status_code == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"
        logged = _run_flow(python, server.url, writer, tmp_path / "flow.json")
        monkeypatch.setenv("SHIPYARD_TRACKING_TOKEN", reader)
        _check_with_shipyard(Client(server.url), logged, tmp_path)
        # a writer may not delete (an admin's operation, as over /api/v1)
        deleted = httpx.post(f"{api}/runs/delete", json={"run_id": logged["run_id"]},
                             headers={"Authorization": f"Bearer {writer}"})
        assert deleted.status_code == 403 and deleted.json()["error_code"] == "PERMISSION_DENIED"
    finally:
        assert server.stop() == 0
