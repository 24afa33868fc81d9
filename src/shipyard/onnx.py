"""`shipyard.onnx.log_model(onnx_model_or_path, "model", input_example=...)`, served by onnxruntime.

Also the conversions that bring other frameworks to ONNX, each checked on an example:
``from_sklearn(model, X)`` (skl2onnx) and ``from_torch(module, example)`` (torch.onnx). TensorFlow
models reach shipyard the same way, exported with tf2onnx (see docs/models.md).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from shipyard._flavor_face import flavor_functions
from shipyard.errors import InvalidInput

__all__ = ["TOLERANCE", "from_sklearn", "from_torch", "load_model", "log_model", "save_model"]

# float32 graphs against float64 originals: outputs agree to about 1e-6 relative; 1e-4 leaves room
# for reordered sums while still catching a wrong conversion (a swapped class or missing scaler)
TOLERANCE = 1e-4

_log, _save, load_model = flavor_functions("onnx")


def _wrap(model: Any) -> Any:
    from shipyard.models._tensor_models import OnnxModel
    from shipyard.models._tensor_save import as_onnx_bytes

    return model if isinstance(model, OnnxModel) else OnnxModel(as_onnx_bytes(model))


def log_model(onnx_model: Any, artifact_path: str | None = None, **kwargs: Any) -> Any:
    """Log an ONNX model (an ``onnx.ModelProto``, its bytes or a ``.onnx`` path) to the active run;
    takes the keywords of ``shipyard.models.log_model`` (``input_example``, ``training_data``,
    ``registered_model_name`` ...). The graph must have one input tensor ``[n, ...]``."""
    return _log(_wrap(onnx_model), artifact_path, **kwargs)


def save_model(onnx_model: Any, path: str | os.PathLike[str], **kwargs: Any) -> Any:
    """Save an ONNX model as a verified directory at ``path``."""
    return _save(_wrap(onnx_model), path, **kwargs)


def _check(name: str, converted: np.ndarray, original: np.ndarray, tolerance: float) -> None:
    converted, original = np.asarray(converted), np.asarray(original)
    if converted.shape != original.shape or (
        original.dtype.kind in "fc" and not np.allclose(converted, original, rtol=tolerance, atol=tolerance)
    ) or (original.dtype.kind not in "fc" and not np.array_equal(converted, original)):
        raise InvalidInput(f"the ONNX conversion's {name} differ from the original model's on the example "
                           f"(tolerance {tolerance}); the converter does not support this model faithfully")


def from_sklearn(model: Any, X: Any, *, tolerance: float = TOLERANCE) -> Any:
    """The ``onnx.ModelProto`` of a fitted scikit-learn model (skl2onnx; one float32 input ``X``
    of shape ``[n, k]``; classifiers output labels and a probability matrix).

    Raises InvalidInput when the converted model's predictions (and probabilities) on ``X``
    differ from the original's by more than ``tolerance`` (relative and absolute).
    """
    from skl2onnx import to_onnx

    arr = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X, dtype=np.float32)
    options = {id(model): {"zipmap": False}} if hasattr(model, "predict_proba") else None
    try:
        proto = to_onnx(model, arr[:1], options=options, target_opset=None)
    except Exception as exc:  # skl2onnx raises RuntimeError / NotImplementedError for unknown parts
        raise InvalidInput(f"skl2onnx cannot convert a {type(model).__qualname__}: {exc}") from exc
    onnx_model = _wrap(proto)
    _check("predictions", onnx_model.predict(arr), model.predict(arr), tolerance)
    if hasattr(model, "predict_proba") and callable(onnx_model.predict_proba):
        _check("probabilities", onnx_model.predict_proba(arr), model.predict_proba(arr), tolerance)
    return proto


def from_torch(module: Any, example: Any, *, tolerance: float = TOLERANCE) -> bytes:
    """The ONNX bytes of a ``torch.nn.Module`` exported on ``example`` (batch dimension dynamic);
    InvalidInput when the exported graph's output on ``example`` differs from the module's."""
    import io
    import warnings

    import torch

    tensor = example if isinstance(example, torch.Tensor) else torch.from_numpy(np.array(example))  # a copy: writable
    if tensor.dtype == torch.float64:
        tensor = tensor.float()
    module = module.eval()
    buf = io.BytesIO()
    try:
        # the TorchScript-based exporter: the torch.export-based one needs onnxscript, one more
        # dependency; its deprecation warning is the user's business only if it stops working. Its
        # UserWarnings about dynamic-axis names vary with what ran before in the process; a graph that
        # lost its dynamic batch would fail the check on the example below
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            torch.onnx.export(module, (tensor,), buf,  # type: ignore[arg-type]  # file-like is accepted
                              input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, dynamo=False)
    except Exception as exc:
        raise InvalidInput(f"torch.onnx.export failed: {exc}") from exc
    data = _dynamic_batch(buf.getvalue())
    with torch.inference_mode():
        expected = module(tensor)
    expected = (expected[0] if isinstance(expected, tuple | list) else expected).numpy()
    got = _wrap(data).predict(np.concatenate([tensor.numpy()] * 2))  # another batch size than the export's
    expected = np.concatenate([expected] * 2)
    _check("outputs", got, expected[:, 0] if expected.ndim == 2 and expected.shape[1] == 1 else expected, tolerance)
    return data


def _dynamic_batch(data: bytes) -> bytes:
    """The graph with the first dimension of its inputs and outputs named ``batch`` (free): the
    exporter's ``dynamic_axes`` are keyed by names it does not always keep."""
    import onnx

    proto = onnx.load_from_string(data)
    for value in [*proto.graph.input, *proto.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if len(dims):
            dims[0].ClearField("dim_value")
            dims[0].dim_param = "batch"
    return bytes(proto.SerializeToString())
