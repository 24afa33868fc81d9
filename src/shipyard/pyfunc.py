"""Custom Python models: subclass ``PythonModel`` (or pass any object with ``predict``).

    class Ensemble(shipyard.pyfunc.PythonModel):
        def predict(self, model_input): ...           # or MLflow's predict(self, context, model_input, params=None)

    shipyard.pyfunc.log_model(python_model=Ensemble(), name="model", artifacts={"rf": "runs:/<run>/rf"})
    model = shipyard.pyfunc.load_model("models:/churn@champion")   # PyFuncModel, any flavor
"""

from __future__ import annotations

import os
from typing import Any

from shipyard.models import PythonModel, PythonModelContext

__all__ = ["PythonModel", "PythonModelContext", "load_model", "log_model", "save_model"]


def log_model(artifact_path: str | None = None, python_model: Any = None, **kwargs: Any) -> Any:
    """Log a custom model (MLflow's ``name=``, ``artifacts=``, ``code_paths=`` work; see
    :func:`shipyard.models._log.log_model`)."""
    from shipyard.errors import InvalidInput
    from shipyard.models._log import log_model as _log

    for unsupported in ("loader_module", "data_path"):
        if kwargs.pop(unsupported, None) is not None:
            raise InvalidInput(f"pyfunc.log_model({unsupported}=...) is not supported: pass python_model=")
    return _log(python_model, artifact_path, flavor="pyfunc", **kwargs)


def save_model(path: str | os.PathLike[str], python_model: Any = None, **kwargs: Any) -> Any:
    from shipyard.models import save_model as _save

    return _save(path, python_model, flavor="pyfunc", **kwargs)


def load_model(model_uri: str) -> Any:
    """Any logged model, of any flavor, behind the uniform checked ``predict()``."""
    from shipyard.models._log import load_model as _load

    return _load(model_uri)
