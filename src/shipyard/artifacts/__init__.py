"""Artifact repositories: a local folder by default, any fsspec URL (``s3://...``) otherwise, and a
shipyard server's artifact endpoint (``http(s)://host/api/v1/artifacts/...``) for remote clients."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shipyard.artifacts.base import ArtifactRepository, FileInfo, safe_relpath

__all__ = ["ArtifactRepository", "FileInfo", "get_artifact_repository", "safe_relpath"]


def get_artifact_repository(uri: str | Path) -> ArtifactRepository:
    """The repository for a root URI: a plain path or ``file://`` is local, anything else fsspec."""
    text = str(uri)
    if text.startswith("shipyard-artifacts:"):
        text = _on_configured_server(text)
    if text.startswith(("http://", "https://")) and "/api/v1/artifacts" in text:
        from shipyard.artifacts.server_repo import ServerArtifactRepository

        return ServerArtifactRepository(text)
    if "://" not in text:
        from shipyard.artifacts.local import LocalArtifactRepository

        return LocalArtifactRepository(text)
    if text.startswith("file://"):
        from shipyard.artifacts.local import LocalArtifactRepository

        return LocalArtifactRepository(text.removeprefix("file://"))
    from shipyard.artifacts.fsspec_repo import FsspecArtifactRepository

    return FsspecArtifactRepository(text)


def _on_configured_server(uri: str) -> str:
    """``shipyard-artifacts:/PATH`` -> the artifact URL of the server the tracking URI names."""
    from shipyard.config import resolve_settings
    from shipyard.errors import InvalidInput

    server = resolve_settings().store_uri
    if not server.startswith(("http://", "https://")):
        raise InvalidInput(f"{uri!r} names an artifact on a shipyard server: set SHIPYARD_TRACKING_URI to it")
    rel = safe_relpath(uri.removeprefix("shipyard-artifacts:").lstrip("/"))
    return f"{server.rstrip('/')}/api/v1/artifacts/{rel}".rstrip("/")


def __getattr__(name: str) -> Any:
    # MLflow's ``mlflow.artifacts.download_artifacts(run_id=..., artifact_path=...)`` needs the
    # tracking store, a layer above this one: it lives in the face and is imported only when asked for.
    if name == "download_artifacts":
        from shipyard._mlflow_face import download_artifacts

        return download_artifacts
    raise AttributeError(f"module 'shipyard.artifacts' has no attribute {name!r}")
