"""Nothing is deserialized from a model directory that does not match its manifest; saves are atomic."""

from __future__ import annotations

import os
import pickle
import sys
import threading

import numpy as np
import pytest
import yaml

from shipyard.errors import IntegrityCheckFailed, InvalidInput, NotFound
from shipyard.models import (
    PythonModel,
    load_local_model,
    load_native,
    load_prediction_profile,
    load_reference_profile,
    read_manifest,
    save_model,
)


@pytest.fixture()
def saved(tmp_path, rainfall_arrays):
    from sklearn.linear_model import LogisticRegression

    X, y = rainfall_arrays
    path = tmp_path / "m"
    save_model(path, LogisticRegression().fit(X, y), input_example=X[:2])
    return path


class _SideEffect:
    """Unpickling this creates a directory: proof that a pickle ran code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_tampered_pickle_is_refused_before_unpickling(saved, tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_SideEffect(marker))
    pickle.loads(payload)  # control: this payload does run code when unpickled
    assert marker.is_dir()
    marker.rmdir()

    (saved / "model.pkl").write_bytes(payload)
    for load in (load_local_model, load_native):
        with pytest.raises(IntegrityCheckFailed, match=r"'model\.pkl'.*does not match its SHA-256"):
            load(saved)
    assert not marker.exists()


def test_one_flipped_byte_is_refused(saved):
    data = bytearray((saved / "model.pkl").read_bytes())
    data[len(data) // 2] ^= 0x01
    (saved / "model.pkl").write_bytes(bytes(data))
    with pytest.raises(IntegrityCheckFailed, match=r"model.pkl"):
        load_local_model(saved)


def test_changed_side_file_is_refused(saved):
    (saved / "input_example.json").write_text('{"columns": [], "data": []}')
    with pytest.raises(IntegrityCheckFailed, match=r"input_example.json"):
        load_local_model(saved)


def test_missing_file_is_refused(saved):
    (saved / "input_example.json").unlink()
    with pytest.raises(IntegrityCheckFailed, match=r"'input_example.json' listed in the manifest is missing"):
        load_local_model(saved)


def test_extra_file_is_refused(saved):
    (saved / "code").mkdir()
    (saved / "code" / "sitecustomize.py").write_text("print('hello')\n")
    with pytest.raises(IntegrityCheckFailed, match=r"unexpected file 'code/sitecustomize.py'"):
        load_local_model(saved)


def test_symlink_is_refused(saved, tmp_path):
    (tmp_path / "elsewhere.txt").write_text("x")
    (saved / "link.txt").symlink_to(tmp_path / "elsewhere.txt")
    with pytest.raises(IntegrityCheckFailed, match=r"symlink 'link.txt'"):
        load_local_model(saved)


def test_manifest_digest_catches_rewritten_hashes(saved, tmp_path):
    digest = read_manifest(saved).digest
    assert load_local_model(saved, expected_digest=digest).manifest.digest == digest
    # an attacker replaces the pickle and rewrites its hash in the manifest
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_SideEffect(marker))
    (saved / "model.pkl").write_bytes(payload)
    doc = yaml.safe_load((saved / "MLmodel.yaml").read_text())
    import hashlib

    doc["files"]["model.pkl"] = hashlib.sha256(payload).hexdigest()
    (saved / "MLmodel.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(IntegrityCheckFailed, match="expected"):
        load_local_model(saved, expected_digest=digest)
    assert not marker.exists()


def test_unsafe_manifest_path_is_refused(saved):
    doc = yaml.safe_load((saved / "MLmodel.yaml").read_text())
    doc["files"]["../outside"] = "0" * 64
    (saved / "MLmodel.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(IntegrityCheckFailed, match="unsafe path"):
        load_local_model(saved)


def test_not_a_model_directory(tmp_path):
    with pytest.raises(NotFound, match=r"no MLmodel.yaml"):
        load_local_model(tmp_path)


def test_newer_format_version_asks_for_an_upgrade(saved):
    doc = yaml.safe_load((saved / "MLmodel.yaml").read_text())
    doc["format_version"] = 99
    (saved / "MLmodel.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(InvalidInput, match="upgrade shipyard"):
        load_local_model(saved)


class _Unpicklable(PythonModel):
    def __init__(self):
        self.lock = threading.Lock()

    def predict(self, model_input):
        return model_input


def test_failed_save_leaves_nothing_behind(tmp_path):
    dest = tmp_path / "models" / "m"
    with pytest.raises(InvalidInput, match="cannot serialize"):
        save_model(dest, _Unpicklable())
    assert not dest.exists()
    assert list((tmp_path / "models").iterdir()) == []  # no temp directory either


def test_failure_after_model_file_leaves_nothing_behind(tmp_path, rainfall_arrays):
    from sklearn.linear_model import LogisticRegression

    X, y = rainfall_arrays
    with pytest.raises(InvalidInput, match="metadata must hold plain"):
        save_model(tmp_path / "m", LogisticRegression().fit(X, y), metadata={"when": object()})
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite(saved, tmp_path, rainfall_arrays):
    from sklearn.linear_model import LogisticRegression

    X, y = rainfall_arrays
    with pytest.raises(InvalidInput, match="not an empty directory"):
        save_model(saved, LogisticRegression().fit(X, y))
    (tmp_path / "empty").mkdir()
    save_model(tmp_path / "empty", LogisticRegression().fit(X, y))  # an empty directory is fine
    assert (tmp_path / "empty" / "MLmodel.yaml").is_file()


def test_unknown_objects_and_flavor_mismatch(tmp_path):
    with pytest.raises(InvalidInput, match="no predict"):
        save_model(tmp_path / "a", object())
    from sklearn.linear_model import LinearRegression

    with pytest.raises(InvalidInput, match="flavor 'xgboost' does not fit"):
        save_model(tmp_path / "b", LinearRegression(), flavor="xgboost")
    with pytest.raises(InvalidInput, match="unknown flavor"):
        save_model(tmp_path / "c", LinearRegression(), flavor="torch")


def test_reference_profile_written_when_training_data_given(tmp_path, rainfall_frame):
    from sklearn.linear_model import LogisticRegression

    X, y = rainfall_frame
    manifest = save_model(tmp_path / "m", LogisticRegression().fit(X, y), input_example=X.head(2), training_data=X)
    assert manifest.reference_profile == "reference_profile.json"
    assert manifest.reference_profile_path == tmp_path / "m" / "reference_profile.json"
    assert "reference_profile.json" in manifest.files
    profile = load_reference_profile(tmp_path / "m")
    assert set(profile["columns"]) == set(X.columns)
    drift = pytest.importorskip("shipyard.drift")
    if hasattr(drift, "DatasetProfile"):
        assert set(drift.DatasetProfile.from_dict(profile).columns) == set(X.columns)
    assert load_reference_profile(tmp_path / "m") == profile
    # tampering with the profile is caught like any other file
    (tmp_path / "m" / "reference_profile.json").write_text("{}")
    with pytest.raises(IntegrityCheckFailed, match=r"reference_profile.json"):
        load_reference_profile(tmp_path / "m")


def test_prediction_profile_is_the_models_output_on_its_training_data(tmp_path, rainfall_frame):
    from sklearn.linear_model import LogisticRegression

    from shipyard.drift import DatasetProfile

    X, y = rainfall_frame
    model = LogisticRegression().fit(X, y)
    manifest = save_model(tmp_path / "m", model, input_example=X.head(2), training_data=X)
    assert manifest.prediction_profile == "prediction_profile.json" and "prediction_profile.json" in manifest.files
    column = DatasetProfile.from_dict(load_prediction_profile(tmp_path / "m")).columns["prediction"]
    assert column.count == len(X) and column.kind == "binary"
    assert column.categories["1"] == int(model.predict(X).sum())
    assert save_model(tmp_path / "n", model).prediction_profile is None  # no training data, no profile
    assert load_prediction_profile(tmp_path / "n") is None
    (tmp_path / "m" / "prediction_profile.json").write_text("{}")
    with pytest.raises(IntegrityCheckFailed, match=r"prediction_profile.json"):
        load_prediction_profile(tmp_path / "m")


def test_reference_profile_of_an_array_uses_signature_names(tmp_path, rainfall_arrays):
    from sklearn.linear_model import LogisticRegression

    X, y = rainfall_arrays
    save_model(tmp_path / "m", LogisticRegression().fit(X, y), input_example=X[:2], training_data=X)
    assert list(load_reference_profile(tmp_path / "m")["columns"]) == [f"f{i}" for i in range(8)]


def test_reference_profile_fallback_without_drift(tmp_path, monkeypatch, rainfall_frame):
    from sklearn.linear_model import LogisticRegression

    X, y = rainfall_frame
    monkeypatch.setitem(sys.modules, "shipyard.drift", None)  # import fails
    save_model(tmp_path / "m", LogisticRegression().fit(X, y), training_data=X.assign(kind="a"))
    profile = load_reference_profile(tmp_path / "m")
    assert profile["kind"] == "shipyard.models.fallback_profile"
    col = profile["columns"]["temperature"]
    assert col["count"] == len(X) and col["missing"] == 0
    assert col["quantiles"]["0.5"] == pytest.approx(float(np.median(X["temperature"])))
    assert profile["columns"]["kind"]["categories"] == {"a": len(X)}
    assert load_local_model(tmp_path / "m").manifest.reference_profile == "reference_profile.json"
