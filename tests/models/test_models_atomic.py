"""log_model is atomic: on a full disk it raises StorageFull and leaves nothing behind, and
register_model refuses a model that is not complete."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.artifacts._disk import files_under, fill, small_disk

import shipyard
import shipyard.sklearn
from shipyard.errors import IntegrityCheckFailed, NotFound, StorageFull
from shipyard.models import load_local_model, save_model


@pytest.fixture
def forest(rainfall_arrays):
    from sklearn.ensemble import RandomForestClassifier

    X, y = rainfall_arrays
    return RandomForestClassifier(n_estimators=15, random_state=0).fit(X, y), X  # pickles to ~1 MB


def test_log_model_on_a_full_disk_leaves_no_model_and_registration_refuses(tmp_path, monkeypatch, forest):
    model, X = forest
    with small_disk(tmp_path / "disk", 2048) as disk:
        monkeypatch.setenv("SHIPYARD_ARTIFACT_URI", str(disk / "artifacts"))
        with shipyard.start_run() as run:
            shipyard.log_metric("auc", 0.9)
            fill(disk, 200)
            with pytest.raises(StorageFull, match="no space left on the device"):
                shipyard.sklearn.log_model(model, "model", input_example=X[:3])
        artifacts = disk / "artifacts"
        assert [p for p in files_under(artifacts) if "/model" in p or ".tmp" in p] == []
        with pytest.raises(NotFound, match=r"no MLmodel\.yaml"):
            shipyard.register_model(f"runs:/{run.info.run_id}/model", "rain")
        assert shipyard.Client().search_registered_models() == []
        (disk / ".filler").unlink()  # space again: the same call goes through
        with shipyard.start_run():
            info = shipyard.sklearn.log_model(model, "model", input_example=X[:3], registered_model_name="rain")
        loaded = shipyard.load_model("models:/rain/1")
        np.testing.assert_array_equal(loaded.predict(X[:50]), model.predict(X[:50]))
        assert info.registered_model_version is not None


def test_save_model_on_a_full_disk_leaves_nothing(tmp_path, forest):
    model, X = forest
    with small_disk(tmp_path / "disk", 1024) as disk:
        fill(disk, 100)
        with pytest.raises(StorageFull):
            save_model(disk / "models" / "m", model, input_example=X[:3])
        assert files_under(disk) == ["models"]


def test_register_refuses_a_model_with_a_listed_file_missing(tmp_path, rainfall_arrays):
    """What a non-atomic writer left behind (a manifest without its model file) is never registered."""
    from sklearn.linear_model import LogisticRegression

    X, y = rainfall_arrays
    with shipyard.start_run() as run:
        info = shipyard.sklearn.log_model(LogisticRegression(max_iter=300).fit(X, y), "model")
    folder = Path(run.info.artifact_uri) / "model"
    (folder / load_local_model(folder).manifest.model_file).unlink()
    with pytest.raises(IntegrityCheckFailed, match=r"cannot register runs:/.*/model: the model is incomplete"):
        shipyard.register_model(info.model_uri, "rain")
    assert shipyard.Client().search_registered_models() == []


def test_training_data_alone_gives_a_signature_and_gaps_make_columns_optional(tmp_path, rainfall_frame):
    from sklearn.ensemble import HistGradientBoostingClassifier

    from shipyard.errors import InvalidInput

    X, y = rainfall_frame
    X = X.copy()
    X.loc[::7, "dew point"] = np.nan  # the training data has gaps in one column
    model = HistGradientBoostingClassifier(max_iter=20).fit(X, y)
    with shipyard.start_run():
        info = shipyard.sklearn.log_model(model, "model", training_data=X)
    sig = info.signature
    assert sig is not None and sig.input_names == list(X.columns)
    assert {c.name for c in sig.inputs if not c.required} == {"dew point"}
    assert sig.outputs is not None and sig.outputs.type == "int64"
    loaded = shipyard.load_model(info.model_uri)
    row = X.iloc[1].to_dict()
    assert loaded.predict([{**row, "dew point": None}]).shape == (1,)  # the model takes gaps there
    with pytest.raises(InvalidInput, match="column 'temperature' row 0: a value is required"):
        loaded.predict([{**row, "temperature": None}])
    with pytest.raises(InvalidInput, match="column 'temperature' row 0: expects float64, got str 'hot'"):
        loaded.predict([{**row, "temperature": "hot"}])
