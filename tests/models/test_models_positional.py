"""A model fitted on a DataFrame takes the NumPy path however it was logged, and only where that is safe.

Warnings are errors in this suite, so every predict below also shows that scikit-learn never
complains about missing feature names on the array path.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shipyard.models import Signature, infer_signature, load_local_model, save_model


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(400, 5)), columns=["age", "income", "debt", "tenure", "score"])
    y = (X["income"] - X["debt"] + 0.3 * rng.normal(size=400) > 0).astype(int)
    return X, y


def _logged(tmp_path, model, X, how):
    kwargs = {"training": {"training_data": X},
              "example": {"input_example": X.head(3)},
              "signature": {"signature": infer_signature(X.head(3), model.predict(X.head(3)))}}[how]
    save_model(tmp_path / how, model, **kwargs)
    return load_local_model(tmp_path / how)


@pytest.mark.parametrize("how", ["training", "example", "signature"])
@pytest.mark.parametrize("kind", ["lr", "rf", "pipeline"])
def test_dataframe_fitted_model_serves_from_arrays(tmp_path, frame, how, kind):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = frame
    model = {"lr": lambda: LogisticRegression(),
             "rf": lambda: RandomForestClassifier(n_estimators=10, random_state=0),
             "pipeline": lambda: make_pipeline(StandardScaler(), LogisticRegression())}[kind]().fit(X, y)
    loaded = _logged(tmp_path, model, X, how)

    assert loaded.input_mode == "array"
    assert loaded.signature is not None and loaded.signature.input_names == list(X.columns)
    # the request's columns in any order, by name; the answer is the model's own on the DataFrame
    shuffled = X[["score", "debt", "age", "tenure", "income"]].head(50)
    np.testing.assert_array_equal(loaded.predict(shuffled.to_dict("records")), model.predict(X.head(50)))
    np.testing.assert_allclose(loaded.predict_proba(shuffled), model.predict_proba(X.head(50)), rtol=1e-12)
    assert list(loaded.raw_model.feature_names_in_) == list(X.columns)  # the user's model is untouched


def test_columns_selected_by_name_keep_the_dataframe(tmp_path, frame):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = frame
    pre = ColumnTransformer([("scaled", StandardScaler(), ["income", "debt"])], remainder="drop")
    model = make_pipeline(pre, LogisticRegression()).fit(X, y)
    loaded = _logged(tmp_path, model, X, "training")
    assert loaded.input_mode == "frame"
    np.testing.assert_array_equal(loaded.predict(X.head(20).to_dict("records")), model.predict(X.head(20)))


def test_a_step_that_hands_on_named_frames_keeps_the_dataframe(tmp_path, frame):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = frame
    model = make_pipeline(StandardScaler().set_output(transform="pandas"), LogisticRegression()).fit(X, y)
    loaded = _logged(tmp_path, model, X, "training")
    assert loaded.input_mode == "frame"
    np.testing.assert_array_equal(loaded.predict(X.head(20)), model.predict(X.head(20)))


def test_a_signature_in_another_column_order_keeps_the_dataframe(tmp_path, frame):
    from sklearn.linear_model import LogisticRegression

    X, y = frame
    model = LogisticRegression().fit(X, y)
    reordered = infer_signature(X[list(reversed(X.columns))].head(3))
    save_model(tmp_path / "m", model, signature=Signature(reordered.inputs))
    loaded = load_local_model(tmp_path / "m")
    assert loaded.input_mode == "frame"  # the frame puts the columns back in the fitted order by name
    np.testing.assert_array_equal(loaded.predict(X.head(20).to_numpy()[:, ::-1]), model.predict(X.head(20)))


def test_a_model_that_reads_names_itself_keeps_the_dataframe(tmp_path, frame):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y = frame
    pick = FunctionTransformer(lambda df: df[["income", "debt"]].to_numpy())
    model = make_pipeline(pick, LogisticRegression()).fit(X, y)
    loaded = _logged(tmp_path, model, X, "training")
    assert loaded.input_mode == "frame"
    np.testing.assert_array_equal(loaded.predict(X.head(20)), model.predict(X.head(20)))
