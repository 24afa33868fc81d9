"""The code blocks of docs/drift.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "drift.md"


def test_drift_doc_code_blocks_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert blocks
    monkeypatch.chdir(tmp_path)  # the example writes report.html
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    report = namespace["report"]
    assert report.columns["churned"].test == "chisquare" and report.columns["churned"].drifted  # type: ignore[attr-defined]
    assert (tmp_path / "report.html").exists()
