"""docs/features.md runs as written, and each result shown in a comment is what the line gives."""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path

import pytest

pytest.importorskip("pandas")
pytest.importorskip("duckdb")

DOC = Path(__file__).resolve().parents[2] / "docs" / "features.md"


def _blocks() -> list[tuple[int, str]]:
    """(lines of the page before the code, code) of each Python block, less those marked
    ``<!-- docs-test: skip REASON -->`` (a PostgreSQL server)."""
    text = DOC.read_text()
    found = re.finditer(r"(<!--[^\n]*-->\n)?```python\n(.*?)```", text, flags=re.S)
    return [(text.count("\n", 0, m.start(2)), m.group(2)) for m in found if "docs-test: skip" not in (m.group(1) or "")]


def _same(value: object, shown: str) -> bool:
    expected = eval(shown, {"nan": math.nan})
    return repr(value).replace("nan", "None") == repr(expected).replace("nan", "None")


def test_the_feature_docs_run_and_show_true_results() -> None:
    namespace: dict[str, object] = {}
    checked = 0
    for offset, block in _blocks():
        lines = block.splitlines()
        tree = ast.parse(block)
        # line numbers of the page, so inspect.getsource (an on-demand function's hash) reads the function
        ast.increment_lineno(tree, offset)
        for node in tree.body:
            code = compile(ast.Module([node], type_ignores=[]), str(DOC), "exec")
            end = node.end_lineno - offset  # type: ignore[operator]
            following = lines[end] if end < len(lines) else ""
            shown = following.strip()
            if isinstance(node, ast.Expr) and shown.startswith("# ") and shown[2:3] in "[{0123456789'":
                value = eval(compile(ast.Expression(node.value), str(DOC), "eval"), namespace)
                assert _same(value, shown[2:]), f"line {node.lineno}: {value!r} != {shown[2:]}"
                checked += 1
            else:
                exec(code, namespace)
    assert checked >= 6
