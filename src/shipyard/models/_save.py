"""save_model: write a model directory atomically, with its manifest, signature and hashes.

The directory is built in a temporary sibling (``.<name>.tmp-<random>``) and renamed into place
only when complete, so a reader never sees half a model and a failed save leaves nothing behind
(a full disk is a :class:`~shipyard.errors.StorageFull` after the temporary directory is removed).
Files are not fsync'ed (speed); a model torn by a crash fails its hash check on load instead.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.artifacts.base import storage_errors
from shipyard.errors import Conflict, InvalidInput
from shipyard.models import _flavors
from shipyard.models._manifest import MANIFEST_NAME, ModelManifest, hash_tree
from shipyard.models._signature import Signature, columns_of, infer_signature, type_of

__all__ = ["save_model"]

logger = logging.getLogger(__name__)

INPUT_EXAMPLE = "input_example.json"
REFERENCE_PROFILE = "reference_profile.json"
PREDICTION_PROFILE = "prediction_profile.json"
_PREDICTION_SAMPLE = 50_000  # rows of the training data the model predicts on for its prediction profile


def _shipyard_version() -> str:
    import shipyard

    return getattr(shipyard, "__version__", "")


def _check_destination(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InvalidInput(f"{dest} exists and is not an empty directory; save the model to a new path")


def _publish(tmp: Path, dest: Path) -> None:
    try:
        os.rename(tmp, dest)  # POSIX: atomic, also over an empty directory
    except OSError as exc:
        if dest.is_dir() and not any(dest.iterdir()):  # Windows: rename cannot replace a directory
            dest.rmdir()
            os.rename(tmp, dest)
            return
        raise Conflict(f"{dest} appeared while the model was being saved; save it to a new path") from exc


def _json_values(values: Any) -> list[Any]:
    arr = values.to_numpy() if hasattr(values, "to_numpy") else np.asarray(values)
    if arr.dtype.kind == "M":
        return [None if np.isnat(v) else str(v) for v in arr]
    if arr.dtype.kind == "f":
        return [None if v != v else v for v in arr.tolist()]
    return arr.tolist()


def _write_json(file: Path, doc: Any) -> None:
    import orjson

    file.write_bytes(orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS))


def _write_input_example(tmp: Path, example: Any, names: Sequence[str] | None) -> None:
    columns = columns_of(example, names)
    values = [_json_values(v) for v in columns.values()]
    rows = [list(row) for row in zip(*values, strict=True)]
    _write_json(tmp / INPUT_EXAMPLE, {"columns": list(columns), "data": rows})


def _fallback_profile(data: Any, names: list[str] | None) -> dict[str, Any]:
    """A small per-column summary, used only while ``shipyard.drift`` is not available."""
    out: dict[str, Any] = {}
    for name, values in columns_of(data, names).items():
        kind = type_of(values)
        arr = values.to_numpy() if hasattr(values, "to_numpy") else np.asarray(values)
        col: dict[str, Any] = {"dtype": kind, "count": len(arr)}
        if arr.dtype.kind in "biuf":
            num = arr.astype(np.float64)
            ok = num[~np.isnan(num)]
            col["missing"] = int(len(num) - len(ok))
            qs = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
            col["quantiles"] = dict(zip(map(str, qs), np.quantile(ok, qs).tolist(), strict=True)) if len(ok) else {}
        else:
            missing = np.array([v is None or v != v for v in arr.tolist()], dtype=bool)
            col["missing"] = int(missing.sum())
            labels, counts = np.unique(arr[~missing].astype(str), return_counts=True)
            top = np.argsort(-counts, kind="stable")[:100]
            col["categories"] = {str(labels[i]): int(counts[i]) for i in top}
        out[name] = col
    return {"kind": "shipyard.models.fallback_profile", "columns": out}


def _reference_profile(training_data: Any, signature: Signature | None) -> dict[str, Any]:
    names = None  # a bare 2-D array takes the signature's column names, so monitoring can match them
    if signature is not None and isinstance(training_data, np.ndarray) and training_data.ndim == 2:
        names = signature.input_names if training_data.shape[1] == len(signature.inputs) else None
    try:
        from shipyard.drift import profile
    except (ImportError, AttributeError):
        logger.info("shipyard.drift is not available; writing a basic reference profile")
        return _fallback_profile(training_data, names)
    return profile(training_data, columns=names).to_dict()


def _sample_rows(data: Any, limit: int) -> Any:
    """At most ``limit`` rows spread evenly over ``data`` (time-ordered data is not cut to its start)."""
    from shipyard.models._signature import _is_frame

    rows = len(next(iter(data.values()))) if isinstance(data, dict) else len(data)
    if rows <= limit:
        return data
    index = np.linspace(0, rows - 1, limit).astype(np.int64)
    if _is_frame(data):
        return data.iloc[index]
    if isinstance(data, dict):
        return {k: np.asarray(v)[index] for k, v in data.items()}
    return np.asarray(data)[index]


def _prediction_profile(model: Any, flavor: str, signature: Signature | None,
                        training_data: Any) -> dict[str, Any] | None:
    """The profile of the model's own predictions on its training data: the reference that
    monitoring's prediction-drift check compares served predictions with. None when the model
    cannot predict on the training data as given (a warning says why)."""
    from shipyard.models._pyfunc import PyFuncModel

    try:
        from shipyard.drift import profile

        preds = PyFuncModel(model, flavor=flavor, signature=signature).predict(
            _sample_rows(training_data, _PREDICTION_SAMPLE))
        preds = np.asarray(preds)
        if preds.ndim != 1:
            return None  # multi-output models: no single prediction column to compare
        return profile({"prediction": preds}).to_dict()
    except Exception as exc:
        logger.warning("no prediction profile: the model could not predict on training_data (%r)", exc)
        return None


def _model_feature_names(model: Any) -> list[str] | None:
    names = getattr(model, "feature_names_in_", None)
    if names is None and type(model).__name__ == "Booster":
        names = getattr(model, "feature_names", None)  # xgboost.Booster trained on a DataFrame
    return None if names is None else [str(n) for n in names]


def _infer_from_example(model: Any, flavor: str, example: Any) -> Signature:
    from shipyard.models._pyfunc import PyFuncModel
    from shipyard.models._signature import _is_frame

    positional = not (_is_frame(example) or isinstance(example, dict | list))
    inputs = infer_signature(example, feature_names=_model_feature_names(model) if positional else None)
    try:
        output = PyFuncModel(model, flavor=flavor, signature=inputs).predict(example)
    except Exception as exc:
        logger.warning("could not predict on the input example (%r); the signature has no outputs", exc)
        return inputs
    return infer_signature(example, output, feature_names=[c.name for c in inputs.inputs])


def _infer_from_training(model: Any, flavor: str, training_data: Any) -> Signature:
    """The signature of a model logged with ``training_data`` but no input example: column types
    and gaps from all of the data (so every column that may be null is known), outputs from the
    model's prediction on a few rows."""
    from shipyard.models._pyfunc import PyFuncModel
    from shipyard.models._signature import _is_frame

    positional = not (_is_frame(training_data) or isinstance(training_data, dict | list))
    inputs = infer_signature(training_data, feature_names=_model_feature_names(model) if positional else None)
    try:
        output = PyFuncModel(model, flavor=flavor, signature=inputs).predict(_sample_rows(training_data, 20))
    except Exception as exc:
        logger.warning("could not predict on training_data (%r); the signature has no outputs", exc)
        return inputs
    return Signature(inputs.inputs, infer_signature(_sample_rows(training_data, 20), output,
                                                    feature_names=inputs.input_names).outputs)


