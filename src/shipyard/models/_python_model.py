"""The base class of custom ("pyfunc") models: any Python code behind one predict()."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

__all__ = ["PythonModel", "PythonModelContext"]


@dataclass(frozen=True, slots=True)
class PythonModelContext:
    """What :meth:`PythonModel.load_context` receives when a saved model is loaded.

    ``model_dir`` is the verified model directory, ``code_dir`` the folder holding the saved
    ``code_paths`` (already on ``sys.path``), ``metadata`` the manifest's metadata.
    """

    model_dir: Path
    code_dir: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class PythonModel:
    """Subclass this for models that are code: pre/post-processing, ensembles, rules, wrappers.

    The instance is pickled (with cloudpickle when installed) by ``save_model``, so whatever it
    holds must pickle; heavy resources can be rebuilt in :meth:`load_context`, which runs once after
    loading. ``predict`` receives the input checked against the signature, as a pandas DataFrame
    with the signature's columns in order (``input_format = "dataframe"``, the default) or as a 2-D
    NumPy array (``input_format = "numpy"``, fastest for numeric models).

    Any object with a ``predict`` method is accepted as a custom model too; it gets a NumPy array
    when every signature column is numeric and it has no ``feature_names_in_`` (or a copy of it
    without them answers the same on arrays: ``shipyard.models._positional``), else a DataFrame.
    """

    input_format: ClassVar[str] = "dataframe"

    def load_context(self, context: PythonModelContext) -> None:
        """Called once after the model is loaded; override to open files, warm caches, ..."""

    def predict(self, model_input: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement predict(model_input)")
