"""Deep-learning models behind the same ``predict`` / ``predict_proba`` as every other flavor.

``OnnxModel`` wraps an onnxruntime session and ``TorchModel`` a ``torch.export`` program. Both take one
NumPy array whose first dimension is the batch (a 2-D table for tabular models, ``[n, C, H, W]``
for images), so serving's batcher stacks requests along axis 0 and runs one forward pass per
batch. A tensor of the wrong rank, trailing shape or dtype is an InvalidInput naming the input.

Threads: a model server answers many requests at once, so each forward pass uses the cores of the
machine once (intra-op threads = CPU count, at most 4, or ``SHIPYARD_MODEL_THREADS``; one inter-op
thread) rather than letting several libraries each start a pool per core.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from shipyard.errors import InvalidInput

__all__ = ["OnnxModel", "TorchModel", "check_tensor", "class_probabilities"]


def _threads() -> int:
    """Intra-op threads per forward pass: ``SHIPYARD_MODEL_THREADS``, else the CPU count up to 4.

    The variable lets a deployment choose: on a busy machine OpenMP's threads spin waiting for cores
    other processes hold (on 2 shared cores at a load of 5-7, a 64-row batch of a small MLP took
    0.35 to 62 ms with 2 threads from one run to the next, 0.8 ms with one), yet over HTTP the
    default was as fast or faster (BENCHMARKS.md, deep-learning rows), so it stays the default."""
    configured = os.environ.get("SHIPYARD_MODEL_THREADS", "").strip()
    if configured:
        if not configured.isdigit() or int(configured) < 1:
            raise InvalidInput(f"SHIPYARD_MODEL_THREADS must be a positive integer, got {configured!r}")
        return int(configured)
    return max(1, min(os.cpu_count() or 1, 4))


def check_tensor(name: str, arr: np.ndarray, shape: Sequence[int | None] | None, kind: str) -> np.ndarray:
    """``arr`` as the model's input ``name`` wants it: ``shape`` with None for free dimensions
    (the batch), ``kind`` ``"float"`` or ``"int"``; InvalidInput naming the input otherwise."""
    if shape is not None:
        want = list(shape)
        if arr.ndim != len(want) or any(w is not None and w != g for w, g in zip(want[1:], arr.shape[1:], strict=True)):
            shown = ["n" if w is None else w for w in want]
            raise InvalidInput(f"input {name!r}: shape {list(arr.shape)} does not fit the model's {shown}")
    if kind == "float":
        if arr.dtype.kind not in "biuf":
            raise InvalidInput(f"input {name!r}: dtype {arr.dtype} is not numeric; the model takes float32")
        return np.ascontiguousarray(arr, dtype=np.float32)
    if arr.dtype.kind not in "biu" and not (arr.dtype.kind == "f" and np.all(np.mod(arr, 1) == 0)):
        raise InvalidInput(f"input {name!r}: dtype {arr.dtype} is not integer; the model takes int64")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _as_array(data: Any) -> np.ndarray:
    if hasattr(data, "to_numpy"):
        return np.asarray(data.to_numpy())
    if isinstance(data, dict):
        return np.column_stack([np.asarray(v) for v in data.values()])
    return np.asarray(data)


def _squeeze(out: np.ndarray) -> np.ndarray:
    return out[:, 0] if out.ndim == 2 and out.shape[1] == 1 else out


_ONNX_INT = ("tensor(int64)", "tensor(int32)", "tensor(int16)", "tensor(int8)")


class OnnxModel:
    """An ONNX model run by onnxruntime (the CUDA provider first when onnxruntime has it).

    Outputs: the first is ``predict``; a second 2-D float output (a converted classifier's
    probabilities, exported with ``zipmap=False``) is ``predict_proba``.
    """

    def __init__(self, data: bytes) -> None:
        import onnxruntime as ort

        self.data = data  # the serialized graph, what save_model writes
        options = ort.SessionOptions()
        options.intra_op_num_threads = _threads()
        options.inter_op_num_threads = 1
        available = ort.get_available_providers()
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        try:
            self.session = ort.InferenceSession(data, options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own classes for a malformed graph
            raise InvalidInput(f"onnxruntime cannot load the model: {exc}") from exc
        self.device = "cuda" if self.session.get_providers()[0] == "CUDAExecutionProvider" else "cpu"
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise InvalidInput(f"the ONNX model has {len(inputs)} inputs; shipyard serves models with one input "
                               "tensor (concatenate the features into one [n, k] input when exporting)")
        self.input_name = inputs[0].name
        self.input_shape: list[int | None] = [d if isinstance(d, int) else None for d in inputs[0].shape]
        self.input_shape[0] = None  # the batch dimension, whatever the export said
        self.input_kind = "int" if inputs[0].type in _ONNX_INT else "float"
        outputs = self.session.get_outputs()
        self.output_names = [o.name for o in outputs]
        self._has_proba = len(outputs) > 1 and outputs[1].type == "tensor(float)" and len(outputs[1].shape or ()) == 2
        if not self._has_proba:
            self.predict_proba = None  # type: ignore[assignment]  # serving asks callable(predict_proba)

    def check_input(self, data: Any) -> np.ndarray:
        """One request's input as the model takes it; InvalidInput naming the input otherwise."""
        return check_tensor(self.input_name, _as_array(data), self.input_shape, self.input_kind)

    def _run(self, data: Any) -> list[Any]:
        arr = self.check_input(data)
        return self.session.run(None, {self.input_name: arr})  # type: ignore[no-any-return]

    def predict(self, data: Any) -> np.ndarray:
        return _squeeze(np.asarray(self._run(data)[0]))

    def predict_proba(self, data: Any) -> np.ndarray:
        return np.asarray(self._run(data)[1])


