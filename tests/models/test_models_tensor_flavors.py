"""shipyard.pytorch and shipyard.onnx in-process: what is saved, what load_model takes, the checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shipyard.errors import IntegrityCheckFailed, InvalidInput

torch = pytest.importorskip("torch")


def _mlp(k: int = 4) -> Any:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(k, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))


def test_pytorch_save_load_takes_arrays_frames_dicts_and_tensors(tmp_path: Path) -> None:
    import pandas as pd

    import shipyard.pytorch
    from shipyard.models import load_local_model

    X = np.random.default_rng(0).random((50, 4))
    module = _mlp()
    names = ["a", "b", "c", "d"]
    frame = pd.DataFrame(X, columns=names)
    manifest = shipyard.pytorch.save_model(module, tmp_path / "m", input_example=frame.head(3), training_data=frame)
    assert manifest.model_file == "model.pt2" and manifest.signature.input_names == names
    assert manifest.reference_profile is not None and manifest.prediction_profile is not None
    loaded = load_local_model(tmp_path / "m")
    with torch.inference_mode():
        expected = module(torch.from_numpy(X.astype(np.float32)))[:, 0].numpy()
    for data in (X, frame, {n: X[:, i] for i, n in enumerate(names)}):
        assert np.allclose(loaded.predict(data), expected, atol=1e-6)
    assert np.allclose(shipyard.pytorch.load_model(str(tmp_path / "m")).predict(torch.from_numpy(X)), expected,
                       atol=1e-6)
    with pytest.raises(InvalidInput, match="'d'"):
        loaded.predict(frame.drop(columns=["d"]))


def test_pytorch_needs_an_example_and_a_changed_file_fails_its_hash(tmp_path: Path) -> None:
    import shipyard.pytorch
    from shipyard.models import load_local_model

    with pytest.raises(InvalidInput, match="input_example"):
        shipyard.pytorch.save_model(_mlp(), tmp_path / "none")
    shipyard.pytorch.save_model(_mlp(), tmp_path / "m", input_example=np.zeros((2, 4)))
    file = tmp_path / "m" / "model.pt2"
    file.write_bytes(file.read_bytes() + b"x")
    with pytest.raises(IntegrityCheckFailed):
        load_local_model(tmp_path / "m")


def test_integer_inputs_keep_int64_and_refuse_fractions(tmp_path: Path) -> None:
    import shipyard.pytorch
    from shipyard.models import load_local_model

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Embedding(10, 3), torch.nn.Flatten(), torch.nn.Linear(6, 2))
    tokens = np.array([[1, 2], [3, 4], [5, 9]], dtype=np.int64)
    shipyard.pytorch.save_model(module, tmp_path / "m", input_example=tokens)
    loaded = load_local_model(tmp_path / "m")
    with torch.inference_mode():
        expected = module(torch.from_numpy(tokens)).numpy()
    assert np.allclose(loaded.predict(tokens), expected, atol=1e-6)
    with pytest.raises(InvalidInput, match="int64"):  # a table of token ids: the signature says int64
        loaded.prepare(np.array([[1.5, 2.0]]))
    with pytest.raises(InvalidInput, match="not integer"):  # the model's own check, for tensors
        loaded.raw_model.check_input(np.array([[1.5, 2.0]]))
    with pytest.raises(InvalidInput, match=r"shape \[1, 3\]"):
        loaded.raw_model.check_input(np.array([[1, 2, 3]]))


def test_pytorch_classifier_answers_labels_and_probabilities(tmp_path: Path) -> None:
    import shipyard.pytorch
    from shipyard.models import load_local_model

    X = np.random.default_rng(0).random((40, 4))
    binary = torch.nn.Sequential(_mlp(), torch.nn.Sigmoid())
    shipyard.pytorch.save_model(binary, tmp_path / "bin", input_example=X[:3], classes=[0, 1])
    loaded = load_local_model(tmp_path / "bin")
    with torch.inference_mode():
        p = binary(torch.from_numpy(X.astype(np.float32)))[:, 0].numpy()
    proba = loaded.predict_proba(X)
    assert proba.shape == (40, 2) and np.allclose(proba[:, 1], p, atol=1e-6) and np.allclose(proba.sum(axis=1), 1)
    assert loaded.predict(X).tolist() == (p > 0.5).astype(int).tolist()

    torch.manual_seed(1)
    three = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Softmax(dim=1))
    shipyard.pytorch.save_model(three, tmp_path / "three", input_example=X[:3], classes=["a", "b", "c"])
    loaded = load_local_model(tmp_path / "three")
    assert loaded.predict_proba(X).shape == (40, 3)
    assert loaded.predict(X).tolist() == np.array(["a", "b", "c"])[loaded.predict_proba(X).argmax(axis=1)].tolist()
    assert not _plain_model(tmp_path, X).has_predict_proba  # a regressor stays one


def _plain_model(tmp_path: Path, X: np.ndarray) -> Any:
    import shipyard.pytorch
    from shipyard.models import load_local_model

    shipyard.pytorch.save_model(_mlp(), tmp_path / "plain", input_example=X[:3])
    return load_local_model(tmp_path / "plain")


def test_pytorch_classes_need_probabilities_from_the_module(tmp_path: Path) -> None:
    import shipyard.pytorch

    X = np.random.default_rng(0).random((10, 4)) * 10
    with pytest.raises(InvalidInput, match="sigmoid"):  # raw logits rank fine but are no probabilities
        shipyard.pytorch.save_model(_mlp(), tmp_path / "logits", input_example=X, classes=[0, 1])
    with pytest.raises(InvalidInput, match="3 classes"):  # one output column for three classes
        shipyard.pytorch.save_model(torch.nn.Sequential(_mlp(), torch.nn.Sigmoid()), tmp_path / "k",
                                    input_example=X, classes=[0, 1, 2])
    with pytest.raises(InvalidInput, match="distinct"):
        shipyard.pytorch.save_model(_mlp(), tmp_path / "same", input_example=X, classes=[1, 1])


def test_onnx_from_sklearn_checks_outputs_and_logs_from_a_path(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("skl2onnx")
    from sklearn.ensemble import RandomForestClassifier

    import shipyard.onnx
    from shipyard.models import load_local_model

    rng = np.random.default_rng(0)
    X = rng.random((200, 3))
    y = (X[:, 0] + X[:, 1] > 1).astype(int)
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    proto = shipyard.onnx.from_sklearn(model, X)
    with pytest.raises(InvalidInput, match="tolerance 0"):
        _float32_mismatch(X)
    (tmp_path / "rf.onnx").write_bytes(proto.SerializeToString())
    manifest = shipyard.onnx.save_model(str(tmp_path / "rf.onnx"), tmp_path / "m", input_example=X[:3])
    assert manifest.flavor == "onnx" and manifest.model_file == "model.onnx"
    loaded = load_local_model(tmp_path / "m")
    assert loaded.predict(X).tolist() == model.predict(X).tolist()
    assert np.allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-5)
    with pytest.raises(InvalidInput, match="ONNX file"):
        shipyard.onnx.save_model(str(tmp_path / "missing.onnx"), tmp_path / "n")


def _float32_mismatch(X: np.ndarray) -> Any:
    """A model whose float64 answers float32 cannot reproduce: a linear model scaled far apart."""
    from sklearn.linear_model import LinearRegression

    import shipyard.onnx

    reg = LinearRegression().fit(X * 1e7, X[:, 0] * 1e9 + 1e-3)
    return shipyard.onnx.from_sklearn(reg, X * 1e7, tolerance=0.0)


def test_onnx_from_torch_matches_the_module() -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    import shipyard.onnx
    from shipyard.models._tensor_models import OnnxModel

    module = _mlp()
    X = np.random.default_rng(1).random((7, 4)).astype(np.float32)
    data = shipyard.onnx.from_torch(module, X[:2])
    with torch.inference_mode():
        expected = module(torch.from_numpy(X))[:, 0].numpy()
    assert np.allclose(OnnxModel(data).predict(X), expected, atol=1e-5)
    assert OnnxModel(data).input_name == "input"  # the name V2 requests and /v2/models/NAME use


def test_model_threads_follow_shipyard_model_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from shipyard.models._tensor_models import _threads

    monkeypatch.delenv("SHIPYARD_MODEL_THREADS", raising=False)
    assert _threads() == max(1, min(os.cpu_count() or 1, 4))
    monkeypatch.setenv("SHIPYARD_MODEL_THREADS", "1")
    assert _threads() == 1
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("SHIPYARD_MODEL_THREADS", bad)
        with pytest.raises(InvalidInput, match="SHIPYARD_MODEL_THREADS"):
            _threads()
