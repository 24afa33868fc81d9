"""A model directory MLflow wrote (``MLmodel``) is registered, loaded and served by shipyard, without MLflow.

The directories are laid out here as MLflow 3.17 writes them (the ``MLmodel`` text is MLflow's, the
custom model pickled by cloudpickle against a stand-in of ``mlflow.pyfunc.model.PythonModel``, as
MLflow's pickles reference it). With ``SHIPYARD_MLFLOW_PYTHON`` naming a Python that has MLflow
installed, one more test has real MLflow write them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pandas as pd
import pytest

import shipyard
from shipyard.errors import IntegrityCheckFailed

SKLEARN_MLMODEL = """\
flavors:
  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    predict_fn: predict
    python_version: 3.11.7
  sklearn:
    code: null
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: 1.9.1
mlflow_version: 3.17.2
model_size_bytes: 1000
model_uuid: 5dc23646e6504dabb1045f29494a51ac
signature:
  inputs: '[{"type": "double", "name": "a", "required": true}, {"type": "double", "name": "b", "required": true}]'
  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]'
  params: null
utc_time_created: '2026-12-07 05:42:47.514343'
"""

PYFUNC_MLMODEL = """\
flavors:
  python_function:
    artifacts:
      n:
        path: artifacts/n.txt
        uri: n.txt
    cloudpickle_version: 3.1.3
    code: null
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.pyfunc.model
    python_model: python_model.pkl
    python_version: 3.11.7
    streamable: false
mlflow_version: 3.17.2
utc_time_created: '2026-12-07 05:43:16.440697'
"""

X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})


def _env_files(path: Path) -> None:
    (path / "requirements.txt").write_text("mlflow==3.17.2\nscikit-learn==1.9.1\n")
    (path / "conda.yaml").write_text("dependencies: [python=3.11.7]\n")
    (path / "python_env.yaml").write_text("python: 3.11.7\n")


def sklearn_dir(path: Path) -> Any:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(X, [0, 0, 1, 1])
    path.mkdir()
    (path / "MLmodel").write_text(SKLEARN_MLMODEL)
    (path / "model.pkl").write_bytes(cloudpickle.dumps(model))
    _env_files(path)
    return model


def pyfunc_dir(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A custom model pickled the way MLflow pickles one: its class by value, MLflow's base class and
    the type-hint holder MLflow 3 attaches by reference to MLflow's modules."""
    base = types.ModuleType("mlflow.pyfunc.model")
    hints = types.ModuleType("mlflow.models.signature")
    base.PythonModel = type("PythonModel", (), {"__module__": "mlflow.pyfunc.model"})  # type: ignore[attr-defined]
    hints._TypeHints = type("_TypeHints", (), {"__module__": "mlflow.models.signature"})  # type: ignore[attr-defined]
    with monkeypatch.context() as patch:
        for name, module in (("mlflow", types.ModuleType("mlflow")), ("mlflow.pyfunc", types.ModuleType("x")),
                             ("mlflow.models", types.ModuleType("y")), ("mlflow.pyfunc.model", base),
                             ("mlflow.models.signature", hints)):
            patch.setitem(sys.modules, name, module)

        def load_context(self, context):  # type: ignore[no-untyped-def]
            self.n = float(Path(context.artifacts["n"]).read_text())

        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            return model_input["a"] + self.n + (params or {}).get("extra", 0)

        add = type("Add", (base.PythonModel,), {"load_context": load_context, "predict": predict,  # type: ignore[attr-defined]
                                                "__module__": "__main__"})
        instance = add()
        instance._predict_type_hints = hints._TypeHints()  # type: ignore[attr-defined]
        data = cloudpickle.dumps(instance)
    assert "mlflow" not in sys.modules or sys.modules["mlflow"].__file__  # the stand-ins are gone again
    path.mkdir()
    (path / "MLmodel").write_text(PYFUNC_MLMODEL)
    (path / "python_model.pkl").write_bytes(data)
    (path / "artifacts").mkdir()
    (path / "artifacts" / "n.txt").write_text("10")
    _env_files(path)


