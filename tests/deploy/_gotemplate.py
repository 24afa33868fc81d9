"""Enough of Go's text/template to render the Helm chart of deploy/helm without helm.

No container runtime or helm binary is available where the tests run, so the chart keeps to a
subset this module renders exactly: ``{{ .Values.a.b }}``, ``{{ .Release.Name }}``, ``$.`` for the
top level inside a ``range``, ``{{ .field }}`` of the range's item, ``{{- range .Values.list }}``,
``{{- if .Values.flag }}`` and ``{{- end }}``, with ``{{-``/``-}}`` trimming whitespace as Go does.
Anything else (functions, pipes, ``include``) is a ValueError, so a template that grows beyond the
subset fails the test instead of being checked wrongly.
"""

from __future__ import annotations

import re
from typing import Any

_ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)
_PATH = re.compile(r"^(\$)?(\.[A-Za-z_][A-Za-z0-9_]*)+$|^\.$")


def _lookup(path: str, dot: Any, top: Any) -> Any:
    if not _PATH.match(path):
        raise ValueError(f"template expression outside the supported subset: {path!r}")
    value = top if path.startswith("$") else dot
    for part in path.lstrip("$").split(".")[1:]:
        if not part:
            continue
        if not isinstance(value, dict) or part not in value:
            raise ValueError(f"{path!r}: no value {part!r}")
        value = value[part]
    return value


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    for match in _ACTION.finditer(text):
        literal = text[pos:match.start()]
        if match.group(1):
            literal = literal.rstrip()
        out.append(("text", literal))
        out.append(("action", match.group(2)))
        pos = match.end()
        if match.group(3):
            rest = text[pos:]
            pos += len(rest) - len(rest.lstrip())
    out.append(("text", text[pos:]))
    return out


def render(template: str, context: dict[str, Any]) -> str:
    tokens = _tokens(template)
    out, index = _render(tokens, 0, context, context)
    if index != len(tokens):
        raise ValueError("unbalanced {{ end }}")
    return out


def _render(tokens: list[tuple[str, str]], i: int, dot: Any, top: Any) -> tuple[str, int]:
    out: list[str] = []
    while i < len(tokens):
        kind, value = tokens[i]
        if kind == "text":
            out.append(value)
            i += 1
            continue
        if value == "end":
            return "".join(out), i
        word, _, rest = value.partition(" ")
        if word in ("range", "if"):
            end = _block_end(tokens, i + 1)
            subject = _lookup(rest.strip(), dot, top)
            if word == "range":
                for item in subject or []:
                    out.append(_render(tokens[i + 1:end], 0, item, top)[0])
            elif subject:
                out.append(_render(tokens[i + 1:end], 0, dot, top)[0])
            i = end + 1
            continue
        out.append(str(_lookup(value, dot, top)))
        i += 1
    return "".join(out), i


def _block_end(tokens: list[tuple[str, str]], i: int) -> int:
    depth = 0
    while i < len(tokens):
        kind, value = tokens[i]
        if kind == "action":
            if value.split(" ")[0] in ("range", "if"):
                depth += 1
            elif value == "end":
                if depth == 0:
                    return i
                depth -= 1
        i += 1
    raise ValueError("a range or if without its {{ end }}")
