"""MLflow's small filter language of the registry, experiment and logged-model searches, evaluated
over entities the store returned (run searches go to the store's own filter compiler instead).

``clause (AND clause)*`` where a clause is ``ident op value``: ``ident`` an attribute (``name``,
``run_id``, ``source_path`` ...) or ``tags.<key>`` / ``tag.<key>`` (the key may be back-quoted),
``op`` one of ``= != < <= > >= LIKE ILIKE IN NOT IN``, ``value`` a quoted string, a number or a
parenthesised list. Unknown attributes and malformed filters are ``InvalidInput``, never ignored.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.errors import InvalidInput

__all__ = ["Clause", "matches", "order", "parse"]

_TOKEN = re.compile(r"""\s*(?:
      (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<bq>`[^`]*`)
    | (?P<op><=|>=|!=|<>|=|<|>|\(|\)|,)
    | (?P<word>[A-Za-z_][\w.\-]*|-?\d+(?:\.\d+)?)
    )""", re.VERBOSE)


@dataclass(frozen=True, slots=True)
class Clause:
    """``kind`` "attr" or "tag"; ``key`` the attribute or tag key; ``values`` one value, or the list of IN."""

    kind: str
    key: str
    op: str
    values: tuple[Any, ...]


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            raise InvalidInput(f"invalid filter {text[:200]!r}: unexpected text at position {pos}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _value(kind: str, tok: str) -> Any:
    if kind == "str":
        return re.sub(r"\\(.)", r"\1", tok[1:-1])
    if kind == "word" and re.fullmatch(r"-?\d+(?:\.\d+)?", tok):
        return float(tok) if "." in tok else int(tok)
    raise InvalidInput(f"invalid filter value {tok!r}: quote strings ('like this')")


def parse(text: str | None, attributes: tuple[str, ...]) -> list[Clause]:
    """The clauses of ``text`` (AND-ed); ``attributes``: the attribute names this search knows."""
    if not text or not text.strip():
        return []
    toks = _tokens(text)
    clauses: list[Clause] = []
    i = 0

    def take() -> tuple[str, str]:
        nonlocal i
        if i >= len(toks):
            raise InvalidInput(f"invalid filter {text[:200]!r}: it ends too early")
        i += 1
        return toks[i - 1]

    while True:
        kind, tok = take()
        if kind == "bq":
            ident = tok[1:-1]
        elif kind == "word":
            ident = tok
        else:
            raise InvalidInput(f"invalid filter {text[:200]!r}: expected a name, got {tok!r}")
        if ident.lower().startswith(("tags.", "tag.")) or (kind == "word" and ident.lower() in ("tags", "tag")):
            entity, _, key = ident.partition(".")
            if not key:  # tags.`quoted key`
                _, q = take()
                key = q.strip("`")
            what = "tag"
        else:
            entity, key, what = "", ident.removeprefix("attributes.").removeprefix("attribute."), "attr"
            if key not in attributes:
                raise InvalidInput(f"invalid filter: unknown attribute {key!r} (known: {', '.join(attributes)}, "
                                   "tags.<key>)")
        del entity
        _, op = take()
        op = op.upper()
        if op == "NOT":
            _, nxt = take()
            op = "NOT " + nxt.upper()
        if op == "<>":
            op = "!="
        if op in ("IN", "NOT IN"):
            if take()[1] != "(":
                raise InvalidInput(f"invalid filter {text[:200]!r}: IN needs a list in parentheses")
            values = []
            while True:
                values.append(_value(*take()))
                sep = take()[1]
                if sep == ")":
                    break
                if sep != ",":
                    raise InvalidInput(f"invalid filter {text[:200]!r}: expected ',' or ')' in a list")
            clauses.append(Clause(what, key, op, tuple(values)))
        elif op in ("=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE"):
            clauses.append(Clause(what, key, op, (_value(*take()),)))
        else:
            raise InvalidInput(f"invalid filter {text[:200]!r}: unknown operator {op!r}")
        if i >= len(toks):
            return clauses
        if take()[1].upper() != "AND":
            raise InvalidInput(f"invalid filter {text[:200]!r}: clauses are joined by AND")


def _like(pattern: str, value: str, flags: int = 0) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags | re.DOTALL) is not None


def _compare(op: str, have: Any, want: tuple[Any, ...]) -> bool:
    if op == "IN":
        return have is not None and str(have) in {str(v) for v in want}
    if op == "NOT IN":
        return have is None or str(have) not in {str(v) for v in want}
    value = want[0]
    if have is None:
        return op == "!="
    if op == "LIKE":
        return _like(str(value), str(have))
    if op == "ILIKE":
        return _like(str(value), str(have), re.IGNORECASE)
    if isinstance(value, int | float) and not isinstance(have, int | float):
        try:
            have = float(have)
        except (TypeError, ValueError):
            return False
    elif not isinstance(value, int | float):
        have, value = str(have), str(value)
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
    return ops[op](have, value)


def matches(clauses: list[Clause], attributes: Mapping[str, Any], tags: Mapping[str, str]) -> bool:
    return all(_compare(c.op, (tags.get(c.key) if c.kind == "tag" else attributes.get(c.key)), c.values)
               for c in clauses)


def order(items: list[Any], order_by: Sequence[str], attributes: tuple[str, ...]) -> None:
    """Sort ``items`` in place by MLflow ``order_by`` clauses (``"name ASC"``, ``"version_number DESC"``)."""
    for clause in reversed(order_by):
        key, _, direction = clause.strip().partition(" ")
        key = key.removeprefix("attributes.").removeprefix("attribute.")
        key = "version" if key == "version_number" else key
        if key not in attributes:
            raise InvalidInput(f"cannot order by {key[:40]!r} (known: {', '.join(attributes)})")
        items.sort(key=operator.attrgetter(key), reverse=direction.strip().upper() == "DESC")
