"""Compile a parsed run filter and order-by into SQLAlchemy Core expressions (bound parameters only).

Metrics, params and tags are matched with correlated ``EXISTS`` sub-queries, so OR and
parentheses need no special joins; ``metrics.x`` means the latest value of the series, which
``metric_series`` keeps on the row (an index on ``(key, value)`` serves range filters).
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import and_, exists, false, literal, not_, or_, select, true

from shipyard.errors import InvalidInput
from shipyard.store.filter import And, Comparison, Node, Or, OrderBy
from shipyard.store.sql.schema import metric_series, params, run_tags, runs

if TYPE_CHECKING:
    from sqlalchemy.sql import ColumnElement, Select

__all__ = ["apply_order_by", "compile_filter", "decode_page_token", "encode_page_token", "runs_query"]

_ATTRIBUTE_COLUMNS = {
    "run_id": runs.c.run_id,
    "run_name": runs.c.name,
    "status": runs.c.status,
    "start_time": runs.c.start_time,
    "end_time": runs.c.end_time,
    "artifact_uri": runs.c.artifact_uri,
    "user_id": runs.c.user_id,
    "experiment_id": runs.c.experiment_id,
    "parent_run_id": runs.c.parent_run_id,
    "lifecycle_stage": runs.c.lifecycle_stage,
}
_KEYED = {"metric": metric_series, "param": params, "tag": run_tags}


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    match op:
        case "=":
            return column == value
        case "!=":
            return column != value
        case "<":
            return column < value
        case "<=":
            return column <= value
        case ">":
            return column > value
        case ">=":
            return column >= value
        case "LIKE":
            return column.like(value)
        case "NOT LIKE":
            return column.not_like(value)
        case "ILIKE":
            return column.ilike(value)
        case "NOT ILIKE":
            return column.not_ilike(value)
        case "IN":
            return column.in_(list(value))
        case "NOT IN":
            return column.not_in(list(value))
        case "IS NULL":
            return column.is_(None)
        case "IS NOT NULL":
            return column.is_not(None)
    raise InvalidInput(f"unsupported operator {op!r}")  # the parser admits no other


def _comparison(node: Comparison) -> ColumnElement[bool]:
    if node.entity == "attribute":
        return _compare(_ATTRIBUTE_COLUMNS[node.key], node.op, node.value)
    table = _KEYED[node.entity]
    owned = and_(table.c.run_id == runs.c.run_id, table.c.key == node.key)
    if node.op == "IS NULL":
        return not_(exists().where(owned))
    if node.op == "IS NOT NULL":
        return exists().where(owned)
    return exists().where(owned, _compare(table.c.value, node.op, node.value))


def compile_filter(node: Node | None) -> ColumnElement[bool]:
    if node is None:
        return true()
    if isinstance(node, Comparison):
        return _comparison(node)
    parts = [compile_filter(item) for item in node.items]
    if isinstance(node, And):
        return and_(*parts)
    if isinstance(node, Or):
        return or_(*parts)
    return false()


def apply_order_by(query: Select[Any], order_by: list[OrderBy]) -> Select[Any]:
    """Add joins and ORDER BY terms; missing values sort last either way; ties by newest start."""
    terms: list[Any] = []
    for i, clause in enumerate(order_by):
        if clause.entity == "attribute":
            column: Any = _ATTRIBUTE_COLUMNS[clause.key]
        else:
            table = _KEYED[clause.entity].alias(f"order_{i}")
            query = query.outerjoin(
                table, and_(table.c.run_id == runs.c.run_id, table.c.key == literal(clause.key))
            )
            column = table.c.value
        terms.append(column.is_(None))
        terms.append(column.asc() if clause.ascending else column.desc())
    terms += [runs.c.start_time.desc(), runs.c.run_id.asc()]
    return query.order_by(*terms)


def runs_query(experiment_ids: list[str], lifecycle: list[str], node: Node | None) -> Select[Any]:
    return select(runs).where(
        runs.c.experiment_id.in_(experiment_ids),
        runs.c.lifecycle_stage.in_(lifecycle),
        compile_filter(node),
    )


def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"offset": offset})).decode()


def decode_page_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = orjson.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise InvalidInput(f"invalid page token {token!r}: pass the token a previous page returned") from None
    if not isinstance(offset, int) or offset < 0:
        raise InvalidInput(f"invalid page token {token!r}")
    return offset
