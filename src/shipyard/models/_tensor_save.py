"""Model files of the deep-learning flavors: ``torch.export`` programs (``model.pt2``) and ONNX
(``model.onnx``).

Neither format pickles Python objects: exported programs and ONNX graphs load without the training
code (TorchScript, deprecated in recent torch, is not used). A ``model.pt2`` carries
``shipyard.json`` in its extra files (the input's name, shape with
None for the batch dimension, dtype kind, and a classifier's classes), so the loaded model checks
requests before a forward pass and answers labels and probabilities.
"""

from __future__ import annotations

import io
from typing import Any

import orjson

from shipyard.errors import InvalidInput

__all__ = ["as_onnx_bytes", "export_module", "load_tensor_model", "save_tensor_model"]

_EXTRA = "shipyard.json"


def export_module(model: Any, example: Any) -> Any:
    """The ``torch.export`` program of ``model`` on ``example`` (NumPy array or tensor), its first
    dimension dynamic (the batch). InvalidInput when the module cannot be exported."""
    import numpy as np
    import torch

    if not isinstance(model, torch.nn.Module):
        raise InvalidInput(f"shipyard.pytorch needs a torch.nn.Module, got {type(model).__qualname__}")
    if example is None:
        raise InvalidInput("shipyard.pytorch needs an input_example: the model is exported with torch.export on "
                           "it, and its shape and dtype become the input's contract")
    tensor = example if isinstance(example, torch.Tensor) else torch.from_numpy(np.array(example))  # a copy: writable
    tensor = tensor.float() if tensor.is_floating_point() else tensor.long()
    try:
        return torch.export.export(model.eval(), (tensor,), dynamic_shapes=({0: torch.export.Dim.DYNAMIC},))
    except Exception as exc:  # torch raises many classes (Unsupported, UserError, guard failures ...)
        raise InvalidInput(f"torch.export cannot export the {type(model).__qualname__} on the input example: "
                           f"{exc}") from exc


def as_onnx_bytes(model: Any) -> bytes:
    """The serialized graph of an ``onnx.ModelProto``, ONNX bytes or a path to a ``.onnx`` file."""
    import os

    if isinstance(model, bytes | bytearray):
        return bytes(model)
    if isinstance(model, str | os.PathLike):
        try:
            with open(model, "rb") as fh:
                return fh.read()
        except OSError as exc:
            raise InvalidInput(f"cannot read the ONNX file {os.fspath(model)!r}: {exc.strerror}") from None
    serialize = getattr(model, "SerializeToString", None)
    if callable(serialize):
        return bytes(serialize())
    raise InvalidInput(f"an ONNX model is an onnx.ModelProto, bytes or a .onnx path, not {type(model).__qualname__}")


def save_tensor_model(flavor: str, model: Any) -> tuple[str, str, str, bytes]:
    """(file name, serialization, model class, bytes) of a pytorch or onnx model."""
    from shipyard.models._tensor_models import OnnxModel, TorchModel

    if flavor == "onnx":
        data = model.data if isinstance(model, OnnxModel) else as_onnx_bytes(model)
        return "model.onnx", "onnx", "onnx.ModelProto", data
    import torch

    if not isinstance(model, TorchModel):
        raise InvalidInput("save a torch module with shipyard.pytorch.log_model / save_model (it needs the input "
                           "example to export the module)")
    meta = {"input_name": model.input_name, "input_shape": model.input_shape, "input_kind": model.input_kind,
            "classes": None if model.classes_ is None else model.classes_.tolist()}
    buf = io.BytesIO()
    torch.export.save(model.program, buf, extra_files={_EXTRA: orjson.dumps(meta).decode()})
    return "model.pt2", "torch-export", "torch.export.ExportedProgram", buf.getvalue()


def load_tensor_model(kind: str, data: bytes) -> Any:
    """The OnnxModel or TorchModel of verified model-file bytes."""
    from shipyard.models._tensor_models import OnnxModel, TorchModel

    if kind == "onnx":
        return OnnxModel(data)
    import torch

    extra = {_EXTRA: ""}
    program = torch.export.load(io.BytesIO(data), extra_files=extra)
    meta = orjson.loads(extra[_EXTRA] or b"{}")
    return TorchModel(program, meta.get("input_shape"), meta.get("input_kind", "float"),
                      meta.get("input_name", "input"), meta.get("classes"))
