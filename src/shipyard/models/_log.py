"""Logging models to runs, registering them, and loading them back by URI."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from shipyard.artifacts import get_artifact_repository, safe_relpath
from shipyard.artifacts.base import storage_errors
from shipyard.errors import IntegrityCheckFailed, InvalidInput
from shipyard.registry.client import MODEL_DIGEST_TAG, RegistryClient

if TYPE_CHECKING:
    from shipyard.entities import ModelVersion
    from shipyard.models._pyfunc import PyFuncModel
    from shipyard.models._signature import Signature

__all__ = ["ModelInfo", "load_model", "log_model", "register_model"]


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What ``log_model`` returns: where the model went and what it is.

    ``registered_model_version`` is the version number (an int, as in MLflow) when the model was
    registered; ``model_version`` the whole registered version.
    """

    model_uri: str
    run_id: str
    artifact_path: str
    flavor: str
    digest: str
    signature: Signature | None
    registered_model_version: int | None = None
    model_version: ModelVersion | None = None

    @property
    def name(self) -> str:  # MLflow 3's name of the artifact path
        return self.artifact_path


def _client() -> RegistryClient:
    from shipyard.tracking.fluent import _session

    return RegistryClient(store=_session.client.store)


# MLflow keywords that shipyard accepts and does not need (environments are recorded as pip
# requirements from the installed versions; MLflow 3's logged-model params/tags/step/model_id name
# its LoggedModel entity, which shipyard's run artifacts stand in for).
_MLFLOW_ONLY = frozenset({"conda_env", "extra_pip_requirements", "await_registration_for", "serialization_format",
                          "pyfunc_predict_fn", "params", "tags", "model_type", "step", "model_id",
                          "infer_code_paths", "streamable", "resources", "auth_policy", "prompts",
                          "example_no_conversion", "skops_trusted_types"})


def model_path(name: str | None, artifact_path: str | None) -> str:
    """The artifact path of a logged model from MLflow 3's ``name`` or the older ``artifact_path``."""
    if name is not None and artifact_path is not None and name != artifact_path:
        raise InvalidInput(f"log_model got name={name!r} and artifact_path={artifact_path!r}: give one")
    return name or artifact_path or "model"


def log_model(
    model: Any,
    artifact_path: str | None = None,
    *,
    name: str | None = None,
    flavor: str | None = None,
    registered_model_name: str | None = None,
    signature: Signature | None = None,
    input_example: Any = None,
    training_data: Any = None,
    pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    artifacts: dict[str, str] | None = None,
    model_config: dict[str, Any] | None = None,
    **mlflow_only: Any,
) -> ModelInfo:
    """Save ``model`` into the active run's artifacts (and register it when a name is given).

    ``name`` (MLflow 3) or ``artifact_path`` is where it goes in the run (default ``"model"``).
    ``training_data`` is profiled into the model's reference profile, which monitoring later
    compares production traffic against. ``artifacts={name: path or URI}`` (``runs:/``,
    ``models:/``, any artifact URL) are copied into the model for a custom model's
    ``context.artifacts``. MLflow's ``code_path``, ``conda_env``, ``extra_pip_requirements`` and
    other environment keywords are accepted (see docs/mlflow.md).

    Atomic: the model is saved to a local temporary directory and copied into the run's artifacts
    with its manifest (``MLmodel.yaml``) written last (into a local artifact root, the whole
    directory appears by one rename). A failure on the way (a full disk is
    :class:`~shipyard.errors.StorageFull`) leaves no manifest, and :func:`register_model` refuses
    a model without one or with a listed file missing.
    """
    from shipyard.models._manifest import MANIFEST_NAME
    from shipyard.models._save import save_model
    from shipyard.tracking.fluent import _current

    if "code_path" in mlflow_only:  # MLflow 2's spelling
        code_paths = [*(code_paths or []), *mlflow_only.pop("code_path")]
    unknown = sorted(set(mlflow_only) - _MLFLOW_ONLY)
    if unknown:
        raise TypeError(f"log_model() got unexpected keyword arguments {unknown}")
    if model is None:
        raise InvalidInput("log_model needs the model (python_model= for a custom pyfunc model)")
    run = _current("log_model")
    rel = safe_relpath(model_path(name, artifact_path), allow_root=False)
    with storage_errors("the temporary directory"), tempfile.TemporaryDirectory(prefix="shipyard-log-model-") as tmp:
        local = Path(tmp) / "model"
        fetched = _fetch_artifacts(artifacts or {}, Path(tmp) / "fetched")
        manifest = save_model(local, model, flavor=flavor, signature=signature, input_example=input_example,
                              training_data=training_data, pip_requirements=pip_requirements,
                              metadata=metadata, code_paths=code_paths, artifacts=fetched,
                              model_config=model_config)
        get_artifact_repository(run.info.artifact_uri).log_dir(local, rel, last=MANIFEST_NAME)
    client = run._client
    run_id = run.info.run_id
    history = orjson.loads(client.get_run(run_id).data.tags.get("shipyard.log-model.history", "[]"))
    history.append({"artifact_path": rel, "flavor": manifest.flavor, "digest": manifest.digest,
                    "utc_time_created": int(time.time() * 1000)})
    client.set_tag(run_id, "shipyard.log-model.history", orjson.dumps(history).decode())
    model_uri = f"runs:/{run_id}/{rel}"
    version = register_model(model_uri, registered_model_name) if registered_model_name else None
    return ModelInfo(model_uri=model_uri, run_id=run_id, artifact_path=rel, flavor=manifest.flavor,
                     digest=manifest.digest or "", signature=manifest.signature,
                     registered_model_version=None if version is None else version.version,
                     model_version=version)


