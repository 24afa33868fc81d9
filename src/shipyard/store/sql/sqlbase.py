"""What both halves of SqlStore share: the engine, transactions that translate driver errors, and
small SQL helpers that differ per dialect."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from shipyard.errors import InvalidInput, StoreUnavailable
from shipyard.store.sql.engine import read_tx, write_tx
from shipyard.store.sql.rawsql import executemany_sql

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.sql.dml import Insert

__all__ = ["SqlBase", "bulk_insert", "chunks", "insert_ignore", "now_ms", "to_json"]

T = TypeVar("T")
_CHUNK = 900  # stays under every SQLite build's limit on bound parameters


def now_ms() -> int:
    """The store's clock: integer milliseconds since the epoch, UTC."""
    return int(time.time() * 1000)


def to_json(value: object, what: str) -> str:
    """JSON text for a column; NaN and inf become null (orjson's rule), NumPy values are accepted.
    Raises InvalidInput naming ``what`` for a value that is not JSON-serializable."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS).decode()
    except TypeError as exc:
        raise InvalidInput(f"{what} is not JSON-serializable: {exc}") from None


def chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def insert_ignore(conn: Connection, table: Table, keys: list[str]) -> Insert:
    """INSERT that skips rows whose unique ``keys`` exist already (race-safe get-or-create)."""
    return _insert_ignore(conn.dialect.name, table, tuple(keys))


@functools.cache
def _insert_ignore(dialect: str, table: Table, keys: tuple[str, ...]) -> Insert:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing(index_elements=list(keys))


def bulk_insert(conn: Connection, table: Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Insert many rows given as tuples in ``columns`` order.

    The statement is SQLAlchemy's own compiled INSERT with bound parameters, run on the driver's
    cursor: the per-row parameter processing of ``Connection.execute`` is most of the cost of a
    10,000-point metric batch (about 3x on SQLite), its per-call overhead a good part of a small one.
    """
    sql, positional = _compiled_insert(conn.dialect, table, columns)
    if positional:
        executemany_sql(conn, sql, rows)
    else:
        executemany_sql(conn, sql, [dict(zip(columns, row, strict=True)) for row in rows])


@functools.cache
def _compiled_insert(dialect: Any, table: Table, columns: tuple[str, ...]) -> tuple[str, bool]:
    compiled = table.insert().compile(dialect=dialect, column_keys=list(columns))
    if dialect.positional and list(compiled.positiontup or []) != list(columns):
        raise AssertionError(f"unexpected parameter order {compiled.positiontup} for {columns}")
    return str(compiled), bool(dialect.positional)


class SqlBase:
    """Holds the engine; every public method runs inside :meth:`_write` or :meth:`_read`."""

    _engine: Engine
    artifact_root: str

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with _translated(), write_tx(self._engine) as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with _translated(), read_tx(self._engine) as conn:
            yield conn


@contextmanager
def _translated() -> Iterator[None]:
    """Driver errors become StoreUnavailable, chained; IntegrityError is left for the caller to name."""
    try:
        yield
    except IntegrityError:
        raise
    except OperationalError as exc:
        raise StoreUnavailable(f"the database failed: {_short(exc)}") from exc
    except DBAPIError as exc:
        raise StoreUnavailable(f"the database rejected the operation: {_short(exc)}") from exc


def _short(exc: DBAPIError) -> str:
    orig: Any = exc.orig
    return str(orig).splitlines()[0] if orig is not None else type(exc).__name__
