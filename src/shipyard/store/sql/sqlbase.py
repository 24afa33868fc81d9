"""What both halves of SqlStore share: the engine, transactions that translate driver errors, and
small SQL helpers that differ per dialect."""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError, ProgrammingError

from shipyard.errors import Conflict, InvalidInput, ShipyardError, StoreUnavailable
from shipyard.store.sql.engine import read_tx, write_tx
from shipyard.store.sql.rawsql import executemany_sql
from shipyard.store.validation import check_no_nul

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.sql.dml import Insert

__all__ = ["SqlBase", "bulk_insert", "chunks", "insert_ignore", "now_ms", "store_boundary", "to_json"]

logger = logging.getLogger(__name__)
T = TypeVar("T")
C = TypeVar("C", bound=type)
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
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
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
    """Driver errors become shipyard errors, chained: :class:`StoreUnavailable` only when the database
    cannot be reached or cannot work (connection lost, locked past the busy timeout, disk full, server
    shutting down); a value or a request the database refuses as such is :class:`InvalidInput`.
    IntegrityError is left for the caller to name (``store_boundary`` maps any it leaves to Conflict)."""
    try:
        yield
    except IntegrityError:
        raise
    except DBAPIError as exc:
        raise _mapped(exc) from exc


# SQLSTATE classes of PostgreSQL errors that say the database cannot serve right now (08 connection,
# 53 insufficient resources, 57 operator intervention such as a shutdown, 58 system error, XX internal).
_UNAVAILABLE_CLASSES = {"08", "53", "57", "58", "XX"}
# A table, column or function missing: a database at another schema version (as SQLite's "no such table").
_UNAVAILABLE_STATES = {"42P01", "42703", "42883", "3D000", "3F000"}
# SQLite result codes (sqlite_errorname) that say the same of the database file.
_SQLITE_UNAVAILABLE = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_CANTOPEN",
                       "SQLITE_READONLY", "SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_PROTOCOL", "SQLITE_NOMEM",
                       "SQLITE_PERM", "SQLITE_AUTH")
# SQLite refusals of a statement that is too big or too deep for it: the input's size, not the store.
_SQLITE_TOO_BIG = ("too many SQL variables", "Expression tree is too large", "parser stack overflow",
                   "too many terms", "string or blob too big", "tables in a join", "too many FROM clause terms",
                   "too many columns", "LIKE or GLOB pattern too complex")


def _mapped(exc: DBAPIError) -> ShipyardError:
    reason = _short(exc)
    orig: Any = exc.orig
    if exc.connection_invalidated:
        return StoreUnavailable(f"the database connection failed: {reason}")
    if isinstance(exc, DataError):
        # A value the database cannot hold (NUL in text, a number out of range, text too long).
        return InvalidInput(f"the database refused a value: {reason}")
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str):  # PostgreSQL (psycopg)
        if sqlstate[:2] in _UNAVAILABLE_CLASSES or sqlstate in _UNAVAILABLE_STATES:
            return StoreUnavailable(f"the database failed: {reason}")
        if sqlstate[:2] in ("22", "54"):  # data exception; program limit exceeded (too deep, too many)
            return InvalidInput(f"the database refused the request: {reason}")
        logger.error("the database refused a statement (SQLSTATE %s)", sqlstate, exc_info=exc)
        return ShipyardError(f"the database refused the operation: {reason}")
    errorname = getattr(orig, "sqlite_errorname", None)
    if isinstance(errorname, str):  # SQLite
        if errorname.startswith(_SQLITE_UNAVAILABLE):
            return StoreUnavailable(f"the database failed: {reason}")
        if errorname == "SQLITE_TOOBIG" or any(text in reason for text in _SQLITE_TOO_BIG):
            return InvalidInput(f"the request is too large for the database: {reason}")
    if isinstance(exc, OperationalError):
        # No code to go by: psycopg's own connection failures, SQLite's "no such table"... The
        # client-side refusal of more than 65,535 parameters is the request's size.
        if "number of parameters must be between" in reason:
            return InvalidInput(f"the request is too large for the database: {reason}")
        return StoreUnavailable(f"the database failed: {reason}")
    if isinstance(exc, InterfaceError | ProgrammingError) and "binding parameter" in reason.lower():
        return InvalidInput(f"the database cannot store a value of this type: {reason}")
    logger.error("the database refused a statement", exc_info=exc)
    return ShipyardError(f"the database refused the operation: {reason}")


def _short(exc: DBAPIError) -> str:
    orig: Any = exc.orig
    return str(orig).splitlines()[0] if orig is not None else type(exc).__name__


def store_boundary(cls: C, *, checked_inside: dict[str, frozenset[str]] | None = None) -> C:
    """Guard every public method of ``cls``, the SQL store's face to every caller (SDK, server, UI):

    - a NUL character in any argument, however nested, is refused as InvalidInput naming the argument
      (PostgreSQL cannot store one; SQLite would keep it silently);
    - an IntegrityError that no method named (a constraint the input broke) becomes Conflict, and an
      OverflowError (an integer past 64 bits, which sqlite3 refuses itself) InvalidInput.

    ``checked_inside`` names, per method, arguments the method validates itself (in ways that admit no
    NUL), skipped here because they are large and on a hot path (a batch of metrics)."""
    skips = checked_inside or {}
    for name in dir(cls):
        if name.startswith("_") or name == "close":
            continue
        method = inspect.getattr_static(cls, name)
        if not inspect.isfunction(method):
            continue
        setattr(cls, name, _guarded(method, skips.get(name, frozenset())))
    return cls


def _guarded(method: Callable[..., T], skipped: frozenset[str]) -> Callable[..., T]:
    names = tuple(inspect.signature(method).parameters)[1:]  # after self

    @functools.wraps(method)
    def guarded(self: Any, *args: Any, **kwargs: Any) -> T:
        for name, value in zip(names, args, strict=False):
            if name not in skipped:
                check_no_nul(value, name)
        for name, value in kwargs.items():
            if name not in skipped:
                check_no_nul(value, name)
        try:
            return method(self, *args, **kwargs)
        except IntegrityError as exc:
            raise Conflict(f"the change conflicts with what is stored: {_short(exc)}") from exc
        except OverflowError as exc:  # sqlite3 refuses an int past 64 bits before the database sees it
            raise InvalidInput(f"a number is out of range (integers are stored in 64 bits): {exc}") from exc

    return guarded
