"""Run prebuilt Core statements straight on the driver's cursor, inside a SQLAlchemy transaction.

Why: ``Connection.execute`` costs about 15 µs per statement in Python (cache key, parameter and
result processing, events, Row objects), the driver itself 2-3 µs on SQLite. A fluent run (start,
params, metrics, end) is about ten statements and a search page reads a thousand child rows, so on
the hot paths that overhead was most of the time. Here the SQL is SQLAlchemy's own compilation of
the statement for the connection's dialect, with bound parameters (never values in the text),
compiled once per (dialect, statement); only the per-call machinery is skipped. It runs on the same
DBAPI connection, so it is part of the caller's transaction; driver errors are re-raised as
SQLAlchemy's exceptions (``IntegrityError``, ``OperationalError``...), as ``execute`` would.

Limits: no expanding ``IN`` parameters (checked when a statement is first prepared: bind one
parameter per item, or one array), and result columns must need no conversion (text, integers,
floats), because rows come back as the driver's plain tuples; parameters do get their type's
conversion (e.g. SQLite's Float coerces to float).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Dialect
    from sqlalchemy.sql import ClauseElement

__all__ = ["execute_many", "execute_sql", "executemany_sql", "fetch_all", "fetch_one"]


@dataclass(frozen=True, slots=True)
class _Prepared:
    sql: str
    defaults: dict[str, Any]  # values of binds with a fixed value (literals in the statement)
    order: tuple[str, ...] | None  # bind names in placeholder order (positional styles), else None
    processors: tuple[tuple[str, Any], ...]  # (bind name, driver-side conversion), e.g. SQLite Float

    def bind(self, params: Mapping[str, Any]) -> Any:
        values = {**self.defaults, **params} if self.defaults else dict(params)
        for name, process in self.processors:
            value = values[name]
            if value is not None:
                values[name] = process(value)
        return values if self.order is None else tuple(values[name] for name in self.order)


_CACHE_LIMIT = 1024
# (dialect class, paramstyle, statement) -> prepared. Keyed by the dialect's kind, not the instance:
# every engine of a kind compiles these statements alike, and a process (or a test suite) may open
# many engines. Statements are module constants or cached search plans, so the cache stays small;
# it is emptied should it ever grow past the limit.
_cache: dict[tuple[Any, ...], _Prepared] = {}


def _prepare(dialect: Dialect, stmt: ClauseElement) -> _Prepared:
    compiled: Any = stmt.compile(dialect=dialect)
    if compiled.post_compile_params or compiled.literal_execute_params:
        raise TypeError("rawsql cannot run expanding IN parameters: give one bound parameter per item")
    order = tuple(compiled.positiontup) if dialect.positional else None
    # Binds with a value fixed in the statement (literals) are defaults; required ones must be given.
    defaults = {name: value for name, value in compiled.params.items() if not compiled.binds[name].required}
    return _Prepared(str(compiled), defaults, order, tuple(compiled._bind_processors.items()))


def _prepared(conn: Connection, stmt: ClauseElement) -> _Prepared:
    dialect = conn.dialect
    key = (type(dialect), dialect.paramstyle, stmt)
    prepared = _cache.get(key)
    if prepared is None:
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        prepared = _cache[key] = _prepare(dialect, stmt)
    return prepared


def _cursor(conn: Connection) -> Any:
    return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


def _run(conn: Connection, stmt: ClauseElement, params: Mapping[str, Any]) -> Any:
    prepared = _prepared(conn, stmt)
    values = prepared.bind(params)
    cur = _cursor(conn)
    try:
        cur.execute(prepared.sql, values)
    except conn.dialect.loaded_dbapi.Error as exc:
        cur.close()
        raise DBAPIError.instance(prepared.sql, values, exc, conn.dialect.loaded_dbapi.Error,
                                  dialect=conn.dialect) from exc
    return cur


def fetch_all(conn: Connection, stmt: ClauseElement, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """All rows of a SELECT (or of a DML statement's RETURNING) as plain tuples."""
    cur = _run(conn, stmt, params)
    try:
        return cur.fetchall()  # type: ignore[no-any-return]
    finally:
        cur.close()


def fetch_one(conn: Connection, stmt: ClauseElement, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """The first row (or None); the rest of the result is discarded."""
    cur = _run(conn, stmt, params)
    try:
        return cur.fetchone()  # type: ignore[no-any-return]
    finally:
        cur.close()


def execute_many(conn: Connection, stmt: ClauseElement, rows: Sequence[Mapping[str, Any]]) -> int:
    """Run a DML statement (no RETURNING) once per parameter set; rows changed in all."""
    prepared = _prepared(conn, stmt)
    return executemany_sql(conn, prepared.sql, [prepared.bind(row) for row in rows])


def executemany_sql(conn: Connection, sql: str, params: Sequence[Any]) -> int:
    """``executemany`` of SQL compiled by SQLAlchemy for this dialect, with parameter sets in the
    driver's own form (tuples for positional styles); rows changed in all."""
    cur = _cursor(conn)
    try:
        cur.executemany(sql, params)
        return int(cur.rowcount)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(sql, params, exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect) from exc
    finally:
        cur.close()


def execute_sql(conn: Connection, sql: str) -> None:
    """Run a fixed statement with no parameters (``BEGIN IMMEDIATE``...)."""
    cur = _cursor(conn)
    try:
        cur.execute(sql)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(sql, (), exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect) from exc
    finally:
        cur.close()
