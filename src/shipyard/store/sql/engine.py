"""Engines for SQLite and PostgreSQL, set up for several processes writing at once.

SQLite: WAL journal (readers never block the writer), ``synchronous=NORMAL`` (a commit is durable
once it returns, against any crash of the process; only an OS crash or power loss can drop the last
commits — set ``SHIPYARD_SQLITE_SYNCHRONOUS=FULL`` for that too), a busy timeout, and write
transactions opened with ``BEGIN IMMEDIATE``: a deferred transaction that reads and then writes can
fail at once with "database is locked" when another process got the write lock in between, which no
busy timeout repairs. Reads stay deferred so they never wait for a writer.
"""

from __future__ import annotations

import os
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import create_engine, event

from shipyard.errors import InvalidInput, StoreUnavailable
from shipyard.store.sql.rawsql import execute_sql

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import Connection, Engine

__all__ = ["make_engine", "read_tx", "write_tx"]

_BUSY_TIMEOUT_MS = 60_000


def make_engine(uri: str) -> Engine:
    """An engine for ``sqlite:///path`` or ``postgresql://...`` (psycopg 3)."""
    if uri.startswith("sqlite:"):
        return _sqlite_engine(uri)
    if uri.startswith(("postgresql:", "postgres:", "postgresql+psycopg:")):
        url = "postgresql+psycopg:" + uri.split(":", 1)[1]
        engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
        _fresh_pool_after_fork(engine)
        return engine
    raise InvalidInput(f"unsupported database URI {uri!r}: use sqlite:///path or postgresql://...")


def _fresh_pool_after_fork(engine: Engine) -> None:
    """A pooled connection must never be shared with a forked child: the child starts a fresh pool."""
    ref = weakref.ref(engine)

    def after_in_child() -> None:
        alive = ref()
        if alive is not None:
            alive.dispose(close=False)

    os.register_at_fork(after_in_child=after_in_child)


def _sqlite_engine(uri: str) -> Engine:
    path = uri.removeprefix("sqlite:///")
    if uri != "sqlite://" and path and path != ":memory:":
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create the folder for the database {path!r}: {exc}") from exc
    synchronous = os.environ.get("SHIPYARD_SQLITE_SYNCHRONOUS", "NORMAL").upper()
    if synchronous not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
        raise InvalidInput(f"SHIPYARD_SQLITE_SYNCHRONOUS={synchronous!r}: use NORMAL or FULL")
    engine = create_engine(
        uri, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
    )
    _fresh_pool_after_fork(engine)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see module docstring)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA case_sensitive_like=ON")  # LIKE as in PostgreSQL; ILIKE is lower() LIKE lower()
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get("shipyard_write") else "DEFERRED"
        # On the driver's cursor (errors still become SQLAlchemy's): exec_driver_sql's overhead was
        # about a tenth of a small write transaction.
        execute_sql(conn, f"BEGIN {mode}")

    return engine


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """A write transaction: committed on success, rolled back on any exception."""
    with engine.connect().execution_options(shipyard_write=True) as conn, conn.begin():
        yield conn


@contextmanager
def read_tx(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn, conn.begin():
        yield conn
