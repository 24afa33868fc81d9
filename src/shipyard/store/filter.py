"""The run search language: parsed into a syntax tree, never pasted into SQL.

Grammar (keywords are case-insensitive)::

    filter     := or_expr
    or_expr    := and_expr ("OR" and_expr)*
    and_expr   := atom ("AND" atom)*
    atom       := "(" or_expr ")" | comparison
    comparison := ident op value
                | ident "IS" ["NOT"] "NULL"
                | ident ["NOT"] "IN" "(" value ("," value)* ")"
    ident      := entity "." key           entity: metrics params tags attributes (and singulars)
    key        := name ("." name)*  |  `any text`  |  "any text"
    op         := "=" | "!=" | "<" | "<=" | ">" | ">=" | "LIKE" | "ILIKE" | "NOT LIKE" | "NOT ILIKE"
    value      := number | 'text' | "text"

This is MLflow's filter language plus OR and parentheses, which MLflow lacks. A malformed filter
raises :class:`~shipyard.errors.FilterSyntaxError` naming the position and what was expected.

Limits, far beyond any filter a person writes, keep a generated one from exhausting the parser's
stack or the database's (SQLite refuses an expression over 1,000 levels deep, and 1,000 ORs are one;
PostgreSQL's planner takes seconds over 100 ANDed conditions, minutes over 200):
at most :data:`MAX_FILTER_LENGTH` characters, :data:`MAX_FILTER_DEPTH` nested parentheses,
:data:`MAX_FILTER_COMPARISONS` comparisons and :data:`MAX_FILTER_VALUES` values (each ``IN`` item
counts). Past one, the filter is refused with a ``FilterSyntaxError`` that names the limit. An
``order_by`` list holds at most :data:`MAX_ORDER_BY_KEYS` keys (each is a join; SQLite joins 64 tables).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from shipyard.errors import FilterSyntaxError

__all__ = [
    "ATTRIBUTES",
    "MAX_FILTER_COMPARISONS",
    "MAX_FILTER_DEPTH",
    "MAX_FILTER_LENGTH",
    "MAX_FILTER_VALUES",
    "MAX_ORDER_BY_KEYS",
    "And",
    "Comparison",
    "Node",
    "Or",
    "OrderBy",
    "parse_filter",
    "parse_order_by",
    "parse_order_by_list",
]

MAX_FILTER_LENGTH = 100_000
MAX_FILTER_DEPTH = 20
MAX_FILTER_COMPARISONS = 50
MAX_FILTER_VALUES = 1_000
MAX_ORDER_BY_KEYS = 20

Entity = Literal["metric", "param", "tag", "attribute"]

_ENTITIES: dict[str, Entity] = {
    "metric": "metric",
    "metrics": "metric",
    "param": "param",
    "params": "param",
    "parameter": "param",
    "parameters": "param",
    "tag": "tag",
    "tags": "tag",
    "attribute": "attribute",
    "attributes": "attribute",
    "attr": "attribute",
    "run": "attribute",
}
# Attribute name -> "num" or "str"; the aliases are MLflow's spellings.
ATTRIBUTES: dict[str, str] = {
    "run_id": "str",
    "run_name": "str",
    "status": "str",
    "start_time": "num",
    "end_time": "num",
    "artifact_uri": "str",
    "user_id": "str",
    "experiment_id": "str",
    "parent_run_id": "str",
    "lifecycle_stage": "str",
}
_ATTRIBUTE_ALIASES = {"run_uuid": "run_id", "runname": "run_name", "name": "run_name"}
_OPS = {"=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE", "IN", "NOT IN",
        "IS NULL", "IS NOT NULL"}

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?))(?![\w.])
  | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
  | (?P<backtick>`[^`]*`)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),.])
  | (?P<word>[A-Za-z_][\w\-/:]*)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Comparison:
    entity: Entity
    key: str
    op: str
    value: float | str | tuple[float | str, ...] | None


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]


Node = Comparison | And | Or


@dataclass(frozen=True, slots=True)
class OrderBy:
    entity: Entity
    key: str
    ascending: bool


@dataclass(slots=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise FilterSyntaxError(f"unexpected character {text[pos]!r}", text=text, position=pos)
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append(_Tok(kind, m.group(), pos))
        pos = m.end()
    tokens.append(_Tok("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str, attributes: dict[str, str] | None = None) -> None:
        self.text = text
        # Other searches (model versions, registered models, experiments) name their own attributes,
        # written bare as MLflow does: ``name = 'churn'``, ``version_number > 2``.
        self.bare = attributes is not None
        self.attributes = ATTRIBUTES if attributes is None else attributes
        self.toks = _tokenize(text)
        self.i = 0
        self.depth = 0  # parentheses open at the current token
        self.comparisons = 0
        self.values = 0

    # -- helpers
    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def fail(self, expected: str, tok: _Tok | None = None) -> FilterSyntaxError:
        tok = tok or self.tok
        found = "end of input" if tok.kind == "end" else repr(tok.text)
        return FilterSyntaxError(f"expected {expected}, found {found}", text=self.text, position=tok.pos)

    def keyword(self, *words: str) -> bool:
        if self.tok.kind == "word" and self.tok.text.upper() in words:
            self.i += 1
            return True
        return False

    def punct(self, ch: str) -> bool:
        if self.tok.kind == "punct" and self.tok.text == ch:
            self.i += 1
            return True
        return False

    # -- grammar
    def parse(self) -> Node:
        node = self.or_expr()
        if self.tok.kind != "end":
            raise self.fail("AND, OR or the end of the filter")
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.keyword("OR"):
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items = [self.atom()]
        while self.keyword("AND"):
            items.append(self.atom())
        return items[0] if len(items) == 1 else And(tuple(items))

    def atom(self) -> Node:
        start = self.tok
        if self.punct("("):
            self.depth += 1
            if self.depth > MAX_FILTER_DEPTH:
                raise FilterSyntaxError(f"the filter nests parentheses more than {MAX_FILTER_DEPTH} deep",
                                        text=self.text, position=start.pos)
            node = self.or_expr()
            if not self.punct(")"):
                raise self.fail("')'")
            self.depth -= 1
            return node
        self.comparisons += 1
        if self.comparisons > MAX_FILTER_COMPARISONS:
            raise FilterSyntaxError(f"the filter has more than {MAX_FILTER_COMPARISONS} comparisons: "
                                    "use IN (...) for a list of values", text=self.text, position=start.pos)
        return self.comparison()

    def ident(self) -> tuple[Entity, str, _Tok]:
        start = self.tok
        after = self.toks[min(self.i + 1, len(self.toks) - 1)]  # the filter may end here
        if (self.bare and start.kind == "word" and start.text.lower() in self.attributes
                and not (after.kind == "punct" and after.text == ".")):
            self.i += 1
            return "attribute", start.text.lower(), start
        if start.kind != "word" or start.text.lower() not in _ENTITIES:
            if self.bare:
                raise self.fail(f"{', '.join(sorted(self.attributes))} or tags.<key>")
            raise self.fail("metrics.<key>, params.<key>, tags.<key> or attributes.<name>")
        entity = _ENTITIES[start.text.lower()]
        self.i += 1
        if not self.punct("."):
            raise self.fail(f"'.' after {start.text!r}")
        key = self.key()
        if entity == "attribute":
            name = key.lower() if self.bare else _ATTRIBUTE_ALIASES.get(key.lower(), key.lower())
            if name not in self.attributes:
                raise FilterSyntaxError(
                    f"unknown attribute {key!r} (known: {', '.join(sorted(self.attributes))})",
                    text=self.text,
                    position=start.pos,
                )
            key = name
        return entity, key, start

    def key(self) -> str:
        tok = self.tok
        if tok.kind == "backtick":
            self.i += 1
            return tok.text[1:-1]
        if tok.kind == "string" and tok.text.startswith('"'):
            self.i += 1
            return _unquote(tok.text)
        if tok.kind not in ("word", "number"):
            raise self.fail("a key name (use `backticks` for names with spaces)")
        parts = [tok.text]
        self.i += 1
        # Dotted keys such as tags.mlflow.runName: join adjacent name parts.
        while self.tok.kind == "punct" and self.tok.text == "." and self.toks[self.i + 1].kind in ("word", "number"):
            parts.append(self.toks[self.i + 1].text)
            self.i += 2
        return ".".join(parts)

    def comparison(self) -> Comparison:
        entity, key, start = self.ident()
        op = self.operator()
        if op in ("IS NULL", "IS NOT NULL"):
            return Comparison(entity, key, op, None)
        if op in ("IN", "NOT IN"):
            if not self.punct("("):
                raise self.fail("'(' after IN")
            values = [self.value(entity, key)]
            while self.punct(","):
                values.append(self.value(entity, key))
            if not self.punct(")"):
                raise self.fail("',' or ')'")
            return Comparison(entity, key, op, tuple(values))
        value = self.value(entity, key)
        if op in ("LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE") and not isinstance(value, str):
            raise FilterSyntaxError(f"{op} needs a quoted pattern", text=self.text, position=start.pos)
        return Comparison(entity, key, op, value)

    def operator(self) -> str:
        tok = self.tok
        if tok.kind == "op":
            self.i += 1
            return "!=" if tok.text == "<>" else tok.text
        if self.keyword("LIKE", "ILIKE", "IN"):
            return tok.text.upper()
        if self.keyword("NOT"):
            if self.keyword("LIKE", "ILIKE", "IN"):
                return "NOT " + self.toks[self.i - 1].text.upper()
            raise self.fail("LIKE, ILIKE or IN after NOT")
        if self.keyword("IS"):
            negate = self.keyword("NOT")
            if not self.keyword("NULL"):
                raise self.fail("NULL")
            return "IS NOT NULL" if negate else "IS NULL"
        raise self.fail("a comparison operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, IS NULL)")

    def value(self, entity: Entity, key: str) -> float | str:
        tok = self.tok
        self.values += 1
        if self.values > MAX_FILTER_VALUES:
            raise FilterSyntaxError(f"the filter has more than {MAX_FILTER_VALUES} values (IN items count)",
                                    text=self.text, position=tok.pos)
        numeric = entity == "metric" or (entity == "attribute" and self.attributes[key] == "num")
        if tok.kind == "number":
            self.i += 1
            if not numeric:
                raise FilterSyntaxError(
                    f"{entity} {key!r} is compared as text: quote the value ('{tok.text}')",
                    text=self.text,
                    position=tok.pos,
                )
            return float(tok.text)
        if tok.kind == "string":
            self.i += 1
            if numeric:
                raise FilterSyntaxError(
                    f"{entity} {key!r} is a number: write it without quotes", text=self.text, position=tok.pos
                )
            return _unquote(tok.text)
        raise self.fail("a number" if numeric else "a quoted string")


def _unquote(s: str) -> str:
    quote = s[0]
    body = s[1:-1]
    if quote == "'":
        body = body.replace("''", "'")
    return re.sub(r"\\(.)", r"\1", body)


def parse_filter(text: str | None, attributes: dict[str, str] | None = None) -> Node | None:
    """Parse a filter string; ``None`` or blank means no filter.

    ``attributes`` (name -> "num" or "str") replaces the run attributes for searches of other things,
    whose attributes are written bare (``name LIKE 'churn%'``); ``tags.<key>`` works in both.
    """
    if text is None or not text.strip():
        return None
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterSyntaxError(f"the filter is {len(text):,} characters long; the limit is {MAX_FILTER_LENGTH:,}")
    return _Parser(text, attributes).parse()


def parse_order_by(clause: str) -> OrderBy:
    """Parse one ``order_by`` entry such as ``metrics.acc DESC`` or ``start_time``."""
    text = clause.strip()
    direction = True
    m = re.match(r"^(.*?)\s+(ASC|DESC)$", text, re.IGNORECASE)
    if m:
        text, direction = m.group(1), m.group(2).upper() == "ASC"
    if "." not in text.split("`")[0]:
        text = "attributes." + text  # MLflow accepts bare attribute names here
    parser = _Parser(text)
    entity, key, _ = parser.ident()
    if parser.tok.kind != "end":
        raise parser.fail("ASC, DESC or the end of the order-by clause")
    return OrderBy(entity, key, direction)


def parse_order_by_list(clauses: Sequence[str] | None) -> list[OrderBy]:
    """Parse every ``order_by`` entry; at most :data:`MAX_ORDER_BY_KEYS` of them."""
    if clauses is None:
        return []
    if isinstance(clauses, str):
        clauses = [clauses]
    if len(clauses) > MAX_ORDER_BY_KEYS:
        raise FilterSyntaxError(f"order_by has {len(clauses)} keys; the limit is {MAX_ORDER_BY_KEYS}")
    return [parse_order_by(clause) for clause in clauses]
