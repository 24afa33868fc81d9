"""MLflow's own example scripts, unmodified, against ``shipyard server`` through the MLflow client.

The scripts are MLflow's (``examples/sklearn_elasticnet_wine/train.py``,
``examples/sklearn_logistic_regression/train.py``, ``examples/pyfunc/train.py`` with its
``custom_code.py``) and are not kept in this repository: set ``SHIPYARD_MLFLOW_EXAMPLES`` to a folder
holding MLflow's ``examples/`` tree (a checkout of github.com/mlflow/mlflow, or those files) to run
them; without it the test skips.

The wine example reads its CSV from a GitHub URL. A machine without network gets it from a
``sitecustomize`` the test puts on the script's ``PYTHONPATH`` (the script stays as it is): it answers
that one URL with ``SHIPYARD_MLFLOW_WINE_CSV`` (the real file, if you have it) or else with a
generated table of the same columns, which is all the example needs to train and log.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from shipyard import Client
from tests.server.mlflow._venv import mlflow_python
from tests.server.test_cli_server import ServerProcess

pytestmark = pytest.mark.integration

_EXAMPLES = os.environ.get("SHIPYARD_MLFLOW_EXAMPLES")
_WINE_COLUMNS = ["fixed acidity", "volatile acidity", "citric acid", "residual sugar", "chlorides",
                 "free sulfur dioxide", "total sulfur dioxide", "density", "pH", "sulphates", "alcohol", "quality"]
_SITECUSTOMIZE = '''
import email.message, io, os, urllib.request, urllib.response
_real = urllib.request.urlopen
def _urlopen(url, *args, **kwargs):
    target = getattr(url, "full_url", url)
    if isinstance(target, str) and target.endswith("/winequality-red.csv"):
        with open(os.environ["SHIPYARD_TEST_WINE_CSV"], "rb") as fh:
            return urllib.response.addinfourl(io.BytesIO(fh.read()), email.message.Message(), target, 200)
    return _real(url, *args, **kwargs)
urllib.request.urlopen = _urlopen
'''


def _wine_csv(folder: Path) -> Path:
    given = os.environ.get("SHIPYARD_MLFLOW_WINE_CSV")
    if given:
        return Path(given)
    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, len(_WINE_COLUMNS) - 1)).round(3)
    quality = np.clip(np.round(5.6 + features[:, :3].sum(axis=1) / 2), 3, 9).astype(int)
    lines = [";".join(f'"{c}"' for c in _WINE_COLUMNS)]
    lines += [";".join([*map(str, row), str(q)]) for row, q in zip(features, quality, strict=True)]
    path = folder / "winequality-red.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.skipif(not _EXAMPLES, reason="set SHIPYARD_MLFLOW_EXAMPLES to MLflow's examples/ folder to run them")
def test_mlflow_examples_run_unmodified_against_shipyard_server(shipyard_home: Path, tmp_path: Path) -> None:
    examples = Path(str(_EXAMPLES))
    python = mlflow_python()
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    shipyard_home.mkdir(parents=True, exist_ok=True)
    server = ServerProcess(shipyard_home)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "SHIPYARD_"))}
    env.update(MLFLOW_TRACKING_URI=server.url, MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", GIT_PYTHON_REFRESH="quiet",
               PYTHONPATH=str(hooks), SHIPYARD_TEST_WINE_CSV=str(_wine_csv(tmp_path)))
    try:
        for example in ("sklearn_elasticnet_wine", "sklearn_logistic_regression", "pyfunc"):
            done = subprocess.run([str(python), "train.py"], cwd=examples / example, env=env, capture_output=True,
                                  text=True, timeout=280)
            assert done.returncode == 0, (example, done.stdout[-2000:], done.stderr[-6000:])
        client = Client(server.url)
        runs = {r.info.run_name: r for r in client.search_runs(
            [client.get_experiment_by_name("Default").experiment_id], max_results=100)}
        # the wine example: params, metrics, its model registered as version 1 of ElasticnetWineModel
        [wine] = [r for r in runs.values() if "alpha" in r.data.params]
        assert wine.data.params == {"alpha": "0.5", "l1_ratio": "0.5"} and set(wine.data.metrics) == {"rmse", "r2",
                                                                                                       "mae"}
        version = client.get_model_version("ElasticnetWineModel", 1)
        assert version.source == f"runs:/{wine.info.run_id}/model" and version.run_id == wine.info.run_id
        # the logistic regression example: its metric and its model's files among the run's artifacts
        [logistic] = [r for r in runs.values() if "score" in r.data.metrics]
        assert {f.path for f in client.list_artifacts(logistic.info.run_id, "model")} >= {"model/MLmodel",
                                                                                          "model/input_example.json"}
        # the pyfunc example: a nested run logging a python model whose artifact is the parent's model
        parent, child = runs["test_pyfunc"], runs["test_custom_model"]
        assert child.info.parent_run_id == parent.info.run_id
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert "artifacts/MLmodel" in {f.path for f in client.list_artifacts(child.info.run_id, "artifacts")}
        assert "model/MLmodel" in {f.path for f in client.list_artifacts(parent.info.run_id, "model")}
    finally:
        assert server.stop() == 0
