"""Loading a model directory, verified, behind one predict() that checks its input.

:func:`load_local_model` reads the manifest, verifies the SHA-256 of every file and only then
deserializes anything. The returned :class:`PyFuncModel` converts input once per call, with the
work decided at load time (see :mod:`shipyard.models._enforce`): a model fitted on NumPy arrays gets
a 2-D float array without any pandas on the path, and so does a scikit-learn model fitted on a
DataFrame of numeric columns whose name-free copy answers the same (see
:mod:`shipyard.models._positional`); other models fitted on a DataFrame get a DataFrame.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from shipyard.errors import IntegrityCheckFailed, InvalidInput
from shipyard.models import _direct, _flavors
from shipyard.models._enforce import InputAdapter, RecordRows
from shipyard.models._manifest import ModelManifest, read_manifest, read_verified, verify_files
from shipyard.models._python_model import PythonModel, PythonModelContext, predict_call
from shipyard.models._signature import NUMERIC_TYPES, ColSpec, Signature, _is_frame

__all__ = ["PyFuncModel", "load_local_model", "load_native", "load_prediction_profile", "load_reference_profile"]

logger = logging.getLogger(__name__)


def _input_mode(model: Any, signature: Signature) -> str:
    fmt = getattr(model, "input_format", None) if isinstance(model, PythonModel) else None
    if fmt == "dataframe":
        return "frame"
    if fmt == "numpy":
        return "array"
    if fmt is not None:
        raise InvalidInput(f"{type(model).__name__}.input_format must be 'dataframe' or 'numpy', not {fmt!r}")
    return "array" if _numeric(signature) and not hasattr(model, "feature_names_in_") else "frame"


def _numeric(signature: Signature) -> bool:
    return all(c.type in NUMERIC_TYPES or c.type == "bool" for c in signature.inputs)


def _predictors(model: Any, flavor: str) -> tuple[Any, Any]:
    """(predict, predict_proba or None) of a native model."""
    cls = type(model)
    if flavor == "xgboost" and cls.__name__ == "Booster":
        return model.inplace_predict, None
    proba = getattr(model, "predict_proba", None)
    if isinstance(model, PythonModel):
        call, _ = predict_call(model, getattr(model, "_shipyard_context", None))
        return call, proba if callable(proba) else None
    routed = _direct.with_forest_route(model) if flavor == "sklearn" else None
    if routed is not None:  # a forest's trees called directly: see shipyard.models._direct
        return routed.predict, routed.predict_proba if callable(proba) else None
    return model.predict, proba if callable(proba) else None


def _to_numpy(result: Any) -> np.ndarray:
    if isinstance(result, np.ndarray):
        return result
    if _is_frame(result) or hasattr(result, "to_numpy"):
        return result.to_numpy()
    return np.asarray(result)


class PyFuncModel:
    """A loaded model behind a uniform, input-checking ``predict``.

    ``predict(data)`` accepts a pandas DataFrame, a dict of column -> list/array (or scalars for one
    row), a list of dict records, or a 2-D NumPy array (columns by position); columns are matched
    by name and reordered to the signature's order, extra columns are ignored, and a missing or
    mistyped column raises :class:`~shipyard.errors.InvalidInput` naming it. It always returns a
    NumPy array, whatever the input type (a DataFrame returned by a custom model is converted).
    Without a signature, input goes to the model unchecked (dicts and records become a DataFrame).
    """

    def __init__(
        self,
        raw_model: Any,
        *,
        flavor: str,
        signature: Signature | None,
        manifest: ModelManifest | None = None,
    ) -> None:
        self.raw_model = raw_model
        self.flavor = flavor
        self.manifest = manifest
        self._predict, self._proba = _predictors(raw_model, flavor)
        names = getattr(raw_model, "feature_names_in_", None)
        if signature is None and names is not None:
            # no signature recorded, but the model knows its columns: check names, not types
            self._adapter: InputAdapter | None = InputAdapter(
                Signature(inputs=tuple(ColSpec(str(n), "object") for n in names)), "frame"
            )
        elif signature is None:
            self._adapter = None
        else:
            mode = _input_mode(raw_model, signature)
            if mode == "frame" and _numeric(signature) and not isinstance(raw_model, PythonModel):
                mode = self._go_positional(signature)
            if mode == "frame" and names is not None:
                self._fitted_order([str(n) for n in names], signature.input_names)
            self._adapter = InputAdapter(signature, mode)
        self.signature = signature
        # Both outputs from one decision pass (a LogisticRegression, alone or ending a Pipeline), and
        # whether its answer matched the two calls (None: not compared yet)
        self._one_pass = _direct.one_pass(self._predict, self._proba)
        self._one_pass_ok: bool | None = None

    def _fitted_order(self, fitted: list[str], names: list[str]) -> None:
        """A signature whose columns are the fitted ones in another order: the frame (built in the
        signature's order) is put in the fitted order, which scikit-learn insists on."""
        if fitted == names or sorted(fitted) != sorted(names):
            return
        predict, proba = self._predict, self._proba
        self._predict = lambda df: predict(df[fitted])
        self._proba = None if proba is None else (lambda df: proba(df[fitted]))

    def _go_positional(self, signature: Signature) -> str:
        """``"array"`` when a name-free copy of the model answers the same on arrays (then it takes
        the predict calls), else ``"frame"``: see :mod:`shipyard.models._positional`."""
        from shipyard.models._positional import positional_twin

        probe = self._probe_rows(signature)
        try:
            frame, array = InputAdapter(signature, "frame")(probe), InputAdapter(signature, "array")(probe)
        except Exception:  # an example the signature refuses: no probe, so no proof; keep the frame
            return "frame"
        twin = positional_twin(self.raw_model, signature.input_names, frame, array)
        if twin is None:
            return "frame"
        self._predict, self._proba = _predictors(twin, self.flavor)
        return "array"

    def _probe_rows(self, signature: Signature) -> dict[str, list[Any]]:
        """The saved input example, else four rows made up from the signature's column types."""
        try:
            example = self.input_example
        except Exception:  # unreadable example: made-up rows do as well
            example = None
        if example is not None:
            return example
        made = {"bool": [False, True, False, True]}
        return {c.name: made.get(c.type) or ([0, 1, 2, 3] if np.dtype(c.type).kind in "iu" else [0.0, 1.0, -1.5, 2.25])
                for c in signature.inputs}

    def __repr__(self) -> str:
        where = "" if self.manifest is None or self.manifest.path is None else f" from {self.manifest.path}"
        return f"<PyFuncModel {self.flavor} {type(self.raw_model).__name__}{where}>"

    def unwrap_python_model(self) -> Any:
        """The model object itself (MLflow's name; ``raw_model`` here)."""
        return self.raw_model

    @property
    def input_mode(self) -> str:
        """``"array"`` or ``"frame"``: what the model is handed (``"raw"`` without a signature)."""
        return "raw" if self._adapter is None else self._adapter.mode

    @property
    def has_predict_proba(self) -> bool:
        return self._proba is not None

    def prepare(self, data: Any) -> Any:
        """Check ``data`` against the signature and convert it as :meth:`predict` does.

        Raises InvalidInput naming a missing or mistyped column. Serving calls it once per request,
        before requests are batched, so a bad request fails alone.
        """
        if self._adapter is not None:
            return self._adapter(data)
        check = getattr(self.raw_model, "check_input", None)
        if check is not None and self.flavor in ("pytorch", "onnx"):  # tensors: shape and dtype checked here
            return check(data)
        if isinstance(data, dict | list):
            import pandas as pd

            return pd.DataFrame(data)
        return data

    def check(self, data: Any) -> Any:
        """:meth:`prepare` for a serving batch: JSON records of plain numbers come back as
        :class:`RecordRows`, made into the model's input together with other requests' rows by
        :meth:`join` (one array per batch instead of one per request); anything else as ``prepare``
        makes it. Raises what ``prepare`` raises."""
        if self._adapter is not None and type(data) is list:
            rows = self._adapter.check_records(data)
            if rows is not None:
                return rows
        return self.prepare(data)

    def join(self, parts: Sequence[RecordRows]) -> Any:
        """The model's input for the rows of ``parts`` (from :meth:`check`), in order."""
        if self._adapter is None:
            raise InvalidInput("only a model with a signature checks records into RecordRows")
        return self._adapter.join(parts)

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> np.ndarray:
        """Predict on ``data`` (see the class docstring for what is accepted); a NumPy array.

        ``params`` go to a model whose ``predict`` takes them (MLflow's ``predict(context,
        model_input, params=None)``); InvalidInput for a model that takes none.
        """
        if params is None:
            return _to_numpy(self._predict(self.prepare(data)))
        call, takes_params = predict_call(self.raw_model, getattr(self.raw_model, "_shipyard_context", None))
        if not takes_params:
            raise InvalidInput(f"{type(self.raw_model).__name__}.predict takes no params; call predict(data)")
        return _to_numpy(call(self.prepare(data), params))

    def predict_proba(self, data: Any) -> np.ndarray:
        """Class probabilities, for models that have ``predict_proba`` (classifiers)."""
        if self._proba is None:
            raise InvalidInput(
                f"{type(self.raw_model).__name__} has no predict_proba(); use predict() "
                "(check PyFuncModel.has_predict_proba first)"
            )
        return _to_numpy(self._proba(self.prepare(data)))

    def predict_with_proba(self, data: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(predict(data), predict_proba(data))``, checking ``data`` once instead of twice.

        For a LogisticRegression, alone or at the end of a Pipeline, both come from one
        ``decision_function`` call (half the model's cost per batch when serving, a third for a
        Pipeline, whose transforms then run once). The first call also makes the two calls and compares: on any
        difference (a scikit-learn whose formulas changed) the one-pass route is dropped for good.
        """
        if self._proba is None:
            raise InvalidInput(f"{type(self.raw_model).__name__} has no predict_proba(); use predict()")
        prepared = self.prepare(data)
        one_pass = None if self._one_pass_ok is False else self._one_pass
        if one_pass is None:
            return _to_numpy(self._predict(prepared)), _to_numpy(self._proba(prepared))
        preds, proba = one_pass(prepared)
        if self._one_pass_ok is None:
            want = _to_numpy(self._predict(prepared)), _to_numpy(self._proba(prepared))
            self._one_pass_ok = _direct.same(preds, want[0]) and _direct.same(proba, want[1])
            if not self._one_pass_ok:
                logger.warning("%s: one decision pass does not reproduce predict and predict_proba; "
                               "calling both", type(self.raw_model).__name__)
                return want
        return preds, proba

    @property
    def input_example(self) -> dict[str, list[Any]] | None:
        """The saved input example as ``{column: [values]}`` (ready for ``predict``), or None."""
        m = self.manifest
        if m is None or m.input_example is None or m.path is None:
            return None
        import orjson

        doc = orjson.loads(read_verified(m, m.input_example))
        return {c: [row[i] for row in doc["data"]] for i, c in enumerate(doc["columns"])}


@contextlib.contextmanager
def _code_on_path(manifest: ModelManifest) -> Iterator[Path | None]:
    """Put the saved code on sys.path (it stays there) and keep Python from writing __pycache__
    into the verified directory while the model loads."""
    if not manifest.code_paths or manifest.path is None:
        yield None
        return
    code_dir = manifest.path / "code"
    # code/ itself, and (as MLflow does) each folder given as a code path that is no package, so
    # code_paths=[os.getcwd()] makes the modules of that folder importable
    folders = [code_dir] + [code_dir / PurePosixPath(rel).name for rel in manifest.code_paths
                            if (code_dir / PurePosixPath(rel).name).is_dir()
                            and not (code_dir / PurePosixPath(rel).name / "__init__.py").exists()]
    for folder in reversed(folders):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    before = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        yield code_dir
    finally:
        sys.dont_write_bytecode = before


def _verified(path: str | os.PathLike[str], expected_digest: str | None) -> ModelManifest:
    manifest = read_manifest(path)
    if expected_digest is not None and manifest.digest != expected_digest:
        raise IntegrityCheckFailed(
            f"manifest of {manifest.path} has SHA-256 {manifest.digest}, expected {expected_digest}: "
            "the model was modified after it was recorded"
        )
    verify_files(manifest, skip=(manifest.model_file,))
    if manifest.python_version.rpartition(".")[0] != platform.python_version().rpartition(".")[0]:
        logger.warning(
            "model %s was saved with Python %s, loading with %s",
            manifest.path,
            manifest.python_version,
            platform.python_version(),
        )
    return manifest


def _load(manifest: ModelManifest) -> Any:
    data = read_verified(manifest, manifest.model_file)  # hashed bytes are the bytes we deserialize
    with _code_on_path(manifest) as code_dir:
        model = _flavors.load(manifest, data)
        if isinstance(model, PythonModel):
            assert manifest.path is not None
            context = PythonModelContext(manifest.path, code_dir, dict(manifest.metadata),
                                         {k: str(manifest.path / rel) for k, rel in manifest.artifacts.items()},
                                         dict(manifest.model_config))
            model.load_context(context)
            # MLflow's predict(context, model_input) gets the same context (an attribute, as MLflow
            # keeps it on its wrapper; the model is a fresh unpickled object of this load)
            object.__setattr__(model, "_shipyard_context", context)
    return model


def load_native(path: str | os.PathLike[str], *, expected_digest: str | None = None) -> Any:
    """The native model object (sklearn estimator, xgboost Booster, ...) of a verified directory.

    Raises :class:`~shipyard.errors.IntegrityCheckFailed` before deserializing anything if a file
    is missing, changed or unexpected (or the manifest's SHA-256 is not ``expected_digest``).
    """
    return _load(_verified(path, expected_digest))


def load_local_model(path: str | os.PathLike[str], *, expected_digest: str | None = None) -> PyFuncModel:
    """Load a model directory written by ``save_model``, verified, as a :class:`PyFuncModel`."""
    manifest = _verified(path, expected_digest)
    return PyFuncModel(_load(manifest), flavor=manifest.flavor, signature=manifest.signature, manifest=manifest)


def load_reference_profile(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The reference profile of the training data saved with the model (a dict), or None.

    Turn it back into a ``shipyard.drift.DatasetProfile`` with ``DatasetProfile.from_dict``.
    """
    import orjson

    manifest = read_manifest(path)
    if manifest.reference_profile is None:
        return None
    return orjson.loads(read_verified(manifest, manifest.reference_profile))


def load_prediction_profile(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The profile of the model's predictions on its training data (column ``prediction``), or None
    for a model saved without ``training_data`` or one that could not predict on it."""
    import orjson

    manifest = read_manifest(path)
    if manifest.prediction_profile is None:
        return None
    return orjson.loads(read_verified(manifest, manifest.prediction_profile))
