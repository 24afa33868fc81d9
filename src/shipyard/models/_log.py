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
from shipyard.errors import IntegrityCheckFailed
from shipyard.registry.client import MODEL_DIGEST_TAG, RegistryClient

if TYPE_CHECKING:
    from shipyard.entities import ModelVersion
    from shipyard.models._pyfunc import PyFuncModel
    from shipyard.models._signature import Signature

__all__ = ["ModelInfo", "load_model", "log_model", "register_model"]


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What ``log_model`` returns: where the model went and what it is."""

    model_uri: str
    run_id: str
    artifact_path: str
    flavor: str
    digest: str
    signature: Signature | None
    registered_model_version: ModelVersion | None = None


def _client() -> RegistryClient:
    from shipyard.tracking.fluent import _session

    return RegistryClient(store=_session.client.store)


def log_model(
    model: Any,
    artifact_path: str = "model",
    *,
    flavor: str | None = None,
    registered_model_name: str | None = None,
    signature: Signature | None = None,
    input_example: Any = None,
    training_data: Any = None,
    pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
) -> ModelInfo:
    """Save ``model`` into the active run's artifacts (and register it when a name is given).

    ``training_data`` is profiled into the model's reference profile, which monitoring later
    compares production traffic against.

    Atomic: the model is saved to a local temporary directory and copied into the run's artifacts
    with its manifest (``MLmodel.yaml``) written last (into a local artifact root, the whole
    directory appears by one rename). A failure on the way (a full disk is
    :class:`~shipyard.errors.StorageFull`) leaves no manifest, and :func:`register_model` refuses
    a model without one or with a listed file missing.
    """
    from shipyard.models._manifest import MANIFEST_NAME
    from shipyard.models._save import save_model
    from shipyard.tracking.fluent import _current

    run = _current("log_model")
    rel = safe_relpath(artifact_path, allow_root=False)
    with storage_errors("the temporary directory"), tempfile.TemporaryDirectory(prefix="shipyard-log-model-") as tmp:
        local = Path(tmp) / "model"
        manifest = save_model(local, model, flavor=flavor, signature=signature, input_example=input_example,
                              training_data=training_data, pip_requirements=pip_requirements,
                              metadata=metadata, code_paths=code_paths)
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
                     registered_model_version=version)


def register_model(model_uri: str, name: str, tags: dict[str, Any] | None = None, description: str = "",
                   *, client: RegistryClient | None = None) -> ModelVersion:
    """Register the model at ``model_uri`` as the next version of ``name`` (created if new).

    The model must exist and be complete (its manifest there, every file it lists present and
    unchanged: else :class:`~shipyard.errors.IntegrityCheckFailed`); its manifest digest is recorded
    on the version and checked at load.
    """
    from shipyard.models._resolve import source_digest

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