class TorchModel:
    """An exported torch program run under ``torch.inference_mode()`` on the GPU when one is present.

    ``predict`` returns the module's output (the first one of a tuple) as NumPy, an ``[n, 1]``
    output flattened to ``[n]``. ``input_shape`` (None for free dimensions) and ``input_kind``
    come from the input example the model was logged with.
    """

    def __init__(self, program: Any, input_shape: Sequence[int | None] | None, input_kind: str,
                 input_name: str = "input", classes: Sequence[Any] | None = None) -> None:
        import torch

        threads = _threads()
        if torch.get_num_threads() > threads or "SHIPYARD_MODEL_THREADS" in os.environ:
            torch.set_num_threads(threads)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.program = program  # the ExportedProgram, what save_model writes
        module = program.module()  # exported in eval mode; exported modules refuse .eval()
        self.module = module if self.device == "cpu" else module.to(self.device)
        self.input_shape = None if input_shape is None else list(input_shape)
        self.input_kind = input_kind
        self.input_name = input_name
        # a classifier: the module's output is class probabilities (a sigmoid's [n] / [n, 1] for two
        # classes, a softmax's [n, k]); predict answers labels, predict_proba the probabilities, so
        # monitors and canaries judge it with roc_auc / log_loss as they judge a scikit-learn classifier
        self.classes_ = None if classes is None else np.asarray(classes)
        if self.classes_ is None:
            self.predict_proba = None  # type: ignore[assignment]  # serving asks callable(predict_proba)

    def check_input(self, data: Any) -> np.ndarray:
        """One request's input as the model takes it; InvalidInput naming the input otherwise."""
        if hasattr(data, "detach"):
            data = data.detach().cpu().numpy()
        return check_tensor(self.input_name, _as_array(data), self.input_shape, self.input_kind)

    def _forward(self, data: Any) -> np.ndarray:
        import torch

        arr = self.check_input(data)
        if not arr.flags.writeable:  # torch.from_numpy shares memory and warns on read-only arrays
            arr = arr.copy()
        with torch.inference_mode():
            out = self.module(torch.from_numpy(arr).to(self.device))
        if isinstance(out, tuple | list):
            out = out[0]
        return _squeeze(out.detach().cpu().numpy())

    def predict(self, data: Any) -> np.ndarray:
        """The module's output; for a classifier (``classes``), the most probable class."""
        if self.classes_ is None:
            return self._forward(data)
        return self.classes_[np.argmax(self.predict_proba(data), axis=1)]  # type: ignore[no-any-return]

    def predict_proba(self, data: Any) -> np.ndarray:
        """Class probabilities ``[n, len(classes)]`` (a classifier's module output as it is)."""
        return class_probabilities(self._forward(data), 0 if self.classes_ is None else len(self.classes_))


def class_probabilities(out: np.ndarray, n_classes: int, *, check: bool = False) -> np.ndarray:
    """A classifier module's output as ``[n, n_classes]`` probabilities: a binary model's ``[n]``
    (the second class's probability) becomes two columns; InvalidInput when its shape does not fit
    ``n_classes``, and with ``check`` when its values are not probabilities (a module missing its
    sigmoid / softmax would rank fine but lie). ``check`` is for logging time, on the example: a
    request must not fail for what the model answers."""
    out = np.asarray(out, dtype=np.float64)
    if out.ndim == 1 and n_classes == 2:
        out = np.column_stack([1.0 - out, out])
    if out.ndim != 2 or out.shape[1] != n_classes:
        raise InvalidInput(f"the module's output of shape {list(out.shape)} is not the probabilities of "
                           f"{n_classes} classes: end it in a sigmoid (two classes, output [n] or [n, 1]) "
                           "or a softmax ([n, k], k = the number of classes)")
    if check and out.size and not (out.min() >= -1e-6 and out.max() <= 1 + 1e-6
                                   and np.allclose(out.sum(axis=1), 1.0, atol=1e-4)):
        raise InvalidInput("the module's output is not probabilities (each in [0, 1], each row summing to 1): "
                           "end it in a sigmoid (two classes) or a softmax when you pass classes=")
    return out
