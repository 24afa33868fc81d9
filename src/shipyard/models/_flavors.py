"""Flavors: how each kind of model is recognised, written to disk and read back.

=========  ==========================================  ==========================================
flavor     recognised by                               file
=========  ==========================================  ==========================================
sklearn    a class from the ``sklearn`` package in     ``model.pkl`` (cloudpickle, else pickle)
           its MRO (estimators, Pipelines, ...)
xgboost    ``xgboost.Booster`` / ``XGBModel`` wrappers ``model.ubj`` (xgboost's native UBJSON;
                                                       wrappers keep their class and sklearn attrs)
lightgbm   ``lightgbm.Booster`` / ``LGBMModel``        ``model.txt`` (native text) for a Booster,
                                                       ``model.pkl`` for the sklearn wrappers
pytorch    ``shipyard.pytorch``'s wrapper of a         ``model.pt2`` (``torch.export``; the input
           ``torch.nn.Module`` exported on the input   shape and dtype ride in its extra files)
           example
onnx       an ``onnx.ModelProto`` or an ONNX model     ``model.onnx`` (run by onnxruntime)
           ``shipyard.onnx.log_model`` read
pyfunc     a :class:`PythonModel` or any object with   ``model.pkl`` (cloudpickle, else pickle)
           a ``predict`` method
=========  ==========================================  ==========================================

Detection looks at the module names of the object's classes, so nothing is imported for it.

Security: a pickle runs code when it is loaded. A model directory is only ever unpickled through
:func:`load`, which takes bytes that :func:`~shipyard.models._manifest.read_verified` checked
against the manifest's SHA-256, after every other file of the directory was verified. Native
xgboost / LightGBM formats run no code at all. Only load models from stores you trust.

Library versions come from ``importlib.metadata`` for the distributions whose classes the pickle
actually references (recorded while pickling), never by importing or scanning for requirements.
"""

from __future__ import annotations

import functools
import importlib.metadata as im
import pickle
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidInput
from shipyard.models._python_model import PythonModel

__all__ = ["FLAVORS", "Saved", "detect_flavor", "library_versions", "load", "save"]

FLAVORS = ("lightgbm", "onnx", "pyfunc", "pytorch", "sklearn", "xgboost")
_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "sklearn": ("scikit-learn",),
    "xgboost": ("xgboost", "xgboost-cpu"),
    "yaml": ("pyyaml",),
    "PIL": ("pillow",),
    "cv2": ("opencv-python", "opencv-python-headless"),
    "skimage": ("scikit-image",),
}
_FLAVOR_LIBRARIES = {  # shipyard itself is the loader of every flavor
    "sklearn": ("sklearn", "numpy", "shipyard"),
    "xgboost": ("xgboost", "numpy", "shipyard"),
    "lightgbm": ("lightgbm", "numpy", "shipyard"),
    "pyfunc": ("numpy", "shipyard"),
    "pytorch": ("torch", "numpy", "shipyard"),
    "onnx": ("onnxruntime", "numpy", "shipyard"),
}
_TENSOR_MODELS = {"OnnxModel": "onnx", "TorchModel": "pytorch"}
_SKIP_ROOTS = frozenset(sys.stdlib_module_names) | {"builtins", "__main__", "copyreg"}


@dataclass(slots=True)
class Saved:
    model_file: str
    serialization: str
    model_class: str
    libraries: dict[str, str]
    hashes: dict[str, str] = field(default_factory=dict)


def _roots(model: Any) -> list[str]:
    return [(getattr(cls, "__module__", None) or "").partition(".")[0] for cls in type(model).__mro__]


