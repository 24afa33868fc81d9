"""Every code block of README.md and docs/*.md runs as written, in order within its page, in a fresh
folder with a fresh store and the checkout's docs/ and examples/ (see tests/docs/_blocks.py for the
markers a block can carry)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.docs._blocks import blocks

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
SUMMARY: dict[str, tuple[int, int, list[str]]] = {}  # page -> (run, skipped, skip reasons)


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p, REPO)], ids=lambda p: str(p.relative_to(REPO)))
def test_every_block_of_the_page_runs(page: Path, tmp_path: Path) -> None:
    found = blocks(page, REPO)
    skipped = [b for b in found if b.mode == "skip"]
    SUMMARY[str(page.relative_to(REPO))] = (len(found) - len(skipped), len(skipped),
                                            [f"line {b.line}: {b.reason}" for b in skipped])
    spec = tmp_path / "blocks.json"
    spec.write_bytes(orjson.dumps([dataclasses.asdict(b) for b in found]))
    work = tmp_path / "work"
    work.mkdir()
    for shipped in ("docs", "examples"):  # blocks run "from a checkout": its files are there, its store is not
        (work / shipped).symlink_to(REPO / shipped)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update(SHIPYARD_HOME=str(work / ".shipyard"), PYTHONPATH=os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]), REPO=str(REPO))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    done = subprocess.run([sys.executable, str(REPO / "tests" / "docs" / "_run_page.py"), str(spec)], cwd=work,
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-6000:]
