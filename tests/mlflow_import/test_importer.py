"""``shipyard import mlflow``: a store written by real MLflow (in its own venv; a SQLite database and an
mlruns/ file store) is copied whole, read-only on the source, and a second import adds nothing."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

import shipyard
from shipyard.cli import main
from shipyard.mlflow_import import import_mlflow
from shipyard.mlflow_import._importer import COMPLETE_TAG, RUN_ID_TAG
from shipyard.store import open_store
from tests.server.mlflow._venv import mlflow_python

pytestmark = pytest.mark.integration

# Run by MLflow: what a user's MLflow store typically holds. Prints the ids as JSON.
MLFLOW_SCRIPT = r"""
import json, math, os, sys
import mlflow
import numpy as np
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

def make(uri):
  mlflow.set_tracking_uri(uri)
  mlflow.set_experiment("churn")
  with mlflow.start_run(run_name="search") as parent:
      mlflow.log_params({"alpha": "0.5", "solver": "lbfgs"})
      mlflow.set_tag("team", "risk")
      for step in range(5):
          mlflow.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=1000 + step)
      mlflow.log_metric("loss", 0.15, step=4, timestamp=2000)  # a second point at the same step
      mlflow.log_metric("odd", float("nan"))
      with open("note.txt", "w") as f:
          f.write("hello")
      mlflow.log_artifact("note.txt", "docs")
      with mlflow.start_run(run_name="trial-1", nested=True) as child:
          mlflow.log_param("c", "1")
          mlflow.log_metric("acc", 0.9)
      X = np.random.RandomState(0).rand(30, 2)
      y = (X[:, 0] > 0.5).astype(int)
      mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model", registered_model_name="clf")
  with mlflow.start_run(run_name="failed") as failed:
      pass
  MlflowClient().set_terminated(failed.info.run_id, "FAILED")
  client = MlflowClient()
  client.set_registered_model_alias("clf", "champion", 1)
  client.set_model_version_tag("clf", "1", "validated", "yes")
  client.set_registered_model_tag("clf", "owner", "risk")
  client.update_registered_model("clf", description="churn classifier")
  return {"parent": parent.info.run_id, "child": child.info.run_id, "failed": failed.info.run_id}