def _qualname(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def detect_flavor(model: Any, flavor: str | None = None) -> str:
    """The flavor of ``model`` (or check that the given ``flavor`` fits it)."""
    roots = _roots(model)
    own = _TENSOR_MODELS.get(type(model).__name__) if type(model).__module__.endswith("_tensor_models") else None
    detected = (
        own
        if own is not None
        else "pytorch"  # a module with its own predict() stays a pickled pyfunc model, as before
        if "torch" in roots and not callable(getattr(model, "predict", None))
        else "onnx"
        if "onnx" in roots
        else "xgboost"
        if "xgboost" in roots
        else "lightgbm"
        if "lightgbm" in roots
        else "sklearn"
        if "sklearn" in roots
        else "pyfunc"
        if isinstance(model, PythonModel) or callable(getattr(model, "predict", None))
        else None
    )
    if flavor is None:
        if detected is None:
            raise InvalidInput(
                f"cannot save a {_qualname(model)}: it is no sklearn, xgboost or lightgbm model and has "
                "no predict() method; wrap it in a shipyard.models.PythonModel subclass"
            )
        return detected
    if flavor not in FLAVORS:
        raise InvalidInput(f"unknown flavor {flavor!r}; use one of {list(FLAVORS)} or None to detect it")
    if flavor == "pyfunc":
        if not callable(getattr(model, "predict", None)):
            raise InvalidInput(f"flavor 'pyfunc' needs an object with a predict() method, got {_qualname(model)}")
    elif flavor not in (detected, "sklearn" if detected in ("xgboost", "lightgbm") else None):
        raise InvalidInput(f"flavor {flavor!r} does not fit a {_qualname(model)} (detected {detected!r})")
    return flavor


def _version(root: str) -> tuple[str, str] | None:
    for dist in _DISTRIBUTIONS.get(root, (root,)):
        try:
            return dist, im.version(dist)
        except (im.PackageNotFoundError, ValueError):
            continue
    return None


def library_versions(roots: set[str] | tuple[str, ...]) -> dict[str, str]:
    """``{distribution: version}`` for top-level module names, from installed metadata only."""
    found = (_version(r) for r in sorted(set(roots) - _SKIP_ROOTS) if r and not r.startswith("_"))
    return dict(sorted(v for v in found if v is not None))


# --- pickling ---------------------------------------------------------------------------------


@functools.cache
def _pickler() -> tuple[str, type]:
    """(name, Pickler subclass that notes the top-level module of every class and function it meets)."""
    try:
        import cloudpickle

        name, base = "cloudpickle", cloudpickle.Pickler
    except ImportError:  # pragma: no cover - cloudpickle is optional
        name, base = "pickle", pickle.Pickler

    class RecordingPickler(base):  # type: ignore[misc, valid-type]
        def __init__(self, file: Any) -> None:
            super().__init__(file, protocol=5)
            self.roots: set[str] = set()

        def reducer_override(self, obj: Any) -> Any:
            owner = obj if isinstance(obj, type) or callable(obj) else type(obj)
            self.roots.add((getattr(owner, "__module__", None) or "").partition(".")[0])
            self.roots.add(type(obj).__module__.partition(".")[0])
            parent = getattr(super(), "reducer_override", None)
            return NotImplemented if parent is None else parent(obj)

    return name, RecordingPickler


class _HashingFile:
    def __init__(self, fh: Any) -> None:
        import hashlib

        self.fh = fh
        self.sha = hashlib.sha256()

    def write(self, data: Any) -> int:
        self.sha.update(data)
        return self.fh.write(data)


def _pickle(model: Any, directory: Path, flavor: str) -> Saved:
    pickler_name, pickler_class = _pickler()
    with open(directory / "model.pkl", "wb") as fh:
        out = _HashingFile(fh)
        pickler = pickler_class(out)
        try:
            pickler.dump(model)
        except OSError as exc:
            if exc.errno is not None:
                raise  # the disk, not the model (save_model turns a full disk into StorageFull)
            raise InvalidInput(f"cannot serialize the {_qualname(model)} with {pickler_name}: {exc}") from exc
        except Exception as exc:
            raise InvalidInput(
                f"cannot serialize the {_qualname(model)} with {pickler_name}: {exc}. Models must pickle: "
                "drop open files, locks and connections, or rebuild them in PythonModel.load_context"
            ) from exc
    roots = pickler.roots | set(_FLAVOR_LIBRARIES[flavor]) | ({pickler_name} if pickler_name != "pickle" else set())
    return Saved(
        "model.pkl",
        pickler_name,
        _qualname(model),
        library_versions(roots),
        {"model.pkl": out.sha.hexdigest()},
    )


def save(flavor: str, model: Any, directory: Path) -> Saved:
    """Write the model file of ``model`` into ``directory``."""
    cls = type(model)
    if flavor in ("pytorch", "onnx"):
        from shipyard.models._tensor_save import save_tensor_model

        file, kind, qualname, data = save_tensor_model(flavor, model)
        (directory / file).write_bytes(data)
        return Saved(file, kind, qualname, library_versions(_FLAVOR_LIBRARIES[flavor]))
    if flavor == "xgboost":
        import xgboost

        if cls is xgboost.Booster or getattr(xgboost, cls.__name__, None) is cls:
            model.save_model(str(directory / "model.ubj"))
            wrapper = {"sklearn"} if cls is not xgboost.Booster else set()
            libs = library_versions(set(_FLAVOR_LIBRARIES["xgboost"]) | wrapper)
            return Saved("model.ubj", "xgboost-ubj", _qualname(model), libs)
    if flavor == "lightgbm":
        import lightgbm

        if cls is lightgbm.Booster:
            model.save_model(str(directory / "model.txt"))
            return Saved(
                "model.txt", "lightgbm-text", _qualname(model), library_versions(_FLAVOR_LIBRARIES["lightgbm"])
            )
    return _pickle(model, directory, flavor)


def load(manifest: Any, data: bytes) -> Any:
    """Deserialize verified model-file bytes according to the manifest's serialization."""
    kind = manifest.serialization
    if kind in ("cloudpickle", "pickle"):
        return pickle.loads(data)
    if kind.startswith("mlflow-"):
        from shipyard.models._mlflow_dir import load_mlflow_model

        return load_mlflow_model(manifest, data)
    if kind == "xgboost-ubj":
        import xgboost

        name = manifest.model_class.rpartition(".")[2]
        cls = getattr(xgboost, name, None)
        if not (isinstance(cls, type) and (cls is xgboost.Booster or issubclass(cls, xgboost.XGBModel))):
            raise InvalidInput(f"unknown xgboost model class {manifest.model_class!r}")
        model = cls()
        model.load_model(bytearray(data))
        return model
    if kind in ("torch-export", "onnx"):
        from shipyard.models._tensor_save import load_tensor_model

        return load_tensor_model(kind, data)
    if kind == "lightgbm-text":
        import lightgbm

        return lightgbm.Booster(model_str=data.decode("utf-8"))
    raise InvalidInput(f"unknown serialization {kind!r}: the model was saved by a newer shipyard; upgrade it")
