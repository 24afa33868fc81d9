"""The base class of custom ("pyfunc") models: any Python code behind one predict()."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

__all__ = ["PythonModel", "PythonModelContext", "predict_call"]


@dataclass(frozen=True, slots=True)
class PythonModelContext:
    """What :meth:`PythonModel.load_context` receives when a saved model is loaded.

    ``model_dir`` is the verified model directory, ``code_dir`` the folder holding the saved
    ``code_paths`` (already on ``sys.path``), ``metadata`` the manifest's metadata, ``artifacts``
    the local path of each file or folder given as ``artifacts={name: ...}`` when it was logged
    (MLflow's ``context.artifacts``), ``model_config`` MLflow's ``model_config``.
    """

    model_dir: Path
    code_dir: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    model_config: dict[str, Any] = field(default_factory=dict)


class PythonModel:
    """Subclass this for models that are code: pre/post-processing, ensembles, rules, wrappers.

    The instance is pickled (with cloudpickle when installed) by ``save_model``, so whatever it
    holds must pickle; heavy resources can be rebuilt in :meth:`load_context`, which runs once after
    loading. ``predict`` receives the input checked against the signature, as a pandas DataFrame
    with the signature's columns in order (``input_format = "dataframe"``, the default) or as a 2-D
    NumPy array (``input_format = "numpy"``, fastest for numeric models).

    MLflow's spelling works too: ``predict(self, context, model_input, params=None)`` gets the
    :class:`PythonModelContext` of :meth:`load_context` and the ``params`` given to
    ``PyFuncModel.predict(data, params=...)``.

    Any object with a ``predict`` method is accepted as a custom model too; it gets a NumPy array
    when every signature column is numeric and it has no ``feature_names_in_`` (or a copy of it
    without them answers the same on arrays: ``shipyard.models._positional``), else a DataFrame.
    """

    input_format: ClassVar[str] = "dataframe"

    def load_context(self, context: PythonModelContext) -> None:
        """Called once after the model is loaded; override to open files, warm caches, ..."""

    def predict(self, model_input: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement predict(model_input)")


def predict_call(model: Any, context: PythonModelContext | None) -> tuple[Any, bool]:
    """(function of (model_input, params), whether it takes params) for a model's ``predict``,
    whichever of shipyard's ``predict(model_input)`` or MLflow's ``predict(context, model_input,
    params=None)`` it spells."""
    predict = model.predict
    try:
        names = [p.name for p in inspect.signature(predict).parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):  # builtins and C extensions
        return (lambda data, params=None: predict(data)), False
    takes_params = "params" in names
    if isinstance(model, PythonModel) and len(names) >= 2 and names[0] != "model_input":
        ctx = context or PythonModelContext(Path("."))
        if takes_params:
            return (lambda data, params=None: predict(ctx, data, params=params)), True
        return (lambda data, params=None: predict(ctx, data)), False
    if takes_params:
        return (lambda data, params=None: predict(data, params=params)), True
    return (lambda data, params=None: predict(data)), False
