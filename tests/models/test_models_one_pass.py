"""``PyFuncModel.predict_with_proba``: a LogisticRegression answers both outputs from one decision
pass, with the very bytes of ``predict`` and ``predict_proba`` called apart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shipyard.models import load_local_model, save_model


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("labels", ["int", "str"])
@pytest.mark.parametrize("fitted_on", ["array", "frame"])
def test_one_pass_matches_two_calls(tmp_path, classes, labels, fitted_on):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 6))
    y = np.digitize(X[:, 0] + X[:, 1], np.quantile(X[:, 0] + X[:, 1], np.linspace(0, 1, classes + 1)[1:-1]))
    if labels == "str":
        y = np.array(["a", "b", "c"])[y]
    data = pd.DataFrame(X, columns=[f"c{i}" for i in range(6)]) if fitted_on == "frame" else X
    model = LogisticRegression(max_iter=500).fit(data, y)
    save_model(tmp_path / "m", model, training_data=data)
    loaded = load_local_model(tmp_path / "m")
    batch = {f"c{i}": rng.normal(size=64).tolist() for i in range(6)} if fitted_on == "frame" \
        else rng.normal(size=(64, 6))
    for _ in range(2):  # the first call compares with the two calls, the second takes the one pass alone
        preds, proba = loaded.predict_with_proba(batch)
        _same(preds, loaded.predict(batch))
        _same(proba, loaded.predict_proba(batch))
    assert loaded._one_pass_ok is True


def test_other_models_call_both(tmp_path):
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(6)
    X = rng.normal(size=(200, 4))
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, X[:, 0] > 0)
    save_model(tmp_path / "rf", model, training_data=X)
    loaded = load_local_model(tmp_path / "rf")
    preds, proba = loaded.predict_with_proba(X[:10])
    _same(preds, loaded.predict(X[:10]))
    _same(proba, loaded.predict_proba(X[:10]))
    assert loaded._one_pass_ok is None


@pytest.mark.parametrize("classes", [2, 3])
# (a DataFrame-fitted pipeline whose first step is "passthrough" is served arrays, as before this
# route: its names are looked for on the first step, so scikit-learn warns; not this test's subject)
@pytest.mark.parametrize(("head", "fitted_on"), [("scaler", "array"), ("scaler", "frame"), ("passthrough", "array"),
                                                 ("none", "array"), ("none", "frame")])
def test_a_pipeline_ending_in_a_logistic_regression_runs_its_transforms_once(tmp_path, classes, fitted_on, head):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(8)
    X = rng.normal(size=(300, 5)) * np.array([1, 10, 0.1, 5, 2]) + 3
    y = np.digitize(X[:, 0], np.quantile(X[:, 0], np.linspace(0, 1, classes + 1)[1:-1]))
    data = pd.DataFrame(X, columns=[f"c{i}" for i in range(5)]) if fitted_on == "frame" else X
    steps = {"scaler": [("scale", StandardScaler())], "passthrough": [("skip", "passthrough")], "none": []}[head]
    model = Pipeline([*steps, ("lr", LogisticRegression(max_iter=500))]).fit(data, y)
    save_model(tmp_path / "m", model, training_data=data)
    loaded = load_local_model(tmp_path / "m")
    assert loaded._one_pass is not None
    batch = {f"c{i}": X[:64, i].tolist() for i in range(5)} if fitted_on == "frame" else X[:64]
    for _ in range(2):
        preds, proba = loaded.predict_with_proba(batch)
        _same(preds, model.predict(data[:64]))
        _same(proba, model.predict_proba(data[:64]))
    assert loaded._one_pass_ok is True
