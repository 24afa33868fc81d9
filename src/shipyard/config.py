"""Where things live: the store URI and the artifact root, from the environment and defaults.

Resolution order (the first that is set wins):

- store: ``set_tracking_uri()`` in the process, ``SHIPYARD_TRACKING_URI``, ``SHIPYARD_STORE_URI``,
  then ``sqlite:///<home>/shipyard.db``;
- artifacts: ``SHIPYARD_ARTIFACT_URI``, then, for a server store (``http(s)://host``), the server's
  artifact endpoint ``http(s)://host/api/v1/artifacts``, else ``<home>/artifacts``;
- home: ``SHIPYARD_HOME``, then ``./.shipyard`` in the working directory (per project, like ``.git``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings", "default_home", "resolve_settings"]


def default_home() -> Path:
    return Path(os.environ.get("SHIPYARD_HOME") or Path.cwd() / ".shipyard").absolute()


@dataclass(frozen=True, slots=True)
class Settings:
    store_uri: str
    artifact_uri: str


def resolve_settings(store_uri: str | None = None, artifact_uri: str | None = None) -> Settings:
    """Settings from explicit arguments, then the environment, then the defaults under home."""
    env = os.environ
    home = default_home()
    store = store_uri or env.get("SHIPYARD_TRACKING_URI") or env.get("SHIPYARD_STORE_URI")
    if not store:
        store = f"sqlite:///{home / 'shipyard.db'}"
    artifacts = artifact_uri or env.get("SHIPYARD_ARTIFACT_URI")
    if not artifacts:
        if store.startswith(("http://", "https://")):
            artifacts = store.rstrip("/") + "/api/v1/artifacts"  # through the server
        elif store.startswith("sqlite:///") and not (store_uri or env.get("SHIPYARD_HOME")):
            # Keep the artifacts beside a database file the user named explicitly.
            artifacts = str(Path(store.removeprefix("sqlite:///")).absolute().parent / "artifacts")
        else:
            artifacts = str(home / "artifacts")
    return Settings(store_uri=store, artifact_uri=artifacts)
