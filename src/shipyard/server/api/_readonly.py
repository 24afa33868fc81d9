"""Which artifact paths a writer may not overwrite through ``PUT /api/v1/artifacts``.

- the files of a model a run has logged (an entry of its ``shipyard.log-model.history``) or of a
  registered version whose source is that run's model: once logged, a model is write-once to
  writers, so a CI token cannot swap the payload another run's model (or a deployed version) loads;
- the pipeline task cache (``pipelines/cache/``): outputs there are unpickled by the executors,
  so only the platform's own processes (an admin's token, or the store's direct access) write it;
- the model versions' performance estimators (``estimation/``): monitors and canary analyses
  act on them, so a writer may neither replace one nor add a forged one.

Admins may still replace anything (repairs); loading checks the recorded digests either way.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import orjson

from shipyard.errors import NotFound, PermissionDenied
from shipyard.server.api._tags import LOGGED_MODELS_TAG, is_admin

if TYPE_CHECKING:
    from fastapi import Request

    from shipyard.store.base import Store

__all__ = ["PIPELINE_CACHE_PREFIX", "check_writable"]

PIPELINE_CACHE_PREFIX = "pipelines/cache/"
ESTIMATION_PREFIX = "estimation/"  # shipyard.monitoring._estimator_store writes there
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def _protected_paths(store: Store, run_id: str) -> list[str]:
    run = store.get_run(run_id)
    paths: list[str] = []
    try:
        history = orjson.loads(run.data.tags.get(LOGGED_MODELS_TAG) or "[]")
    except orjson.JSONDecodeError:
        history = []
    for entry in history if isinstance(history, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("artifact_path"), str):
            paths.append(entry["artifact_path"].strip("/"))
    prefix = f"runs:/{run_id}/"
    for version in store.search_model_versions(None, run_id, True, 1000, None):
        if version.source.startswith(prefix):
            paths.append(version.source[len(prefix):].strip("/"))
    return [p for p in paths if p]


def check_writable(request: Request, rel: str) -> None:
    """PermissionDenied when a non-admin may not write the artifact at ``rel`` (relative to the root)."""
    if is_admin(request):
        return
    if rel == PIPELINE_CACHE_PREFIX.rstrip("/") or rel.startswith(PIPELINE_CACHE_PREFIX):
        raise PermissionDenied("the pipeline task cache is written by the platform's executors only (admin)")
    if rel == ESTIMATION_PREFIX.rstrip("/") or rel.startswith(ESTIMATION_PREFIX):
        raise PermissionDenied("performance estimators are written by the platform's monitors only (admin)")
    store: Store = request.app.state.store
    root = request.app.state.locations.root
    parts = rel.split("/")
    # <experiment location>/<run_id>/artifacts/<path in the run>: check every run the path passes through
    for i in range(len(parts) - 2):
        if not (_RUN_ID.match(parts[i]) and parts[i + 1] == "artifacts"):
            continue
        try:
            run = store.get_run(parts[i])
        except NotFound:
            continue
        if run.info.artifact_uri.rstrip("/") != f"{root}/{'/'.join(parts[:i + 2])}":
            continue  # a folder that happens to look like a run's: not where this run keeps its files
        inside = "/".join(parts[i + 2:])
        for path in _protected_paths(store, parts[i]):
            if inside == path or inside.startswith(path + "/"):
                raise PermissionDenied(
                    f"artifact {rel!r} belongs to the model logged at {path!r} of run {parts[i]}: a logged model's "
                    "files are read-only to writers (log the changed model under a new path or run)")
