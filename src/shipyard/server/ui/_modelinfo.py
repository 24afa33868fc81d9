"""What the UI shows of a model: the models a run logged and a model directory's manifest (flavor,
signature, libraries), read from the artifact store without downloading the model itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import yaml

from shipyard.artifacts import get_artifact_repository, safe_relpath
from shipyard.errors import ShipyardError
from shipyard.models import ModelManifest

if TYPE_CHECKING:
    from shipyard.entities import Run
    from shipyard.store.base import Store

__all__ = ["LoggedModel", "logged_models", "manifest_of_source"]

_LOGGED = "shipyard.log-model.history"
_MANIFEST = "MLmodel.yaml"


@dataclass(frozen=True, slots=True)
class LoggedModel:
    artifact_path: str
    flavor: str
    time: int | None
    manifest: ModelManifest | None
    problem: str = ""  # why the manifest could not be read


def _read_manifest(root: str, path: str) -> tuple[ModelManifest | None, str]:
    try:
        repo = get_artifact_repository(root)
        rel = safe_relpath(f"{path}/{_MANIFEST}" if path else _MANIFEST)
        data: Any = yaml.safe_load(repo.read_bytes(rel))
        if not isinstance(data, dict):
            return None, f"{_MANIFEST} does not hold a model manifest"
        return ModelManifest.from_dict(data), ""
    except ShipyardError as exc:
        return None, exc.message
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        return None, f"cannot read {_MANIFEST}: {type(exc).__name__}"


def logged_models(run: Run) -> list[LoggedModel]:
    """The models the run logged (``log_model``), newest first, with their manifests."""
    try:
        history = orjson.loads(run.data.tags.get(_LOGGED, "[]"))
    except orjson.JSONDecodeError:
        return []
    found: dict[str, LoggedModel] = {}
    for entry in history if isinstance(history, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("artifact_path"), str):
            continue
        path = entry["artifact_path"]
        manifest, problem = _read_manifest(run.info.artifact_uri, path)
        found[path] = LoggedModel(path, str(entry.get("flavor", "")), entry.get("utc_time_created"), manifest, problem)
    return sorted(found.values(), key=lambda m: m.time or 0, reverse=True)


def manifest_of_source(store: Store, source: str) -> tuple[ModelManifest | None, str]:
    """The manifest of a model version's source (``runs:/<id>/<path>``, a path or a URL)."""
    from shipyard.models._resolve import parse_model_uri

    try:
        parsed = parse_model_uri(source)
        if parsed[0] == "runs":
            return _read_manifest(store.get_run(parsed[1]).info.artifact_uri, parsed[2])
        if parsed[0] == "path":
            return _read_manifest(parsed[1], "")
        return None, f"the source {source!r} names another registered model"
    except ShipyardError as exc:
        return None, exc.message
