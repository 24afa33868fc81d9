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

__all__ = ["DASK_SCHEMES", "Settings", "dask_address", "default_home", "process_tracking_uri", "resolve_settings",
           "use_tracking_uri"]

# What ``shipyard.set_tracking_uri()`` chose for this process (None: the environment decides). Kept
# here, not in the fluent API, so every way of opening a store - ``shipyard.Client()``, pipelines,
# monitors, the registry - sees the same choice rather than only the fluent functions.
_process_uri: list[str | None] = [None]


def use_tracking_uri(uri: str | None) -> None:
    """Make ``uri`` this process's store (what ``shipyard.set_tracking_uri`` calls); None: back to
    the environment and the defaults."""
    _process_uri[0] = uri or None


def process_tracking_uri() -> str | None:
    """The store chosen with :func:`use_tracking_uri` in this process, if any."""
    return _process_uri[0]


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
    chosen = store_uri or _process_uri[0]
    store = chosen or env.get("SHIPYARD_TRACKING_URI") or env.get("SHIPYARD_STORE_URI")
    if not store:
        store = f"sqlite:///{home / 'shipyard.db'}"
    artifacts = artifact_uri or env.get("SHIPYARD_ARTIFACT_URI")
    if not artifacts:
        if store.startswith(("http://", "https://")):
            artifacts = store.rstrip("/") + "/api/v1/artifacts"  # through the server
        elif store.startswith("sqlite:///") and not (chosen or env.get("SHIPYARD_HOME")):
            # Keep the artifacts beside a database file the user named explicitly.
            artifacts = str(Path(store.removeprefix("sqlite:///")).absolute().parent / "artifacts")
        else:
            artifacts = str(home / "artifacts")
    return Settings(store_uri=store, artifact_uri=artifacts)


DASK_SCHEMES = ("dask://", "tcp://", "tls://")  # dask:// is Dask's tcp://


def dask_address(executor: str) -> str | None:
    """The Dask scheduler address an executor string names (``dask://host:port`` -> ``tcp://host:port``;
    ``tcp://`` and ``tls://`` as they are), or None when it names none or no ``host:port``. Here,
    below the pipelines and the feature store, so both read the same addresses."""
    if not executor.startswith(DASK_SCHEMES):
        return None
    host, _, port = executor.partition("://")[2].rpartition(":")
    if not host or not port.isdigit() or "/" in host:
        return None
    return "tcp://" + executor.removeprefix("dask://") if executor.startswith("dask://") else executor
