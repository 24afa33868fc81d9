"""Model URIs -> a local, verified model directory.

Accepted forms::

    runs:/<run_id>/<artifact_path>     a model logged by a run
    models:/<name>/<version>           a registered version
    models:/<name>@<alias>             the version an alias points to (champion, challenger, ...)
    models:/<name>/latest              the newest non-archived version
    models:/<name>/Production          the newest version in an MLflow stage (Staging, Production)
    /a/local/path, file:///a/path      a model directory on disk
    s3://bucket/path (any fsspec URL)  a model directory in an object store (downloaded)

Besides the per-file hashes in the manifest, the SHA-256 of the manifest itself is recorded when
a model is logged (the run's ``shipyard.log-model.history``, which writers can only append to) and
when it is registered (the version's ``digest``, a column written once at registration that no API
call changes); loading through a ``runs:/`` or ``models:/`` URI checks it, so a model whose files
were replaced together with their hashes is refused too. A registered version is checked against
its own digest only: what the run's tags say later cannot vouch for a swapped payload.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import orjson

from shipyard.artifacts import get_artifact_repository, safe_relpath
from shipyard.errors import InvalidInput, NotFound
from shipyard.registry.client import RegistryClient

__all__ = ["LOGGED_MODELS_TAG", "ModelLocation", "parse_model_uri", "resolve_model"]

LOGGED_MODELS_TAG = "shipyard.log-model.history"
_RUNS = re.compile(r"^runs:/([^/]+)/(.+)$")
_MODELS_VERSION = re.compile(r"^models:/([^/@]+)/([^/@]+)/?$")
_MODELS_ALIAS = re.compile(r"^models:/([^/@]+)@([^/@]+)/?$")
_HELP = "use runs:/<run_id>/<path>, models:/<name>/<version>, models:/<name>@<alias> or a local path"


@dataclass(frozen=True, slots=True)
class ModelLocation:
    """Where a model URI points: a local directory, and what the store says it must hash to."""

    path: Path
    expected_digest: str | None
    run_id: str | None = None
    name: str | None = None
    version: int | None = None


def parse_model_uri(uri: str) -> tuple[str, ...]:
    """("runs", run_id, path) | ("models", name, version_or_latest) | ("alias", name, alias) | ("path", uri)."""
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidInput(f"model URI must be a non-empty string, got {uri!r}: {_HELP}")
    if uri.startswith("runs:"):
        m = _RUNS.match(uri)
        if not m:
            raise InvalidInput(f"malformed model URI {uri!r}: {_HELP}")
        return ("runs", m.group(1), safe_relpath(m.group(2), allow_root=False))
    if uri.startswith("models:"):
        if m := _MODELS_ALIAS.match(uri):
            return ("alias", m.group(1), m.group(2))
        if m := _MODELS_VERSION.match(uri):
            return ("models", m.group(1), m.group(2))
        raise InvalidInput(f"malformed model URI {uri!r}: {_HELP}")
    if re.match(r"^[a-z][a-z0-9+.-]*:", uri) and "://" not in uri:
        raise InvalidInput(f"unknown model URI scheme in {uri!r}: {_HELP}")
    return ("path", uri)


def logged_model_digest(client: RegistryClient, run_id: str, artifact_path: str) -> str | None:
    history = client.get_run(run_id).data.tags.get(LOGGED_MODELS_TAG)
    if not history:
        return None
    for entry in reversed(orjson.loads(history)):
        if entry.get("artifact_path") == artifact_path:
            return entry.get("digest")
    return None


def _local(root_uri: str, rel: str, what: str) -> Path:
    repo = get_artifact_repository(root_uri)
    prefix = f"{rel}/" if rel else ""
    if not repo.exists(f"{prefix}MLmodel.yaml") and not repo.exists(f"{prefix}MLmodel"):  # MLmodel: MLflow's
        raise NotFound(f"no model at {what} (no MLmodel.yaml there)")
    local = repo.local_path(rel)
    if local is not None:
        return local
    return repo.download(rel or None, tempfile.mkdtemp(prefix="shipyard-model-"))


def resolve_model(uri: str, client: RegistryClient) -> ModelLocation:
    kind, *rest = parse_model_uri(uri)
    if kind == "runs":
        run_id, rel = rest
        run = client.get_run(run_id)
        return ModelLocation(_local(run.info.artifact_uri, rel, uri), logged_model_digest(client, run_id, rel),
                             run_id=run_id)
    if kind in ("models", "alias"):
        name, which = rest
        if kind == "alias":
            mv = client.get_model_version_by_alias(name, which)
        elif which.lower() == "latest":
            mv = client.get_latest_version(name)
        elif which.lower() in ("staging", "production", "archived"):  # MLflow's stages
            found = client.get_latest_versions(name, [which])
            if not found:
                raise NotFound(f"model {name!r} has no version in stage {which!r}")
            mv = found[0]
        else:
            mv = client.get_model_version(name, which)
        inner = resolve_model(mv.source, client)
        digest = mv.digest or inner.expected_digest  # versions registered without one (by hand) fall back
        return ModelLocation(inner.path, digest, run_id=mv.run_id, name=mv.name, version=mv.version)
    target = rest[0]
    if target.startswith("file://"):
        target = target.removeprefix("file://")
    if "://" in target:
        return ModelLocation(_local(target, "", uri), None)
    path = Path(target)
    if not (path / "MLmodel.yaml").is_file() and not (path / "MLmodel").is_file():
        raise NotFound(f"no model at {uri!r} (no MLmodel.yaml there)")
    return ModelLocation(path, None)


def source_digest(uri: str, client: RegistryClient) -> tuple[str | None, str | None]:
    """(run_id, manifest digest) of a model about to be registered; checks the model exists."""
    from shipyard.models._manifest import read_manifest

    location = resolve_model(uri, client)
    digest = location.expected_digest or read_manifest(location.path).digest
    return location.run_id, digest
