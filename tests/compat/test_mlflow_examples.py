"""MLflow's own example scripts run under shipyard with only the import renamed.

The scripts are not in this repository (nothing fetched from a public repository is committed, and CI
cannot reach GitHub). Fetch them from github.com/mlflow/mlflow (``examples/``) into a folder and point
``SHIPYARD_MLFLOW_EXAMPLES`` at it, keeping MLflow's layout::

    $SHIPYARD_MLFLOW_EXAMPLES/sklearn_elasticnet_wine/train.py
    $SHIPYARD_MLFLOW_EXAMPLES/sklearn_logistic_regression/train.py
    $SHIPYARD_MLFLOW_EXAMPLES/pyfunc/train.py (with custom_code.py beside it)

The test copies each folder, rewrites ``import mlflow`` / ``from mlflow... import`` to shipyard on the
copy (nothing else), runs it in a fresh process and checks what it logged. The wine example downloads
its CSV from GitHub: a ``sitecustomize`` on the child's path answers that one URL with a local file of
the same columns, so the script runs as written without the network.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = os.environ.get("SHIPYARD_MLFLOW_EXAMPLES")
SRC = Path(__file__).resolve().parents[2] / "src"
WINE_URL = "https://raw.githubusercontent.com/mlflow/mlflow/master/tests/datasets/winequality-red.csv"
WINE_COLUMNS = ["fixed acidity", "volatile acidity", "citric acid", "residual sugar", "chlorides",
                "free sulfur dioxide", "total sulfur dioxide", "density", "pH", "sulphates", "alcohol", "quality"]

needs_examples = pytest.mark.skipif(not EXAMPLES, reason="set SHIPYARD_MLFLOW_EXAMPLES to a folder holding MLflow's "
                                "examples (sklearn_elasticnet_wine, sklearn_logistic_regression, pyfunc)")

_SITECUSTOMIZE = '''
import io, os, urllib.request, urllib.response
from email.message import Message


class _LocalWine(urllib.request.BaseHandler):
    handler_order = 100  # before the real HTTPS handler

    def https_open(self, req):
        # MLflow's versions of the example read the file from GitHub or from the UCI archive
        if not req.full_url.endswith("/winequality-red.csv"):
            return None
        with open(os.environ["WINE_CSV"], "rb") as fh:
            body = fh.read()
        response = urllib.response.addinfourl(io.BytesIO(body), Message(), req.full_url, 200)
        response.msg = "OK"
        return response

    http_open = https_open


urllib.request.install_opener(urllib.request.build_opener(_LocalWine()))
'''


def renamed(source: str) -> str:
    """The script with ``mlflow`` imports pointing at shipyard, and nothing else changed."""
    def plain(m: re.Match[str]) -> str:
        indent, sub = m.group(1), m.group(2) or ""
        return f"{indent}import shipyard as mlflow" + (f"; import shipyard{sub}" if sub else "")

    source = re.sub(r"^(\s*)import mlflow((?:\.\w+)*)\s*$", plain, source, flags=re.MULTILINE)
    return re.sub(r"^(\s*)from mlflow((?:\.\w+)*) import", r"\1from shipyard\2 import", source, flags=re.MULTILINE)


def _wine_csv(path: Path) -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(400, len(WINE_COLUMNS) - 1)) + 5
    quality = np.clip(np.round(5 + 0.4 * x[:, 10] - 0.3 * x[:, 1] + rng.normal(0, 0.5, 400) - 1.5), 3, 9)
    lines = [";".join(f'"{c}"' for c in WINE_COLUMNS)]
    lines += [";".join([*(f"{v:.4f}" for v in row), str(int(q))]) for row, q in zip(x, quality, strict=True)]
    path.write_text("\n".join(lines) + "\n")


def _run(name: str, tmp_path: Path, home: Path) -> subprocess.CompletedProcess[str]:
    src = Path(EXAMPLES or "") / name
    if not (src / "train.py").is_file():
        pytest.fail(f"{src / 'train.py'} is missing: SHIPYARD_MLFLOW_EXAMPLES must hold MLflow's examples folder")
    work = tmp_path / name
    shutil.copytree(src, work)
    script = work / "train.py"
    script.write_text(renamed(script.read_text()))
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    _wine_csv(tmp_path / "wine.csv")
    env = {**os.environ, "SHIPYARD_HOME": str(home), "WINE_URL": WINE_URL, "WINE_CSV": str(tmp_path / "wine.csv"),
           "PYTHONPATH": os.pathsep.join([str(site), str(SRC)])}
    done = subprocess.run([sys.executable, "train.py"], cwd=work, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
    return done


def _client(home: Path):  # type: ignore[no-untyped-def]
    import shipyard

    return shipyard.Client(f"sqlite:///{home / 'shipyard.db'}", artifact_uri=str(home / "artifacts"))


def test_renaming_rewrites_only_the_imports() -> None:
    text = "import mlflow\nimport mlflow.sklearn\nfrom mlflow.models import infer_signature\nx = 'mlflow'\n"
    assert renamed(text) == ("import shipyard as mlflow\nimport shipyard as mlflow; import shipyard.sklearn\n"
                             "from shipyard.models import infer_signature\nx = 'mlflow'\n")


@needs_examples
def test_sklearn_elasticnet_wine(tmp_path: Path) -> None:
    home = tmp_path / "home"
    out = _run("sklearn_elasticnet_wine", tmp_path, home)
    assert "RMSE" in out.stdout
    client = _client(home)
    [run] = client.search_runs(client.get_experiment_by_name("Default").experiment_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"alpha": "0.5", "l1_ratio": "0.5"}
    assert set(run.data.metrics) == {"rmse", "r2", "mae"}
    assert run.data.tags["mlflow.source.name"] == "train.py" and run.data.tags["mlflow.runName"] == run.info.run_name
    version = client.get_model_version("ElasticnetWineModel", 1)
    assert version.run_id == run.info.run_id
    model = client.load_model("models:/ElasticnetWineModel/1")
    assert model.predict({c: [5.0] for c in WINE_COLUMNS[:-1]}).shape == (1,)


@needs_examples
def test_sklearn_logistic_regression(tmp_path: Path) -> None:
    home = tmp_path / "home"
    out = _run("sklearn_logistic_regression", tmp_path, home)
    run_id = re.search(r"Model saved in run (\w+)", out.stdout).group(1)  # type: ignore[union-attr]
    client = _client(home)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and 0 < run.data.metrics["score"] <= 1
    model = client.load_model(f"runs:/{run_id}/model")
    assert model.signature is not None and model.input_example is not None
    assert model.predict(np.array([[-2.0], [2.0]])).tolist() == [0, 1]


@needs_examples
def test_pyfunc(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _run("pyfunc", tmp_path, home)
    client = _client(home)
    experiment = client.get_experiment_by_name("Default").experiment_id
    parent = client.search_runs(experiment, "attributes.run_name = 'test_pyfunc'")[0]
    [child] = client.search_runs(experiment, f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert child.info.run_name == "test_custom_model"
    model = client.load_model(f"runs:/{child.info.run_id}/artifacts")
    from sklearn.datasets import load_iris

    x, _ = load_iris(return_X_y=True, as_frame=True)
    # the example's iris_classes() names the class of the first row (its code came with the model)
    assert model.predict(x.head(1)).tolist() == "setosa"
