"""Bring a database to the schema this shipyard expects, through Alembic migrations.

A fresh database is created by running every migration (never ``create_all``), so a database made
today and one upgraded from an old release end up identical. The check on every start is one cheap
query; Alembic is imported only when there is something to upgrade. Concurrent first starts are
safe: the upgrade runs inside one write transaction (SQLite's write lock, PostgreSQL's advisory lock)
and re-reads the revision once it holds the lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from shipyard.errors import StoreUnavailable
from shipyard.store.sql.engine import write_tx

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

__all__ = ["HEAD_REVISION", "current_revision", "upgrade"]

HEAD_REVISION = "0011"
_KNOWN = {"0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009", "0010", "0011"}
_PG_LOCK_KEY = 7_263_551_001  # any fixed number, shared by every shipyard process


def current_revision(conn: Connection) -> str | None:
    """The Alembic revision the database is at, or None for an empty database."""
    try:
        with conn.begin_nested():
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    except DBAPIError:
        return None
    return row[0] if row else None


def upgrade(engine: Engine) -> None:
    """Run the migrations the database lacks; a no-op on an up-to-date database."""
    with engine.connect() as conn:
        if current_revision(conn) == HEAD_REVISION:
            return
    with write_tx(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        revision = current_revision(conn)
        if revision == HEAD_REVISION:
            return
        if revision is not None and revision not in _KNOWN:
            raise StoreUnavailable(
                f"the database is at schema revision {revision!r}, newer than this shipyard knows "
                f"({HEAD_REVISION!r}): upgrade shipyard"
            )
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
