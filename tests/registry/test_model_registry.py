"""Logging, registering, aliasing and loading models by URI, on real data, with integrity checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

import shipyard
from shipyard.datasets import RAINFALL_FEATURES, load_rainfall
from shipyard.errors import IntegrityCheckFailed, InvalidInput, NotFound


@pytest.fixture(scope="module")
def rain():
    from sklearn.linear_model import LogisticRegression

    data = load_rainfall(as_frame=True)
    X, y = data[RAINFALL_FEATURES].iloc[:3000], data["rain"].iloc[:3000]
    return X, y, LogisticRegression(max_iter=500).fit(X, y)


def test_log_register_alias_load(rain) -> None:
    X, y, model = rain
    shipyard.set_experiment("rain")
    with shipyard.start_run() as run:
        shipyard.log_param("C", 1.0)
        shipyard.log_input(X, name="train", targets=y)
        info = shipyard.sklearn.log_model(model, "model", input_example=X.iloc[:5], training_data=X,
                                          registered_model_name="rain")
    assert info.model_uri == f"runs:/{run.info.run_id}/model" and info.registered_model_version == 1
    client = shipyard.Client()
    v2 = shipyard.register_model(info.model_uri, "rain")
    assert v2.version == 2 and v2.run_id == run.info.run_id
    client.set_registered_model_alias("rain", "champion", 1)
    client.set_registered_model_alias("rain", "challenger", 2)
    expected = model.predict(X.iloc[:20])
    for uri in (info.model_uri, "models:/rain/1", "models:/rain@champion", "models:/rain@challenger",
                "models:/rain/latest"):
        assert np.array_equal(shipyard.load_model(uri).predict(X.iloc[:20]), expected), uri
    native = shipyard.sklearn.load_model("models:/rain@champion")
    assert type(native).__name__ == "LogisticRegression"
    assert client.get_model_version_by_alias("rain", "champion").version == 1
    lineage = client.get_model_version_lineage("rain", 1)
    assert lineage["run"]["params"] == {"C": "1.0"} and lineage["run"]["datasets"][0]["num_rows"] == 3000
    profile = shipyard.models.load_reference_profile(Path(shipyard.Client().get_run(run.info.run_id)
                                                          .info.artifact_uri) / "model")
    assert profile is not None and "dew point" in str(profile)


def test_predict_names_the_missing_column(rain) -> None:
    X, _, model = rain
    with shipyard.start_run():
        info = shipyard.sklearn.log_model(model, "model", input_example=X.iloc[:5])
    loaded = shipyard.load_model(info.model_uri)
    with pytest.raises(InvalidInput, match="dew point"):
        loaded.predict(X.drop(columns=["dew point"]).iloc[:3])


@pytest.mark.parametrize("uri", ["", "runs:/", "runs:/abc", "models:/", "models:/x@", "model:/x/1", "ftp:x",
                                 "runs:/" + "a" * 32 + "/../../etc"])
def test_bad_model_uris_are_refused(uri: str) -> None:
    with pytest.raises((InvalidInput, NotFound)):
        shipyard.load_model(uri)


def test_missing_models_are_not_found(rain) -> None:
    with pytest.raises(NotFound):
        shipyard.load_model("models:/nope/1")
    with pytest.raises(NotFound):
        shipyard.load_model("runs:/" + "f" * 32 + "/model")
    with shipyard.start_run() as run:
        shipyard.log_text("x", "notes.txt")
    with pytest.raises(NotFound, match="MLmodel"):
        shipyard.register_model(f"runs:/{run.info.run_id}/model", "ghost")
    with pytest.raises(NotFound):
        shipyard.Client().get_registered_model("ghost")  # nothing was registered


def _model_dir(uri: str) -> Path:
    run_id = uri.split("/")[1]
    return Path(shipyard.Client().get_run(run_id).info.artifact_uri) / "model"


def test_a_tampered_model_file_refuses_to_load(rain) -> None:
    model = rain[2]
    with shipyard.start_run():
        info = shipyard.sklearn.log_model(model, "model", registered_model_name="tamper")
    folder = _model_dir(info.model_uri)
    manifest = yaml.safe_load((folder / "MLmodel.yaml").read_text())
    model_file = folder / next(iter(manifest["files"]))
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_file.write_bytes(bytes(data))
    for uri in (info.model_uri, "models:/tamper/1", str(folder)):
        with pytest.raises(IntegrityCheckFailed):
            shipyard.load_model(uri)


def test_rewriting_the_hashes_too_is_caught_through_the_registry(rain) -> None:
    model = rain[2]
    with shipyard.start_run():
        info = shipyard.sklearn.log_model(model, "model", registered_model_name="swap")
    folder = _model_dir(info.model_uri)
    text = (folder / "MLmodel.yaml").read_text()
    (folder / "MLmodel.yaml").write_text(text + "\n# edited\n")  # any change to the manifest itself
    with pytest.raises(IntegrityCheckFailed, match="modified"):
        shipyard.load_model("models:/swap/1")
    with pytest.raises(IntegrityCheckFailed, match="modified"):
        shipyard.load_model(info.model_uri)


def test_log_model_refuses_an_escaping_artifact_path(rain, tmp_path: Path) -> None:
    _, _, model = rain
    with shipyard.start_run(), pytest.raises(InvalidInput):
        shipyard.sklearn.log_model(model, "../../outside")
    assert not any(tmp_path.parent.glob("**/outside/MLmodel.yaml"))


def test_pyfunc_model_round_trip() -> None:
    class Doubler(shipyard.pyfunc.PythonModel):
        def predict(self, model_input):
            return np.asarray(model_input["x"], dtype=float) * 2

    with shipyard.start_run():
        info = shipyard.pyfunc.log_model("model", python_model=Doubler(),
                                         input_example={"x": [1.0, 2.0]}, registered_model_name="dbl")
    loaded = shipyard.pyfunc.load_model("models:/dbl/1")
    assert loaded.predict({"x": [3.0, 4.0]}).tolist() == [6.0, 8.0]
    assert info.flavor == "pyfunc"
