"""Code blocks of the Markdown docs: extracted in page order, and run one page at a time.

A fenced block tagged ``python`` runs in one namespace per page (a block may use what an earlier
block of the same page defined); ``bash``/``sh``/``shell`` blocks run with bash in the same folder
and environment. An HTML comment on the line just before the fence changes that:

- ``<!-- docs-test: skip REASON -->``: not run (a real cloud, a server that runs until Ctrl+C); the
  reason is printed in the summary;
- ``<!-- docs-test: background -->``: a shell block started in the background (a server the next
  blocks talk to), stopped when the page is done.

Blocks without a language tag (output, signatures, tables of options) are text and never run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Block", "blocks"]

_FENCE = re.compile(r"^```([A-Za-z0-9_+-]*)\s*$")
_MARK = re.compile(r"^<!--\s*docs-test:\s*(skip|background)\b\s*(.*?)\s*-->\s*$")
RUNNABLE = {"python": "python", "bash": "shell", "sh": "shell", "shell": "shell"}


@dataclass(frozen=True, slots=True)
class Block:
    page: str
    line: int  # 1-based line of the opening fence
    kind: str  # "python" | "shell"
    code: str
    mode: str = "run"  # "run" | "skip" | "background"
    reason: str = ""


def blocks(path: Path, root: Path) -> list[Block]:
    """The runnable blocks of one Markdown file, in order."""
    lines = path.read_text().splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, tag = i, m.group(1).lower()
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        if tag in RUNNABLE:
            mark = _MARK.match(lines[start - 1]) if start else None
            mode, reason = (mark.group(1), mark.group(2)) if mark else ("run", "")
            found.append(Block(str(path.relative_to(root)), start + 1, RUNNABLE[tag], "\n".join(lines[start + 1:j]),
                               mode, reason))
        i = j + 1
    return found
