"""Shipping a run's task code to Dask workers that do not have it.

A pipeline defined in the project (a ``.py`` file named with ``--module``, a package in the working
directory) is importable where the scheduler runs, rarely on the workers. So the modules that define
a run's tasks are pickled *by value* (cloudpickle), unless they come from an installed package
(site-packages), which the workers are expected to have too, like shipyard itself. What the task
code imports from elsewhere still travels by name: a worker that cannot import it fails the task
with a message naming the module (:func:`loads_tasks`), instead of Dask's bare unpickling error.
"""

from __future__ import annotations

import os
import pickle
import sys
import sysconfig
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInput

if TYPE_CHECKING:
    from shipyard.pipelines._task import Task

__all__ = ["MissingCode", "dumps_tasks", "loads_tasks", "project_modules"]

_lock = threading.Lock()  # cloudpickle's by-value registry is process-wide


class MissingCode(InvalidInput):
    """A worker cannot import a module the run's tasks need."""


def _installed_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    return tuple(os.path.realpath(r) + os.sep for r in roots)


def project_modules(names: Iterable[str]) -> list[str]:
    """The modules among ``names`` that are the project's code rather than installed packages."""
    roots = _installed_roots()
    found = []
    for name in sorted(set(names)):
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if module is None or not path or name == "__main__" or name.split(".")[0] == "shipyard":
            continue  # __main__ goes by value anyway; shipyard is installed on every worker
        if not os.path.realpath(path).startswith(roots):
            found.append(name)
    return found


def dumps_tasks(tasks: tuple[Task, ...]) -> tuple[bytes, tuple[str, ...]]:
    """The tasks pickled with their project modules by value; returns the bytes and those modules."""
    import cloudpickle

    shipped = tuple(project_modules(getattr(t.fn, "__module__", "") or "" for t in tasks))
    with _lock:
        added = [name for name in shipped if name not in cloudpickle.list_registry_pickle_by_value()]
        for name in added:
            cloudpickle.register_pickle_by_value(sys.modules[name])
        try:
            return cloudpickle.dumps(tasks), shipped
        finally:
            for name in added:
                cloudpickle.unregister_pickle_by_value(sys.modules[name])


def loads_tasks(blob: bytes, pipeline: str, where: str) -> tuple[Any, ...]:
    """The tasks again, on a worker; MissingCode names a module this worker cannot import."""
    try:
        tasks: tuple[Any, ...] = pickle.loads(blob)  # written by dumps_tasks in the scheduler, never stored
    except ModuleNotFoundError as exc:
        raise MissingCode(
            f"pipeline {pipeline!r}: Dask worker {where} cannot import module {exc.name!r}, which its tasks use. "
            "Install it on the workers (the same packages as the scheduler), or keep the code in the project's "
            "own modules, which shipyard ships to the workers by value") from exc
    return tasks