os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # MLflow 3.17 refuses new file stores unless told
print(json.dumps({"db": make(sys.argv[1]), "files": make(sys.argv[2])}))
"""


@pytest.fixture(scope="module")
def mlflow_stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, str]]]:
    """The same store written by MLflow twice: a SQLite database and an mlruns/ file store."""
    python = mlflow_python()
    folder = tmp_path_factory.mktemp("mlflow")
    (folder / "make.py").write_text(MLFLOW_SCRIPT)
    env = {**os.environ, "MLFLOW_TRACKING_URI": "", "PYTHONPATH": ""}
    done = subprocess.run([str(python), "make.py", f"sqlite:///{folder / 'mlflow.db'}",
                           (folder / "files" / "mlruns").as_uri()], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    ids = json.loads(done.stdout.strip().splitlines()[-1])
    return {"db": (folder / "mlflow.db", ids["db"]), "files": (folder / "files" / "mlruns", ids["files"])}


@pytest.fixture(params=["db", "files"])
def mlflow_store(request: pytest.FixtureRequest, mlflow_stores: dict[str, tuple[Path, dict[str, str]]]
                 ) -> tuple[Path, dict[str, str]]:
    return mlflow_stores[request.param]


def _fingerprint(path: Path) -> list[tuple[str, str, int, int]]:
    """Every file's bytes, mode and modification time (and the folders')."""
    paths = [path, *sorted(path.rglob("*"))] if path.is_dir() else [path, path.parent]
    return [(str(p), hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "", p.stat().st_mode,
             p.stat().st_mtime_ns) for p in paths]


def _by_mlflow_id(client: shipyard.Client, experiment: str) -> dict[str, Any]:
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None
    runs = client.store.search_runs([exp.experiment_id], view_type="all")
    return {r.data.tags[RUN_ID_TAG]: r for r in runs if r.info.lifecycle_stage == "active"}


def test_import_copies_everything_and_is_idempotent(mlflow_store: tuple[Path, dict[str, str]],
                                                     tmp_path: Path) -> None:
    db, ids = mlflow_store
    before = _fingerprint(db)
    uri, artifacts = f"sqlite:///{tmp_path / 'shipyard.db'}", str(tmp_path / "artifacts")
    store = open_store(uri, artifacts)
    summary = import_mlflow(str(db), store)
    assert (summary.runs, summary.models, summary.versions, summary.aliases) == (3, 1, 1, 1)
    assert summary.metric_points == 8 and summary.skipped == []

    client = shipyard.Client(uri, artifact_uri=artifacts)
    runs = _by_mlflow_id(client, "churn")
    parent, child, failed = runs[ids["parent"]], runs[ids["child"]], runs[ids["failed"]]
    assert parent.info.run_name == "search" and parent.info.status == "FINISHED"
    assert parent.data.params == {"alpha": "0.5", "solver": "lbfgs"}
    assert parent.data.tags["team"] == "risk" and parent.data.tags["mlflow.runName"] == "search"
    history = [(m.step, m.timestamp, m.value) for m in client.get_metric_history(parent.info.run_id, "loss")]
    assert history == [(0, 1000, 1.0), (1, 1001, 0.5), (2, 1002, 1 / 3), (3, 1003, 0.25), (4, 1004, 0.2),
                       (4, 2000, 0.15)]
    assert math.isnan(client.get_metric_history(parent.info.run_id, "odd")[0].value)
    # Nested runs keep their parent, and MLflow's tag for it points at the new id.
    assert child.info.parent_run_id == parent.info.run_id
    assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert child.data.params == {"c": "1"} and child.data.metrics == {"acc": 0.9}
    assert failed.info.status == "FAILED"
    # Artifacts: the run's files and MLflow 3's logged model under the run.
    repo = client.artifact_repository(parent.info.run_id)
    assert repo.read_bytes("docs/note.txt") == b"hello"
    assert repo.exists("model/MLmodel")
    # Registry: the version points at the copied model, with its tags and the alias.
    mv = client.get_model_version_by_alias("clf", "champion")
    assert mv.version == 1 and mv.run_id == parent.info.run_id
    assert mv.source == f"runs:/{parent.info.run_id}/model" and mv.tags["validated"] == "yes"
    model = client.get_registered_model("clf")
    assert model.tags["owner"] == "risk" and model.description == "churn classifier"

    # A second import adds nothing; the CLI says so in its summary.
    again = import_mlflow(str(db), store)
    assert (again.experiments, again.runs, again.metric_points, again.versions, again.aliases) == (0, 0, 0, 0, 0)
    assert again.already_imported_runs == 3
    assert len(_by_mlflow_id(client, "churn")) == 3
    assert len(client.search_model_versions(name="clf")) == 1
    # The source was never written: same bytes, same mode, same modification time; no WAL files.
    assert _fingerprint(db) == before


def test_a_half_copied_run_is_copied_again(mlflow_store: tuple[Path, dict[str, str]], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    db, ids = mlflow_store
    uri, artifacts = f"sqlite:///{tmp_path / 'shipyard.db'}", str(tmp_path / "artifacts")
    args = ["import", "mlflow", str(db), "--to", uri, "--json"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["runs"] == 3
    client = shipyard.Client(uri, artifact_uri=artifacts)
    child = _by_mlflow_id(client, "churn")[ids["child"]]
    client.delete_tag(child.info.run_id, COMPLETE_TAG)  # as an import cut off before the run's end
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["runs"] == 1
    runs = _by_mlflow_id(client, "churn")
    assert len(runs) == 3 and runs[ids["child"]].info.run_id != child.info.run_id
    assert client.get_run(child.info.run_id).info.lifecycle_stage == "deleted"


def test_bad_sources_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "not.db").write_bytes(b"")
    assert main(["import", "mlflow", str(tmp_path / "missing.db"), "--to", f"sqlite:///{tmp_path}/s.db"]) == 1
    assert "no MLflow database" in capsys.readouterr().err
    assert main(["import", "mlflow", str(tmp_path / "not.db"), "--to", f"sqlite:///{tmp_path}/s.db"]) == 1
    assert "not an MLflow tracking database" in capsys.readouterr().err
