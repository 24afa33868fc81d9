"""Peer virtualenvs for benchmarks: a tool shipyard replaces, installed apart from the dev venv.

``ensure_peer("mlflow", ["mlflow==3.17.*", "scikit-learn"], ["mlflow", "sklearn"])`` returns the
python of ``~/.cache/shipyard-bench/mlflow``, creating the venv and installing into it when it is
missing or cannot import what is needed. Never installs anything into the interpreter running it.
Standard library only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["PEER_ROOT", "ensure_peer", "peer_python"]

PEER_ROOT = Path(os.environ.get("SHIPYARD_BENCH_PEERS") or Path.home() / ".cache" / "shipyard-bench")


def peer_python(name: str) -> Path:
    return PEER_ROOT / name / "bin" / "python"


def _imports_ok(python: Path, modules: list[str]) -> bool:
    if not python.exists():
        return False
    code = "import " + ", ".join(modules)
    return subprocess.run([str(python), "-c", code], capture_output=True).returncode == 0


def ensure_peer(name: str, requirements: list[str], modules: list[str]) -> Path:
    """The python of the peer venv ``name``, created with ``requirements`` if it lacks ``modules``."""
    python = peer_python(name)
    if _imports_ok(python, modules):
        return python
    venv = python.parent.parent
    print(f"[peer] creating {venv} with {' '.join(requirements)} (once; takes a few minutes)", file=sys.stderr)
    if not python.exists():
        if venv.exists():
            shutil.rmtree(venv)
        base = shutil.which("python3") or sys.executable
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *requirements], check=True)
    if not _imports_ok(python, modules):
        raise RuntimeError(f"peer venv {venv} still cannot import {modules}")
    return python


def version_of(python: Path, module: str) -> str:
    out = subprocess.run([str(python), "-c", f"import {module}; print({module}.__version__)"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "?"
