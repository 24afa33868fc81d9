"""Model directories written by MLflow (an ``MLmodel`` file): registered, loaded and served by shipyard.

Supported: the ``sklearn`` flavor (``pickle``/``cloudpickle``, and ``skops`` when the skops package
is installed) and ``python_function`` models of a pickled ``mlflow.pyfunc.PythonModel``, with their
``artifacts`` and ``code``. MLflow is not needed: the pickle's references to MLflow's
``PythonModel`` base class are bound to shipyard's.

MLflow writes no hashes. The manifest built here hashes every file of the directory, and its
SHA-256 is what registration records on the version (a column nobody changes afterwards); loading
through ``models:/`` rebuilds it and refuses a directory whose files changed since. A directory
loaded by path (or ``runs:/``, with no registration) is checked against nothing.
"""

from __future__ import annotations

import io
import pickle
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import yaml

from shipyard.errors import IntegrityCheckFailed, InvalidInput
from shipyard.models._manifest import ModelManifest, hash_tree
from shipyard.models._signature import ColSpec, Signature

__all__ = ["MLFLOW_MANIFEST", "load_mlflow_model", "mlflow_manifest"]

MLFLOW_MANIFEST = "MLmodel"
_TYPES = {"double": "float64", "float": "float32", "long": "int64", "integer": "int32", "boolean": "bool",
          "string": "string", "datetime": "datetime", "binary": "object"}


def _signature(doc: dict[str, Any]) -> Signature | None:
    """MLflow's column signature as shipyard's; None for tensor signatures or unnamed columns."""
    raw = (doc.get("signature") or {}).get("inputs")
    if not raw:
        return None
    try:
        columns = orjson.loads(raw) if isinstance(raw, str) else raw
        specs = tuple(ColSpec(str(c["name"]), _TYPES[str(c["type"])], c.get("required", True) is not False)
                      for c in columns)
    except (KeyError, TypeError, orjson.JSONDecodeError):
        return None
    return Signature(inputs=specs) if specs else None


def _created_ms(doc: dict[str, Any]) -> int:
    try:
        return int(datetime.fromisoformat(str(doc["utc_time_created"])).replace(tzinfo=UTC).timestamp() * 1000)
    except (KeyError, ValueError):
        return 0


def mlflow_manifest(path: Path) -> ModelManifest:
    """A manifest for an MLflow model directory, built from ``MLmodel`` and the files' hashes."""
    try:
        doc = yaml.safe_load((path / MLFLOW_MANIFEST).read_bytes())
    except yaml.YAMLError as exc:
        raise IntegrityCheckFailed(f"{path / MLFLOW_MANIFEST} is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("flavors"), dict):
        raise IntegrityCheckFailed(f"{path / MLFLOW_MANIFEST} does not describe an MLflow model")
    flavors = doc["flavors"]
    pyfunc = flavors.get("python_function") or {}
    artifacts: dict[str, str] = {}
    code: list[str] = []
    if "sklearn" in flavors:
        flavor, model_file = "sklearn", str(flavors["sklearn"]["pickled_model"])
        serialization = str(flavors["sklearn"].get("serialization_format") or "cloudpickle")
    elif pyfunc.get("python_model"):
        flavor, model_file, serialization = "pyfunc", str(pyfunc["python_model"]), "cloudpickle"
        artifacts = {str(k): str(v["path"]) for k, v in (pyfunc.get("artifacts") or {}).items()}
    else:
        raise InvalidInput(f"MLflow model at {path} has flavors {sorted(flavors)}: shipyard loads MLflow's "
                           "sklearn flavor and python_function models of a PythonModel")
    if serialization not in ("pickle", "cloudpickle", "skops"):
        raise InvalidInput(f"MLflow model at {path} is serialized as {serialization!r}; shipyard reads pickle, "
                           "cloudpickle and skops")
    code_dir = pyfunc.get("code") or (flavors.get("sklearn") or {}).get("code")
    if code_dir:
        code = [f"{code_dir}/{p.name}" for p in sorted((path / str(code_dir)).iterdir())]
    manifest = ModelManifest(
        flavor=flavor,
        model_file=model_file,
        serialization=f"mlflow-{serialization}",
        model_class="",
        python_version=str(pyfunc.get("python_version") or ""),
        created_at_ms=_created_ms(doc),
        loader_module="shipyard.models._mlflow_dir",
        shipyard_version="",
        libraries={"mlflow": str(doc.get("mlflow_version") or "")},
        signature=_signature(doc),
        code_paths=code,
        files=hash_tree(path),
        artifacts=artifacts,
    )
    raw = manifest.dump()
    import hashlib

    manifest.path = path
    manifest.digest = hashlib.sha256(raw).hexdigest()
    return manifest


class _TypeHints:
    """Stands in for what MLflow 3 pickles with a PythonModel (its predict's type hints), unused here."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.__dict__.update(state if isinstance(state, dict) else {"state": state})


class _Unpickler(pickle.Unpickler):
    """Binds MLflow's PythonModel classes to shipyard's when MLflow is not installed."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return super().find_class(module, name)
        except ImportError:
            if not module.startswith("mlflow"):
                raise
        from shipyard.models._python_model import PythonModel, PythonModelContext

        known = {"PythonModel": PythonModel, "PythonModelContext": PythonModelContext, "_TypeHints": _TypeHints}
        if name in known:
            return known[name]
        raise InvalidInput(f"the model's pickle needs MLflow's {module}.{name}: install mlflow to load it")


def load_mlflow_model(manifest: ModelManifest, data: bytes) -> Any:
    """The model object of verified model-file bytes of an MLflow directory."""
    kind = manifest.serialization.removeprefix("mlflow-")
    if kind == "skops":
        try:
            import skops.io as sio  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            raise InvalidInput("this MLflow model is saved with skops: pip install skops to load it") from None
        return sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    return _Unpickler(io.BytesIO(data)).load()
