"""Signatures: inferred from examples, stored, and enforced on every predict()."""

from __future__ import annotations

import numpy as np
import pytest

from shipyard.errors import InvalidInput
from shipyard.models import ColSpec, Signature, TensorSpec, infer_signature, load_local_model, save_model


def test_infer_from_dataframe_dict_records_and_array():
    import pandas as pd

    df = pd.DataFrame({"age": [41, 35], "income": [52.0, 61.5], "city": ["Oslo", "Lima"], "member": [True, False]})
    sig = infer_signature(df, np.array([0.2, 0.9]))
    assert [(c.name, c.type) for c in sig.inputs] == [
        ("age", "int64"),
        ("income", "float64"),
        ("city", "string"),
        ("member", "bool"),
    ]
    assert sig.outputs == TensorSpec("float64", (-1,))
    assert infer_signature(df.to_dict("list")).inputs == sig.inputs
    assert infer_signature(df.to_dict("records")).inputs == sig.inputs

    arr_sig = infer_signature(np.zeros((4, 3), dtype=np.float32), np.zeros((4, 2)))
    assert arr_sig.input_names == ["f0", "f1", "f2"]
    assert {c.type for c in arr_sig.inputs} == {"float32"}
    assert arr_sig.outputs.shape == (-1, 2)
    named = infer_signature(np.zeros((4, 2)), feature_names=["a", "b"])
    assert named.input_names == ["a", "b"]


def test_signature_dict_round_trip_and_validation():
    sig = Signature((ColSpec("a", "float64"), ColSpec("b", "string")), TensorSpec("int64", (-1,)))
    assert Signature.from_dict(sig.to_dict()) == sig
    with pytest.raises(InvalidInput, match="unknown type 'decimal'"):
        ColSpec("a", "decimal")
    with pytest.raises(InvalidInput, match="duplicate"):
        Signature((ColSpec("a", "float64"), ColSpec("a", "float64")))


@pytest.fixture(scope="module")
def lr_model(tmp_path_factory, rainfall_arrays):
    """A LogisticRegression fitted on arrays, with named columns from the caller."""
    from sklearn.linear_model import LogisticRegression

    X, y = rainfall_arrays
    names = ["age", "income", "c", "d", "e", "f", "g", "h"]
    lr = LogisticRegression().fit(X, y)
    path = tmp_path_factory.mktemp("lr") / "m"
    save_model(path, lr, signature=infer_signature(X[:2], lr.predict(X[:2]), feature_names=names))
    return load_local_model(path), lr, names


def test_missing_column_is_named(lr_model, rainfall_arrays):
    model, _, names = lr_model
    X, _ = rainfall_arrays
    record = dict(zip(names, X[0].tolist(), strict=True))
    del record["age"]
    with pytest.raises(InvalidInput, match="missing column 'age'"):
        model.predict([record])
    with pytest.raises(InvalidInput, match="missing column 'age'"):
        model.predict({k: [v] for k, v in record.items()})
    import pandas as pd

    with pytest.raises(InvalidInput, match="missing column 'age'"):
        model.predict(pd.DataFrame([record]))
    with pytest.raises(InvalidInput, match="8 columns"):
        model.predict(X[:2, :7])


def test_wrong_type_is_named(lr_model, rainfall_arrays):
    model, _, names = lr_model
    X, _ = rainfall_arrays
    record = dict(zip(names, X[0].tolist(), strict=True))
    with pytest.raises(InvalidInput, match="column 'age' row 0: expects float64, got str 'forty'"):
        model.predict([{**record, "age": "forty"}])
    with pytest.raises(InvalidInput, match=r"column 'age' row 1: expects float64, got str '41\.0'"):
        model.predict([record, {**record, "age": "41.0"}])  # no silent parsing of text into numbers
    with pytest.raises(InvalidInput, match="column 'income' must hold one value per row"):
        model.predict({**{k: [v] for k, v in record.items()}, "income": [[1, 2]]})
    with pytest.raises(InvalidInput, match="no rows"):
        model.predict([])


