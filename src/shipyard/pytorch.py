"""`shipyard.pytorch.log_model(model, "model", input_example=..., training_data=...)`.

The module is exported with ``torch.export`` on the input example (its first dimension dynamic),
so it loads and serves without its training code. The input example fixes the input's
shape (its first dimension is the batch) and dtype; requests of another shape or dtype are refused
with a message naming the input. ``load_model`` returns the model behind ``predict`` (NumPy array,
DataFrame, dict of columns or tensor in; NumPy out).

A classifier whose module ends in a sigmoid or softmax is logged with ``classes=[0, 1]`` (its labels,
in the order of the output's columns): ``predict`` then answers labels and ``predict_proba`` the
probabilities, so the prediction log, monitors and canaries see it as a classifier (roc_auc, log_loss).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from shipyard._flavor_face import flavor_functions
from shipyard.errors import InvalidInput

__all__ = ["load_model", "log_model", "save_model", "wrap"]

_log, _save, load_model = flavor_functions("pytorch")


def _array(example: Any) -> np.ndarray:
    if hasattr(example, "detach"):
        return example.detach().cpu().numpy()  # type: ignore[no-any-return]
    if hasattr(example, "to_numpy"):
        return np.asarray(example.to_numpy())
    if isinstance(example, dict):
        return np.column_stack([np.asarray(v) for v in example.values()])
    return np.asarray(example)


def wrap(model: Any, input_example: Any, classes: Sequence[Any] | None = None) -> Any:
    """The TorchModel that log_model saves: exported on ``input_example``, whose trailing shape and
    dtype kind become the input's contract; with ``classes``, a classifier whose output on the
    example must be their probabilities (InvalidInput otherwise, at logging rather than serving)."""
    from shipyard.models._tensor_models import TorchModel
    from shipyard.models._tensor_save import export_module

    if isinstance(model, TorchModel):
        return model
    arr = None if input_example is None else _array(input_example)
    program = export_module(model, arr)
    assert arr is not None  # export_module refused a missing example
    kind = "int" if arr.dtype.kind in "biu" else "float"
    if classes is not None and (len(classes) < 2 or len(set(classes)) != len(classes)):
        raise InvalidInput(f"classes must name two or more distinct labels, got {list(classes)!r}")
    wrapped = TorchModel(program, [None, *arr.shape[1:]], kind, classes=None if classes is None else list(classes))
    if classes is not None:  # a module without its sigmoid / softmax is refused here, not when serving
        from shipyard.models._tensor_models import class_probabilities

        class_probabilities(wrapped._forward(arr), len(classes), check=True)
    return wrapped


def _tabular(input_example: Any) -> Any:
    """The example as the signature sees it: tables as given, tensors of rank > 2 left out (their
    contract is the shape check of the saved model)."""
    if input_example is None:
        return None
    if hasattr(input_example, "detach"):
        input_example = input_example.detach().cpu().numpy()
    return input_example if isinstance(input_example, dict | list) or np.ndim(input_example) <= 2 else None


def log_model(pytorch_model: Any, artifact_path: str | None = None, *, input_example: Any = None,
              classes: Sequence[Any] | None = None, **kwargs: Any) -> Any:
    """Log a ``torch.nn.Module`` to the active run exported with torch.export (keywords of
    ``shipyard.models.log_model``: ``training_data``, ``registered_model_name`` ...); ``classes``
    makes it a classifier (see the module docstring)."""
    return _log(wrap(pytorch_model, input_example, classes), artifact_path, input_example=_tabular(input_example),
                **kwargs)


def save_model(pytorch_model: Any, path: str | os.PathLike[str], *, input_example: Any = None,
               classes: Sequence[Any] | None = None, **kwargs: Any) -> Any:
    """Save a ``torch.nn.Module`` as a verified, exported model directory at ``path``."""
    return _save(wrap(pytorch_model, input_example, classes), path, input_example=_tabular(input_example), **kwargs)
