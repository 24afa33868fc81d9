"""MLflow in a virtual environment of its own, in the test cache (never in shipyard's dependencies):
created once per machine, reused by every later run; the tests skip with the reason when pip
cannot install it. (A copy of tests/server/mlflow/_venv.py of branch wip-h14a: keep one when merged.)"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

#: The MLflow client version the compatibility tests run (keep in step with
#: ``shipyard.server.mlflow.TESTED_VERSIONS`` and docs/server.md).
MLFLOW_VERSION = "3.17.2"
_PACKAGES = (f"mlflow=={MLFLOW_VERSION}", "scikit-learn", "pandas")


def cache_dir() -> Path:
    return Path(os.environ.get("SHIPYARD_TEST_CACHE") or Path.home() / ".cache" / "shipyard-tests")


def mlflow_python() -> Path:
    """The python of the MLflow venv (``<cache>/mlflow-<version>``), created if missing; skips the
    test when it cannot be created."""
    venv = cache_dir() / f"mlflow-{MLFLOW_VERSION}"
    python = venv / "bin" / "python"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"mlflow-{MLFLOW_VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one creator at a time; the others wait, then reuse it
        if python.exists() and _has_packages(python):
            return python
        staging = venv.parent / f"mlflow-{MLFLOW_VERSION}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(staging)], check=True)
        pip = subprocess.run([str(staging / "bin" / "python"), "-m", "pip", "install", "-q", *_PACKAGES],
                             capture_output=True, text=True, timeout=1800)
        if pip.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            pytest.skip(f"cannot install MLflow {MLFLOW_VERSION} into a test venv (is a package index "
                        f"reachable?): {pip.stderr.strip()[-300:]}")
        shutil.rmtree(venv, ignore_errors=True)
        staging.rename(venv)  # a venv's python finds its packages relative to itself: the move is safe
        return python


def _has_packages(python: Path) -> bool:
    check = f"import mlflow, sklearn, pandas; assert mlflow.__version__ == {MLFLOW_VERSION!r}"
    return subprocess.run([str(python), "-c", check], capture_output=True).returncode == 0
