"""Where things live: the store URI and the artifact root, from the environment and defaults.

Resolution order (the first that is set wins):

- store: ``set_tracking_uri()`` in the process, ``SHIPYARD_TRACKING_URI``, ``SHIPYARD_STORE_URI``,
  then ``sqlite:///<home>/shipyard.db``;
- artifacts: ``SHIPYARD_ARTIFACT_URI``, then, for a server store (``http(s)://host``), the server's
  artifact endpoint ``http(s)://host/api/v1/artifacts``, else ``<home>/artifacts``;
- home: ``SHIPYARD_HOME``, then ``./.shipyard`` in the working directory (per project, like ``.git``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings", "default_home", "resolve_settings", "seconds_from_env"]


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


def seconds_from_env(name: str, default: float, low: float, high: float, *, zero: bool = False) -> float:
    """A duration setting read from the environment variable ``name`` (``default`` when unset): a
    number of seconds from ``low`` to ``high``, or 0 when ``zero`` allows it (the feature turned off).
    Raises InvalidInput naming the variable and the range, so a typo fails when it is read."""
    from shipyard.errors import InvalidInput

    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if (zero and value == 0) or low <= value <= high:
        return value
    allowed = f"0 (off) or {low:g} to {high:g}" if zero else f"{low:g} to {high:g}"
    raise InvalidInput(f"{name}={raw!r}: use a number of seconds, {allowed}")