def _fetch_artifacts(artifacts: dict[str, str], into: Path) -> dict[str, str | os.PathLike[str]]:
    """Local paths for ``artifacts`` given as paths or URIs (``runs:/``, ``models:/``, URLs)."""
    out: dict[str, str | os.PathLike[str]] = {}
    for name, uri in artifacts.items():
        text = str(uri)
        if "://" not in text and not text.startswith(("runs:", "models:")):
            out[name] = text
            continue
        out[name] = fetch_uri(text, into / name, _client())
    return out


def fetch_uri(uri: str, dst: Path, client: RegistryClient) -> Path:
    """A local copy of what ``uri`` names (``runs:/<run>/<path>``, ``models:/...``, a URL) in ``dst``;
    a model of a local store is used where it lies."""
    from shipyard.models._resolve import resolve_model
    from shipyard.store.validation import check_run_id

    if uri.startswith("models:"):
        return resolve_model(uri, client).path
    if uri.startswith("runs:"):
        run_id, _, rel = uri.removeprefix("runs:").lstrip("/").partition("/")
        check_run_id(run_id)
        client.flush(run_id)
        path = safe_relpath(rel)
        return client.download_artifacts(run_id, path or None, dst)
    return get_artifact_repository(uri).download(None, dst)


def register_model(model_uri: str, name: str, tags: dict[str, Any] | int | None = None, description: str = "",
                   *, client: RegistryClient | None = None, await_registration_for: int | None = None) -> ModelVersion:
    """Register the model at ``model_uri`` as the next version of ``name`` (created if new).

    The model must exist and be complete (its manifest there, every file it lists present and
    unchanged: else :class:`~shipyard.errors.IntegrityCheckFailed`); its manifest digest is recorded
    on the version and checked at load.
    """
    from shipyard.models._resolve import source_digest

    if isinstance(tags, int):  # MLflow's third positional is await_registration_for (registration is immediate)
        tags = None
    client = client or _client()
    _check_complete(model_uri, client)
    run_id, digest = source_digest(model_uri, client)
    all_tags = {**(tags or {}), MODEL_DIGEST_TAG: digest or ""}
    source = model_uri
    if model_uri.startswith("models:"):
        from shipyard.models._resolve import resolve_model

        location = resolve_model(model_uri, client)
        source = client.get_model_version(location.name or "", location.version or 0).source
    elif "://" not in model_uri and not model_uri.startswith("runs:"):
        source = str(Path(model_uri).absolute())
    return client.create_model_version(name, source, run_id=run_id, tags=all_tags, description=description)


def _check_complete(model_uri: str, client: RegistryClient) -> None:
    """Refuse to register a model a broken ``log_model`` left behind (or one changed since)."""
    from shipyard.models._manifest import read_manifest, verify_files
    from shipyard.models._resolve import resolve_model

    location = resolve_model(model_uri, client)  # NotFound when there is no manifest
    try:
        verify_files(read_manifest(location.path))
    except IntegrityCheckFailed as exc:
        raise IntegrityCheckFailed(f"cannot register {model_uri}: the model is incomplete or was changed after "
                                   f"it was saved ({exc.message}); log the model again") from exc


def load_model(model_uri: str, *, client: RegistryClient | None = None) -> PyFuncModel:
    """Load a model by URI, verified: every file's hash, and the manifest's recorded digest."""
    from shipyard.models._pyfunc import load_local_model
    from shipyard.models._resolve import resolve_model

    location = resolve_model(model_uri, client or _client())
    return load_local_model(location.path, expected_digest=location.expected_digest)


def load_native_model(model_uri: str, *, client: RegistryClient | None = None) -> Any:
    """The native object (sklearn estimator, xgboost Booster, ...) behind a model URI, verified."""
    from shipyard.models._pyfunc import load_native
    from shipyard.models._resolve import resolve_model

    location = resolve_model(model_uri, client or _client())
    return load_native(location.path, expected_digest=location.expected_digest)
