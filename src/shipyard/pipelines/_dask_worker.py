"""Dask workers configured from the process that submits the runs.

A worker started with ``dask worker tcp://scheduler:8786`` knows nothing about shipyard: tracking
from a task would go to a SQLite file in the worker's folder, and the task cache would be refused
without a token. :class:`ShipyardSettings` is a Dask worker plugin that the Dask executor registers
on the cluster (again on every run, so a worker that joins later or a restarted one gets it too):
it sets the submitting process's store, artifact root and token in each worker's environment.

One cluster serves one shipyard platform: the settings are the workers' process environment.
"""

from __future__ import annotations

import os
from typing import Any

from distributed import WorkerPlugin

__all__ = ["PLUGIN_NAME", "SETTINGS", "ShipyardSettings", "worker_settings"]

PLUGIN_NAME = "shipyard-settings"
#: What a task needs to reach the platform as the submitting process does.
SETTINGS = ("SHIPYARD_TRACKING_URI", "SHIPYARD_ARTIFACT_URI", "SHIPYARD_TRACKING_TOKEN", "SHIPYARD_HTTP_RETRY_S",
            "SHIPYARD_RUN_LEASE_S", "SHIPYARD_EXPERIMENT_NAME")


def worker_settings() -> dict[str, str]:
    """The settings of this process that workers get: the resolved store and artifact root (whatever
    chose them: ``set_tracking_uri``, the environment or the defaults) and the rest from the environment."""
    from shipyard.config import resolve_settings

    settings = resolve_settings()
    env = {name: os.environ[name] for name in SETTINGS if os.environ.get(name)}
    env["SHIPYARD_TRACKING_URI"] = settings.store_uri
    env["SHIPYARD_ARTIFACT_URI"] = settings.artifact_uri
    return env


class ShipyardSettings(WorkerPlugin):
    """Sets ``env`` in the worker's process environment; tracking in tasks then reaches the same store."""

    name = PLUGIN_NAME

    def __init__(self, env: dict[str, str]) -> None:
        self.env = dict(env)

    def setup(self, worker: Any) -> None:
        wanted = {name: self.env.get(name) for name in SETTINGS}
        if all(os.environ.get(name) == value for name, value in wanted.items()):
            return  # registered again by the next run: nothing changed, nothing to reset
        for name, value in wanted.items():
            if value is None:
                os.environ.pop(name, None)  # nothing left over from a previous registration
            else:
                os.environ[name] = value
        from shipyard.config import use_tracking_uri
        from shipyard.tracking import fluent

        use_tracking_uri(None)  # the environment decides from now on
        if fluent.active_run() is None:
            fluent.set_tracking_uri(None)  # a session opened before this plugin forgets its store
