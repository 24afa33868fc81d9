"""Save -> load round trips per flavor: the loaded model predicts what the original predicts."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest
import yaml

from shipyard.models import (
    PythonModel,
    load_local_model,
    load_native,
    read_manifest,
    save_model,
)


def test_sklearn_pipeline_on_dataframe(tmp_path, rainfall_frame):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = rainfall_frame
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    manifest = save_model(tmp_path / "m", pipe, input_example=X.head(5), metadata={"team": "weather"})

    assert manifest.flavor == "sklearn"
    assert manifest.model_class == "sklearn.pipeline.Pipeline"
    assert "scikit-learn" in manifest.libraries and "numpy" in manifest.libraries
    assert f"scikit-learn=={manifest.libraries['scikit-learn']}" in manifest.pip_requirements
    assert manifest.signature.input_names == list(X.columns)
    assert manifest.signature.outputs.type == "int64"
    assert sorted(manifest.files) == ["input_example.json", "model.pkl"]

    model = load_local_model(tmp_path / "m")
    assert model.flavor == "sklearn" and model.input_mode == "array"  # names checked, then a column-ordered array
    assert model.manifest.metadata == {"team": "weather"}
    assert model.manifest.digest == manifest.digest
    np.testing.assert_array_equal(model.predict(X), pipe.predict(X))
    np.testing.assert_allclose(model.predict_proba(X.head(50)), pipe.predict_proba(X.head(50)))
    # the same rows as records, as a dict of lists and as a positional array
    head = X.head(3)
    expected = pipe.predict(head)
    np.testing.assert_array_equal(model.predict(head.to_dict("records")), expected)
    np.testing.assert_array_equal(model.predict(head.to_dict("list")), expected)
    np.testing.assert_array_equal(model.predict(head.to_numpy()), expected)
    np.testing.assert_array_equal(model.predict(model.input_example), pipe.predict(X.head(5)))
    assert type(load_native(tmp_path / "m")).__name__ == "Pipeline"


def test_manifest_file_is_plain_yaml(tmp_path, rainfall_arrays):
    from sklearn.linear_model import LogisticRegression

    X, y = rainfall_arrays
    save_model(tmp_path / "m", LogisticRegression().fit(X, y), input_example=X[:2])
    doc = yaml.safe_load((tmp_path / "m" / "MLmodel.yaml").read_text())
    assert doc["format_version"] == 1 and doc["flavor"] == "sklearn"
    assert doc["python_version"].count(".") == 2
    assert isinstance(doc["created_at_ms"], int) and doc["created_at_ms"] > 1_600_000_000_000
    assert doc["input_example"] == "input_example.json"
    assert list(doc["files"]) == sorted(doc["files"])
    assert all(len(h) == 64 for h in doc["files"].values())
    assert doc["signature"]["inputs"][0] == {"name": "f0", "type": "float64"}
    again = read_manifest(tmp_path / "m")
    assert again.to_dict() == doc


def test_random_forest_on_arrays_takes_the_numpy_path(tmp_path, rainfall_arrays):
    from sklearn.ensemble import RandomForestClassifier

    X, y = rainfall_arrays
    rf = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    save_model(tmp_path / "rf", rf, input_example=X[:3])
    model = load_local_model(tmp_path / "rf")
    assert model.input_mode == "array"  # no DataFrame built per request
    np.testing.assert_array_equal(model.predict(X), rf.predict(X))
    np.testing.assert_allclose(model.predict_proba(X[:10]), rf.predict_proba(X[:10]))
    one = {f"f{i}": float(v) for i, v in enumerate(X[0])}
    np.testing.assert_array_equal(model.predict([one]), rf.predict(X[:1]))
    np.testing.assert_array_equal(model.predict(one), rf.predict(X[:1]))  # dict of scalars: one row


def test_xgboost_booster_and_wrapper(tmp_path, rainfall_frame, rainfall_arrays):
    xgb = pytest.importorskip("xgboost")
    X, y = rainfall_frame
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3}, xgb.DMatrix(X, label=y), 10)
    manifest = save_model(tmp_path / "booster", booster, input_example=X.head(3))
    assert (manifest.flavor, manifest.model_file, manifest.serialization) == ("xgboost", "model.ubj", "xgboost-ubj")
    assert "xgboost" in manifest.libraries or "xgboost-cpu" in manifest.libraries
    loaded = load_local_model(tmp_path / "booster")
    np.testing.assert_allclose(loaded.predict(X), booster.predict(xgb.DMatrix(X)), rtol=1e-6)
    assert not loaded.has_predict_proba
    assert isinstance(load_native(tmp_path / "booster"), xgb.Booster)

    Xa, ya = rainfall_arrays
    clf = xgb.XGBClassifier(n_estimators=10, max_depth=3).fit(Xa, ya)
    save_model(tmp_path / "clf", clf, input_example=Xa[:3])
    loaded = load_local_model(tmp_path / "clf")
    assert type(loaded.raw_model) is xgb.XGBClassifier
    np.testing.assert_array_equal(loaded.predict(Xa), clf.predict(Xa))
    np.testing.assert_allclose(loaded.predict_proba(Xa[:20]), clf.predict_proba(Xa[:20]), rtol=1e-6)


def test_lightgbm_booster_and_wrapper(tmp_path, rainfall_frame, rainfall_arrays):
    lgb = pytest.importorskip("lightgbm")
    Xa, ya = rainfall_arrays
    booster = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(Xa, label=ya), num_boost_round=10)
    manifest = save_model(tmp_path / "booster", booster, input_example=Xa[:3])
    assert (manifest.flavor, manifest.model_file) == ("lightgbm", "model.txt")
    loaded = load_local_model(tmp_path / "booster")
    np.testing.assert_allclose(loaded.predict(Xa), booster.predict(Xa))

    X, y = rainfall_frame
    X = X.rename(columns=lambda c: c.replace(" ", "_").replace("-", "_"))
    clf = lgb.LGBMClassifier(n_estimators=10, verbose=-1).fit(X, y)
    save_model(tmp_path / "clf", clf, input_example=X.head(3))
    loaded = load_local_model(tmp_path / "clf")
    assert loaded.flavor == "lightgbm" and loaded.input_mode == "frame"
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X.head(5).to_dict("records")), clf.predict_proba(X.head(5)))


class RainChance(PythonModel):
    """Pre-processing (unit conversion, clipping), a model, post-processing (labels)."""

    def __init__(self, model, features):
        self.model = model
        self.features = features

    def load_context(self, context):
        self.loaded_from = context.model_dir

    def predict(self, model_input):
        X = model_input[self.features].clip(-5, 5).to_numpy()
        p = self.model.predict_proba(X)[:, 1]
        return np.where(p > 0.5, "rain", "dry")


class Ensemble:
    """Not a PythonModel, just an object with predict(): averages two classifiers."""

    def __init__(self, *models):
        self.models = models

    def predict(self, X):
        return np.mean([m.predict_proba(X)[:, 1] for m in self.models], axis=0)


def test_pyfunc_with_pre_and_post_processing(tmp_path, rainfall_frame):
    from sklearn.linear_model import LogisticRegression

    X, y = rainfall_frame
    lr = LogisticRegression().fit(X.clip(-5, 5).to_numpy(), y)
    custom = RainChance(lr, list(X.columns))
    manifest = save_model(tmp_path / "m", custom, input_example=X.head(3))
    assert manifest.flavor == "pyfunc"
    assert manifest.signature.outputs.type == "string"
    assert "shipyard" in manifest.libraries and "scikit-learn" in manifest.libraries
    model = load_local_model(tmp_path / "m")
    assert model.raw_model.loaded_from == tmp_path / "m"
    assert list(model.predict(X.head(100))) == list(custom.predict(X.head(100)))


def test_pyfunc_ensemble_of_two_sklearn_models(tmp_path, rainfall_arrays):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    X, y = rainfall_arrays
    ens = Ensemble(LogisticRegression().fit(X, y), RandomForestClassifier(10, random_state=0).fit(X, y))
    manifest = save_model(tmp_path / "m", ens, input_example=X[:3])
    assert manifest.flavor == "pyfunc" and "scikit-learn" in manifest.libraries
    model = load_local_model(tmp_path / "m")
    assert model.input_mode == "array"
    np.testing.assert_allclose(model.predict(X), ens.predict(X))
    assert not model.has_predict_proba


def test_code_paths_travel_with_the_model(tmp_path, monkeypatch, rainfall_arrays):
    src = tmp_path / "src"
    src.mkdir()
    (src / "weather_rules.py").write_text(
        textwrap.dedent(
            """
            import numpy as np

            class DewRule:
                def predict(self, X):
                    return (np.asarray(X)[:, 1] > 0).astype(np.int64)
            """
        )
    )
    monkeypatch.syspath_prepend(str(src))
    import weather_rules

    X, _ = rainfall_arrays
    save_model(tmp_path / "m", weather_rules.DewRule(), input_example=X[:2], code_paths=[src / "weather_rules.py"])
    # a fresh process would not have the module: take it away, the model must bring its own
    monkeypatch.delitem(sys.modules, "weather_rules")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(src)])
    for _ in range(2):  # loading writes no __pycache__ into the verified directory
        model = load_local_model(tmp_path / "m")
        np.testing.assert_array_equal(model.predict(X[:50]), (X[:50, 1] > 0).astype(np.int64))
    assert model.manifest.code_paths == ["code/weather_rules.py"]
    monkeypatch.delitem(sys.modules, "weather_rules")