def test_order_is_fixed_extra_columns_ignored_and_ints_cast(lr_model, rainfall_arrays):
    import pandas as pd

    model, lr, names = lr_model
    X, _ = rainfall_arrays
    expected = lr.predict_proba(X[:5])
    shuffled = pd.DataFrame(X[:5], columns=names)[names[::-1]].assign(extra="ignored")
    np.testing.assert_allclose(model.predict_proba(shuffled), expected)
    records = [dict(reversed(list(zip(names, row, strict=True)))) for row in X[:5].tolist()]
    np.testing.assert_allclose(model.predict_proba(records), expected)
    ints = [dict.fromkeys(names, 1)]
    np.testing.assert_allclose(model.predict_proba(ints), lr.predict_proba(np.ones((1, 8))))
    with_null = [records[0], {**records[0], "age": None}]
    with pytest.raises(InvalidInput, match="column 'age' row 1: a value is required"):
        model.prepare(with_null)  # the training data had no gaps: a JSON null is the client's error


def test_dataframe_model_with_mixed_types(tmp_path):
    import pandas as pd
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    df = pd.DataFrame(
        {"city": ["Oslo", "Lima", "Oslo", "Pune"] * 10, "rooms": [1, 2, 3, 4] * 10, "size": [30.0, 55, 80, 99] * 10}
    )
    price = df["rooms"] * 100 + df["size"] * 3.0
    pipe = make_pipeline(
        make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["city"]), remainder="passthrough"),
        LinearRegression(),
    ).fit(df, price)
    save_model(tmp_path / "m", pipe, input_example=df.head(2))
    model = load_local_model(tmp_path / "m")
    assert [c.type for c in model.signature.inputs] == ["string", "int64", "float64"]
    np.testing.assert_allclose(model.predict(df), pipe.predict(df))
    np.testing.assert_allclose(model.predict([{"size": 30, "rooms": 1, "city": "Oslo"}]), pipe.predict(df.head(1)))
    with pytest.raises(InvalidInput, match="column 'city' row 0: expects string, got int 7"):
        model.predict([{"size": 30.0, "rooms": 1, "city": 7}])
    with pytest.raises(InvalidInput, match=r"column 'rooms' row 0: expects int64, got 1.5 \(a fraction\)"):
        model.predict({"size": [30.0], "rooms": [1.5], "city": ["Oslo"]})
    np.testing.assert_allclose(
        model.predict({"size": [30.0], "rooms": [1.0], "city": ["Oslo"]}), pipe.predict(df.head(1))
    )


def test_signature_given_at_save_wins_over_the_example(tmp_path, rainfall_arrays):
    from sklearn.linear_model import LogisticRegression

    X, y = rainfall_arrays
    sig = infer_signature(X[:1], feature_names=list("abcdefgh"))
    manifest = save_model(tmp_path / "m", LogisticRegression().fit(X, y), signature=sig, input_example=X[:2])
    assert manifest.signature == sig
    assert load_local_model(tmp_path / "m").input_example["a"] == X[:2, 0].tolist()


def test_no_signature_passes_input_through(tmp_path, rainfall_arrays):
    from sklearn.linear_model import LogisticRegression

    X, y = rainfall_arrays
    lr = LogisticRegression().fit(X, y)
    save_model(tmp_path / "m", lr)
    model = load_local_model(tmp_path / "m")
    assert model.signature is None and model.input_mode == "raw"
    np.testing.assert_array_equal(model.predict(X[:10]), lr.predict(X[:10]))


@pytest.mark.parametrize("mode", ["array", "frame"])
def test_records_with_nan_are_refused_naming_the_column_and_row(mode):
    """Dict records from Python (a served request's rows, a caller's list): NaN in a required
    column is a 400 naming it, whether the request has one row or many; infinities are numbers."""
    from shipyard.models._enforce import InputAdapter

    sig = Signature(inputs=(ColSpec("a", "float64"), ColSpec("b", "float64"), ColSpec("c", "int64")))
    adapter = InputAdapter(sig, mode)
    nan = float("nan")
    for records, row, column in [([{"a": 1.0, "b": nan, "c": 2}], 0, "b"),
                                 ([{"a": 1.0, "b": 2.0, "c": 3}, {"a": nan, "b": 2.0, "c": 3}], 1, "a"),
                                 ([{"a": 0.0, "b": 0.0, "c": 0}] * 7 + [{"a": 1.0, "b": nan, "c": 1}], 7, "b")]:
        with pytest.raises(InvalidInput, match=f"column '{column}' row {row}: a value is required"):
            adapter(records)
    both = adapter([{"a": float("inf"), "b": float("-inf"), "c": 1}])  # inf - inf is NaN in a sum, not in the data
    assert np.isinf(np.asarray(both, dtype=float)[0, :2]).all()
