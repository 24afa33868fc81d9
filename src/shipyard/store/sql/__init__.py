"""The SQL implementation of the Store interface (SQLAlchemy 2 Core; SQLite and PostgreSQL)."""

from __future__ import annotations

from shipyard.store.sql.store import SqlStore

__all__ = ["SqlStore"]