def test_an_mlflow_sklearn_model_registers_loads_and_is_checked(tmp_path: Path) -> None:
    model = sklearn_dir(tmp_path / "sk")
    loaded = shipyard.pyfunc.load_model(str(tmp_path / "sk"))
    assert loaded.flavor == "sklearn" and loaded.signature.input_names == ["a", "b"]  # type: ignore[union-attr]
    assert loaded.predict(X).tolist() == model.predict(X).tolist()
    assert type(shipyard.sklearn.load_model(str(tmp_path / "sk"))).__name__ == "LogisticRegression"

    version = shipyard.register_model(str(tmp_path / "sk"), "mlflow-made")
    assert version.digest  # the hash over every file, recorded at registration
    assert shipyard.load_model("models:/mlflow-made/1").predict(X).tolist() == model.predict(X).tolist()
    with open(tmp_path / "sk" / "model.pkl", "ab") as fh:  # the writer swaps the model afterwards
        fh.write(b"\x00")
    with pytest.raises(IntegrityCheckFailed, match="modified"):
        shipyard.load_model("models:/mlflow-made/1")


def test_an_mlflow_custom_model_gets_its_context_artifacts_and_params(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    pyfunc_dir(tmp_path / "pf", monkeypatch)
    model = shipyard.pyfunc.load_model(str(tmp_path / "pf"))
    assert model.predict(pd.DataFrame({"a": [1.0, 2.0]})).tolist() == [11.0, 12.0]
    assert model.predict(pd.DataFrame({"a": [1.0]}), params={"extra": 5}).tolist() == [16.0]


@pytest.mark.anyio
async def test_an_mlflow_model_is_served(tmp_path: Path) -> None:
    import httpx

    from shipyard.serving.app import create_app
    from shipyard.serving.settings import ServingSettings

    model = sklearn_dir(tmp_path / "sk")
    client = shipyard.Client()
    version = client.register_model(str(tmp_path / "sk"), "mlflow-made")
    client.create_deployment("mlflow-api", routes=[{"model": "mlflow-made", "version": version.version}])
    app = create_app(client.store, deployments=["mlflow-api"], settings=ServingSettings(poll_interval_s=None))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            body = {"columns": {"a": X.a.tolist(), "b": X.b.tolist()}}
            response = await http.post("/v1/deployments/mlflow-api/predict", json=body)
    finally:
        app.close()
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == model.predict(X).tolist()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


MLFLOW_PYTHON = os.environ.get("SHIPYARD_MLFLOW_PYTHON")


@pytest.mark.skipif(not MLFLOW_PYTHON, reason="set SHIPYARD_MLFLOW_PYTHON to a Python with mlflow installed")
def test_directories_real_mlflow_wrote(tmp_path: Path) -> None:
    script = """
import sys, mlflow, pandas as pd
from sklearn.linear_model import LogisticRegression
X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
mlflow.sklearn.save_model(LogisticRegression().fit(X, [0, 0, 1, 1]), "sk", serialization_format="cloudpickle")
class Add(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        with open(context.artifacts["n"]) as fh:
            self.n = float(fh.read())
    def predict(self, context, model_input, params=None):
        return model_input["a"] + self.n + (params or {}).get("extra", 0)
with open("n.txt", "w") as fh:
    fh.write("10")
mlflow.pyfunc.save_model("pf", python_model=Add(), artifacts={"n": "n.txt"})
"""
    subprocess.run([MLFLOW_PYTHON or "", "-c", script], cwd=tmp_path, check=True, capture_output=True, timeout=300)
    assert shipyard.pyfunc.load_model(str(tmp_path / "sk")).predict(X).tolist() == [0, 0, 1, 1]
    custom = shipyard.pyfunc.load_model(str(tmp_path / "pf"))
    assert custom.predict(pd.DataFrame({"a": [1.0]}), params={"extra": 5}).tolist() == [16.0]
    assert np.isfinite(shipyard.register_model(str(tmp_path / "pf"), "custom").version)
