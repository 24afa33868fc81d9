"""Filters on things other than runs, matched in Python: MLflow's registry and experiment filters.

The run search language (:mod:`shipyard.store.filter`) parses them with bare attribute names; the
candidates (a model's versions, the registered models, the experiments) are few enough to be matched
here rather than compiled to SQL, so every store (SQL or REST) answers them alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from shipyard.errors import FilterSyntaxError, InvalidInput
from shipyard.store.filter import And, Comparison, Node, Or, parse_filter

__all__ = ["EXPERIMENT_ATTRIBUTES", "MODEL_ATTRIBUTES", "VERSION_ATTRIBUTES", "equality_on", "filter_items",
           "order", "page"]

T = TypeVar("T")

VERSION_ATTRIBUTES = {"name": "str", "run_id": "str", "source_path": "str", "source": "str",
                      "version_number": "num", "version": "num", "current_stage": "str", "description": "str",
                      "creation_timestamp": "num", "last_updated_timestamp": "num"}
MODEL_ATTRIBUTES = {"name": "str", "description": "str", "creation_timestamp": "num",
                    "last_updated_timestamp": "num"}
EXPERIMENT_ATTRIBUTES = {"name": "str", "experiment_id": "str", "creation_time": "num", "last_update_time": "num",
                         "lifecycle_stage": "str"}
_ALIASES = {"source_path": "source", "version_number": "version"}


def _like(pattern: str, text: str, insensitive: bool) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.IGNORECASE | re.DOTALL if insensitive else re.DOTALL) is not None


def _compare(c: Comparison, actual: Any) -> bool:
    op, want = c.op, c.value
    if op == "IS NULL":
        return actual is None
    if op == "IS NOT NULL":
        return actual is not None
    if actual is None:
        return False
    values: tuple[Any, ...] = want if isinstance(want, tuple) else (want,)
    numeric = bool(values) and isinstance(values[0], float)  # the parser typed the values by attribute
    actual = float(actual) if numeric else str(actual)
    if op in ("IN", "NOT IN"):
        inside = actual in {float(x) if numeric else str(x) for x in values}
        return inside if op == "IN" else not inside
    if op in ("LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE"):
        found = _like(str(want), str(actual), "ILIKE" in op)
        return not found if op.startswith("NOT") else found
    checks: dict[str, Callable[[Any, Any], bool]] = {
        "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
    }
    return checks[op](actual, want)


def _matches(node: Node, item: Any) -> bool:
    if isinstance(node, And):
        return all(_matches(n, item) for n in node.items)
    if isinstance(node, Or):
        return any(_matches(n, item) for n in node.items)
    if node.entity == "tag":
        return _compare(node, (getattr(item, "tags", None) or {}).get(node.key))
    if node.entity != "attribute":
        raise InvalidInput(f"{node.entity}s cannot be searched here: use attributes or tags.<key>")
    key = _ALIASES.get(node.key, node.key)
    value = getattr(item, key, None)
    return _compare(node, value)


def filter_items(items: Iterable[T], filter_string: str | None, attributes: dict[str, str]) -> list[T]:
    """The items the filter keeps (all of them for no filter); FilterSyntaxError for a bad one."""
    node = parse_filter(filter_string, attributes)
    return list(items) if node is None else [item for item in items if _matches(node, item)]


def equality_on(filter_string: str | None, attribute: str, attributes: dict[str, str]) -> str | None:
    """The value of a top-level ``attribute = 'x'`` condition of the filter, if it has one (used to ask
    the store for fewer candidates)."""
    node = parse_filter(filter_string, attributes)
    items: Sequence[Node] = node.items if isinstance(node, And) else [node] if node is not None else []
    for item in items:
        if isinstance(item, Comparison) and item.entity == "attribute" and item.key == attribute and item.op == "=":
            return str(item.value)
    return None


def order(items: list[T], order_by: Sequence[str] | None, attributes: dict[str, str]) -> list[T]:
    """Sort by ``order_by`` entries such as ``"version_number DESC"`` or ``"name"`` (first entry first)."""
    for clause in reversed(list(order_by or [])):
        name, _, direction = clause.strip().partition(" ")
        key = name.strip("`").lower()
        if key not in attributes or direction.strip().upper() not in ("", "ASC", "DESC"):
            raise FilterSyntaxError(f"cannot order by {clause!r}: use one of {', '.join(sorted(attributes))} "
                                    "with ASC or DESC")
        attr = _ALIASES.get(key, key)
        items = sorted(items, key=lambda item: (getattr(item, attr, None) is None, getattr(item, attr, None) or 0),
                       reverse=direction.strip().upper() == "DESC")
    return items


def page(items: list[T], max_results: int, page_token: str | None) -> tuple[list[T], str | None]:
    """One page of already-filtered items; the token is the offset of the next page."""
    if max_results < 1:
        raise InvalidInput(f"max_results must be at least 1, got {max_results}")
    try:
        start = int(page_token) if page_token else 0
    except ValueError:
        raise InvalidInput(f"bad page token {page_token!r}: pass the token the previous page returned") from None
    end = start + max_results
    return items[start:end], (str(end) if end < len(items) else None)