def _optional_from(signature: Signature, training_data: Any) -> Signature:
    """An inferred signature whose columns that have gaps in the training data are optional (an
    input example of a few rows seldom shows every column that may be missing)."""
    from shipyard.models._signature import ColSpec, has_missing

    try:
        columns = columns_of(training_data, signature.input_names if isinstance(training_data, np.ndarray) else None)
    except InvalidInput:
        return signature
    inputs = tuple(ColSpec(c.name, c.type, False) if c.required and c.name in columns
                   and has_missing(columns[c.name]) else c for c in signature.inputs)
    return Signature(inputs, signature.outputs)


def _copy_code(tmp: Path, code_paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    names = []
    for item in code_paths:
        src = Path(item)
        target = tmp / "code" / src.name
        if target.exists():
            raise InvalidInput(f"two code_paths are named {src.name!r}; rename one")
        target.parent.mkdir(exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif src.is_file():
            shutil.copy2(src, target)
        else:
            raise InvalidInput(f"code path {src} does not exist")
        names.append(f"code/{src.name}")
    return names


def _copy_artifacts(tmp: Path, artifacts: dict[str, str | os.PathLike[str]]) -> dict[str, str]:
    """Copy each local file or folder of ``artifacts`` under ``artifacts/<name>/``; name -> path."""
    import re

    out = {}
    for name, local in artifacts.items():
        if not re.fullmatch(r"[\w.\-]+", name) or name in (".", ".."):
            raise InvalidInput(f"artifact name {name!r} may hold only letters, digits, '_', '-' and '.'")
        src = Path(local)
        target = tmp / "artifacts" / name / src.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif src.is_file():
            shutil.copy2(src, target)
        else:
            raise InvalidInput(f"artifact {name!r}: nothing at {str(local)!r}")
        out[name] = target.relative_to(tmp).as_posix()
    return out


def save_model(
    path: str | os.PathLike[str],
    model: Any,
    *,
    flavor: str | None = None,
    signature: Signature | None = None,
    input_example: Any = None,
    training_data: Any = None,
    pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    artifacts: dict[str, str | os.PathLike[str]] | None = None,
    model_config: dict[str, Any] | None = None,
) -> ModelManifest:
    """Save ``model`` as a directory at ``path`` and return its manifest.

    - ``flavor``: ``"sklearn"``, ``"xgboost"``, ``"lightgbm"`` or ``"pyfunc"``; detected when None.
    - ``signature``: inferred from ``input_example`` and the model's prediction on it when None.
    - ``input_example``: a few rows (DataFrame, dict of columns, records or 2-D array), saved as JSON.
    - ``training_data``: profiled into ``reference_profile.json`` (the drift reference), and the
      model's predictions on it into ``prediction_profile.json`` (the prediction-drift reference).
    - ``pip_requirements``: recorded as given; by default ``name==version`` of the libraries found.
    - ``code_paths``: files or folders copied into ``code/`` and put on ``sys.path`` at load.
    - ``artifacts``: ``{name: local file or folder}`` copied into ``artifacts/``; a custom model finds
      them in ``context.artifacts[name]`` (MLflow's spelling). ``model_config`` reaches it as
      ``context.model_config``.

    Security: sklearn, LightGBM-wrapper and custom models are pickled (cloudpickle when installed).
    Unpickling runs code, so ``load_local_model`` only unpickles after every file's SHA-256 matched
    the manifest; still, load models only from stores you trust.

    Raises InvalidInput if ``path`` exists and is not an empty directory, or the model cannot be
    serialized (nothing is left behind).
    """
    dest = Path(path)
    _check_destination(dest)
    flavor = _flavors.detect_flavor(model, flavor)
    with storage_errors(str(dest.parent)):
        return _save_into(dest, model, flavor=flavor, signature=signature, input_example=input_example,
                          training_data=training_data, pip_requirements=pip_requirements, metadata=metadata,
                          code_paths=code_paths, artifacts=artifacts, model_config=model_config)


def _save_into(dest: Path, model: Any, *, flavor: str, signature: Signature | None, input_example: Any,
               training_data: Any, pip_requirements: list[str] | None, metadata: dict[str, Any] | None,
               code_paths: Sequence[str | os.PathLike[str]] | None,
               artifacts: dict[str, str | os.PathLike[str]] | None = None,
               model_config: dict[str, Any] | None = None) -> ModelManifest:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    try:
        code = _copy_code(tmp, code_paths or [])
        copied = _copy_artifacts(tmp, artifacts or {})
        saved = _flavors.save(flavor, model, tmp)
        if signature is None and input_example is not None:
            signature = _infer_from_example(model, flavor, input_example)
            if training_data is not None:
                signature = _optional_from(signature, training_data)
        elif signature is None and training_data is not None:
            signature = _infer_from_training(model, flavor, training_data)
        if input_example is not None:
            positional = signature is not None and not isinstance(input_example, dict | list)
            _write_input_example(tmp, input_example,
                                 signature.input_names if signature is not None and positional else None)
        prediction_profile = None
        if training_data is not None:
            _write_json(tmp / REFERENCE_PROFILE, _reference_profile(training_data, signature))
            prediction_profile = _prediction_profile(model, flavor, signature, training_data)
            if prediction_profile is not None:
                _write_json(tmp / PREDICTION_PROFILE, prediction_profile)
        libraries = saved.libraries
        manifest = ModelManifest(
            flavor=flavor,
            model_file=saved.model_file,
            serialization=saved.serialization,
            model_class=saved.model_class,
            python_version=platform.python_version(),
            created_at_ms=time.time_ns() // 1_000_000,
            shipyard_version=_shipyard_version(),
            libraries=libraries,
            pip_requirements=list(pip_requirements)
            if pip_requirements is not None
            else [f"{k}=={v}" for k, v in libraries.items()],
            signature=signature,
            input_example=INPUT_EXAMPLE if input_example is not None else None,
            reference_profile=REFERENCE_PROFILE if training_data is not None else None,
            prediction_profile=PREDICTION_PROFILE if prediction_profile is not None else None,
            code_paths=code,
            metadata=dict(metadata or {}),
            files=hash_tree(tmp, saved.hashes),
            artifacts=copied,
            model_config=dict(model_config or {}),
        )
        raw = manifest.dump()
        (tmp / MANIFEST_NAME).write_bytes(raw)
        _publish(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    import hashlib

    manifest.path = dest
    manifest.digest = hashlib.sha256(raw).hexdigest()
    return manifest
