"""Every script in examples/ runs as a newcomer runs it: from a fresh folder, with no shipyard settings."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.py"))
# An example that needs an optional extra is skipped, saying so, where the extra is not installed
# (CI installs them all).
NEEDS = {"pytorch_canary.py": "torch"}
# What an example must print besides its store: the outcome it exists to show.
SAYS = {"pytorch_canary.py": ["verdict: v2 PROMOTED", "verdict: v3 ROLLED BACK"]}


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script: Path, tmp_path: Path) -> None:
    needed = NEEDS.get(script.name)
    if needed and importlib.util.find_spec(needed) is None:
        pytest.skip(f"{script.name} needs {needed}, which is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "store:" in proc.stdout and str(tmp_path) in proc.stdout  # it used a store in the folder it ran in
    for line in SAYS.get(script.name, []):
        assert line in proc.stdout, proc.stdout[-3000:]
