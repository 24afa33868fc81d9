"""``shipyard.models._direct``: scikit-learn's formulas run without its per-call overhead answer
with scikit-learn's own bytes, and leave every input they were not written for to scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shipyard.models import load_local_model, save_model
from shipyard.models._direct import Verified, forest_route, scores


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _data(classes: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(600, 8)) * np.array([1, 3, 10, 0.1, 30, 1, 1, 1])
    score = X[:, 0] + X[:, 1] / 3
    return X, np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]))


@pytest.mark.parametrize("classes", [2, 3])
def test_a_checked_array_skips_logistic_validation_with_the_same_bytes(classes):
    """For a float64 array of finite values the scores come without scikit-learn's validation, and
    are still its bytes: compared with decision_function on every batch size a server sends."""
    from sklearn.linear_model import LogisticRegression

    X, y = _data(classes, seed=7)
    model = LogisticRegression(max_iter=2000).fit(X, y)
    for rows in (1, 2, 7, 64, 400):
        batch = X[:rows].copy()
        _same(scores(model, batch), model.decision_function(batch))
    inf = X[:3].copy()
    inf[1, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):  # left to scikit-learn, which refuses it
        scores(model, inf)
    _same(scores(model, X[:5].astype(np.float32)), model.decision_function(X[:5].astype(np.float32)))


@pytest.mark.parametrize("kind", ["RandomForestClassifier", "ExtraTreesClassifier"])
@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("labels", ["int", "str"])
def test_forest_classifiers_answer_scikit_learns_bytes(tmp_path, kind, classes, labels):
    import sklearn.ensemble

    X, y = _data(classes)
    if labels == "str":
        y = np.array(["low", "mid", "high"])[y]
    model = getattr(sklearn.ensemble, kind)(n_estimators=30, min_samples_leaf=3, random_state=0).fit(X, y)
    save_model(tmp_path / "m", model, input_example=X[:3])
    loaded = load_local_model(tmp_path / "m")
    assert isinstance(loaded._proba, Verified) and isinstance(loaded._predict, Verified)
    for rows in (1, 7, 64, 600):
        batch = X[:rows].copy()
        _same(loaded.predict_proba(batch), model.predict_proba(batch))
        _same(loaded.predict(batch), model.predict(batch))
    assert loaded._proba.ok is True and loaded._predict.ok is True  # the direct route answered


@pytest.mark.parametrize("kind", ["RandomForestRegressor", "ExtraTreesRegressor"])
def test_forest_regressors_answer_scikit_learns_bytes(tmp_path, kind):
    import sklearn.ensemble

    X, _ = _data(2)
    target = X[:, 0] * 2.5 + np.sin(X[:, 2])
    model = getattr(sklearn.ensemble, kind)(n_estimators=25, random_state=0).fit(X, target)
    save_model(tmp_path / "m", model, input_example=X[:3])
    loaded = load_local_model(tmp_path / "m")
    for rows in (1, 64, 600):
        _same(loaded.predict(X[:rows].copy()), model.predict(X[:rows]))
    assert loaded._predict.ok is True and loaded._proba is None


def test_a_dataframe_fitted_forest_takes_the_route_through_its_name_free_copy(tmp_path):
    from sklearn.ensemble import RandomForestClassifier

    X, y = _data(2)
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(8)])
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(frame, y)
    assert forest_route(model) is None  # knows its columns: an array would make it warn
    save_model(tmp_path / "m", model, training_data=frame)
    loaded = load_local_model(tmp_path / "m")
    assert loaded.input_mode == "array"
    records = frame.head(50).to_dict("records")
    _same(loaded.predict_proba(records), model.predict_proba(frame.head(50)))
    assert loaded._proba.ok is True


def test_inputs_the_route_was_not_written_for_go_to_scikit_learn():
    from sklearn.ensemble import RandomForestClassifier

    X, y = _data(2)
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
    route = forest_route(model)
    assert route is not None
    nan = X[:4].copy()
    nan[2, 1] = np.nan
    huge = X[:4].copy()
    huge[0, 0] = 1e300  # finite as float64, an infinity as the float32 a tree compares
    for data in (nan, huge, X[:0], X[:4].astype(np.float32), X[:4] > 0, X[:4, :7], pd.DataFrame(X[:4]),
                 X[:4].tolist()):
        assert route.predict_proba(data) is None and route.predict(data) is None
    proba = Verified(route.predict_proba, model.predict_proba, "forest")
    _same(proba(nan), model.predict_proba(nan))  # scikit-learn's own answer for a missing value
    with np.errstate(over="ignore"), pytest.raises(ValueError, match="too large"):  # scikit-learn's own cast warns
        proba(huge)
    proba(X[:2])  # verified: later calls take the route where it applies
    with pytest.raises(ValueError, match="minimum of 1"):  # an empty batch is still refused
        proba(X[:0])
    assert forest_route(RandomForestClassifier(n_estimators=3, n_jobs=2).fit(X, y)) is None
    assert forest_route(RandomForestClassifier(n_estimators=3)) is None  # not fitted


def test_a_route_that_answers_otherwise_is_dropped_for_good(caplog):
    calls = []

    def fallback(data):
        calls.append(len(data))
        return np.asarray(data, dtype=np.float64) * 2

    verified = Verified(lambda data: np.asarray(data, dtype=np.float64) * 2 + 1e-12, fallback, "toy")
    with caplog.at_level("WARNING"):
        _same(verified(np.ones(3)), np.full(3, 2.0))  # the first answer compared: scikit-learn's wins
    assert verified.ok is False and "does not reproduce" in caplog.text
    _same(verified(np.ones(5)), np.full(5, 2.0))
    assert calls == [3, 5]


def test_a_forest_at_the_end_of_a_pipeline_takes_the_route(tmp_path):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _data(3)
    model = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=20, random_state=0)).fit(X, y)
    save_model(tmp_path / "m", model, input_example=X[:3])
    loaded = load_local_model(tmp_path / "m")
    for rows in (1, 64):
        _same(loaded.predict_proba(X[:rows].copy()), model.predict_proba(X[:rows]))
        _same(loaded.predict(X[:rows].copy()), model.predict(X[:rows]))
    forest = loaded._proba.__self__.steps[-1][1]
    assert forest.predict_proba.ok is True and forest.predict.ok is True
    assert model.steps[-1][1].predict_proba.__self__ is model.steps[-1][1]  # the logged model is left as it was
    assert isinstance(loaded.raw_model.steps[-1][1].predict_proba.__self__, RandomForestClassifier)


def test_integer_columns_take_the_forest_route(tmp_path):
    """A model logged with a signature of integer columns is handed an int64 array; the trees
    compare its float32 values, as scikit-learn's validation makes them."""
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(9)
    frame = pd.DataFrame(rng.integers(0, 100, size=(400, 5)), columns=[f"n{i}" for i in range(5)])
    y = (frame["n0"] + frame["n1"] > 100).to_numpy()
    model = RandomForestClassifier(n_estimators=15, random_state=0).fit(frame, y)
    save_model(tmp_path / "m", model, training_data=frame)
    loaded = load_local_model(tmp_path / "m")
    records = frame.head(40).to_dict("records")
    _same(loaded.predict_proba(records), model.predict_proba(frame.head(40)))
    _same(loaded.predict(records), model.predict(frame.head(40)))
    assert loaded._proba.ok is True
