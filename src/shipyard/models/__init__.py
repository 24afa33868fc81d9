"""Model packaging: save a model as a verified directory, load it back behind a checked predict().

A model directory holds the serialized model, ``MLmodel.yaml`` (flavor, library versions,
signature, SHA-256 of every other file) and optionally ``input_example.json``,
``reference_profile.json`` and ``code/``::

    from shipyard.models import save_model, load_local_model

    save_model("out/model", pipeline, input_example=X[:5], training_data=X)
    model = load_local_model("out/model")      # verifies every hash before unpickling anything
    model.predict({"age": [41.0], "income": [52_000.0]})

The tracking and registry layers upload these directories and resolve ``runs:/`` and
``models:/`` URIs to them; this package only deals with local paths.
"""

from __future__ import annotations

from shipyard.models._evaluate import EvaluationResult, evaluate
from shipyard.models._manifest import ModelManifest, read_manifest
from shipyard.models._pyfunc import (
    PyFuncModel,
    load_local_model,
    load_native,
    load_prediction_profile,
    load_reference_profile,
)
from shipyard.models._python_model import PythonModel, PythonModelContext
from shipyard.models._save import save_model
from shipyard.models._signature import ColSpec, Signature, TensorSpec, infer_signature

ModelSignature = Signature  # MLflow's name: from mlflow.models import ModelSignature

__all__ = [
    "ColSpec",
    "EvaluationResult",
    "ModelManifest",
    "ModelSignature",
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "Signature",
    "TensorSpec",
    "evaluate",
    "infer_signature",
    "load_local_model",
    "load_native",
    "load_prediction_profile",
    "load_reference_profile",
    "read_manifest",
    "save_model",
]
