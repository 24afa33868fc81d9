"""Artifact repositories: a local folder by default, any fsspec URL (``s3://...``) otherwise."""

from __future__ import annotations

from pathlib import Path

from shipyard.artifacts.base import ArtifactRepository, FileInfo, safe_relpath

__all__ = ["ArtifactRepository", "FileInfo", "get_artifact_repository", "safe_relpath"]


def get_artifact_repository(uri: str | Path) -> ArtifactRepository:
    """The repository for a root URI: a plain path or ``file://`` is local, anything else fsspec."""
    text = str(uri)
    if "://" not in text:
        from shipyard.artifacts.local import LocalArtifactRepository

        return LocalArtifactRepository(text)
    if text.startswith("file://"):
        from shipyard.artifacts.local import LocalArtifactRepository

        return LocalArtifactRepository(text.removeprefix("file://"))
    from shipyard.artifacts.fsspec_repo import FsspecArtifactRepository

    return FsspecArtifactRepository(text)
