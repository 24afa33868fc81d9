"""Online stores: the latest row of each (feature view, entity key), for lookups at serving time.

Two implementations of one small interface (``write``, ``read``, ``close``): SQLite (a file, no
server; the default) and Redis. A row is written only if it is newer than the stored one (event
time, then created time), so materializations may overlap or arrive out of order.

An entity key is the JSON text of its join-key values in the view's order (``[42]``, ``["a", 7]``);
a value is the JSON object of the view's features plus its event and created times (microseconds).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson

from shipyard.errors import InvalidInput, StoreUnavailable

__all__ = ["OnlineRow", "OnlineStore", "PostgresOnlineStore", "RedisOnlineStore", "SqliteOnlineStore", "entity_key",
           "open_online_store"]

# (entity key, event time µs, created time µs, JSON payload of the features)
OnlineRow = tuple[str, int, int, bytes]


def entity_key(values: Sequence[Any]) -> str:
    return orjson.dumps(list(values), option=orjson.OPT_SERIALIZE_NUMPY).decode()


class OnlineStore(Protocol):
    name: str  # where it is, without credentials (recorded with each materialization)

    def write(self, view: str, rows: Sequence[OnlineRow]) -> int:
        """Store rows that are newer than what is stored; returns how many rows were given."""

    def read(self, view: str, keys: Sequence[str]) -> list[bytes | None]:
        """The payload of each key, None where the store has none."""

    def close(self) -> None: ...


class SqliteOnlineStore:
    """One SQLite table keyed by (view, entity key), WAL mode; safe to share between threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser().absolute()
        self.name = f"sqlite:///{self.path}"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS online_features (view TEXT NOT NULL, entity_key TEXT NOT NULL,"
                             " event_us INTEGER NOT NULL, created_us INTEGER NOT NULL, payload BLOB NOT NULL,"
                             " PRIMARY KEY (view, entity_key)) WITHOUT ROWID")
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(f"cannot open the online store at {str(self.path)!r}: {exc}") from exc
        self._lock = threading.Lock()
        self._selects: dict[int, str] = {}

    def write(self, view: str, rows: Sequence[OnlineRow]) -> int:
        sql = ("INSERT INTO online_features VALUES (?, ?, ?, ?, ?) ON CONFLICT (view, entity_key) DO UPDATE SET "
               "event_us = excluded.event_us, created_us = excluded.created_us, payload = excluded.payload "
               "WHERE excluded.event_us > online_features.event_us OR (excluded.event_us = online_features.event_us"
               " AND excluded.created_us >= online_features.created_us)")
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(sql, ((view, k, e, c, p) for k, e, c, p in rows))
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._db.execute("ROLLBACK") if self._db.in_transaction else None
                raise StoreUnavailable(f"the online store failed: {exc}") from exc
        return len(rows)

    def read(self, view: str, keys: Sequence[str]) -> list[bytes | None]:
        found: dict[str, bytes] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                part = keys[start:start + 500]
                sql = self._selects.get(len(part))
                if sql is None:
                    sql = ("SELECT entity_key, payload FROM online_features WHERE view = ? AND entity_key IN ("
                           + ",".join("?" * len(part)) + ")")
                    self._selects[len(part)] = sql
                found.update(self._db.execute(sql, (view, *part)).fetchall())
        return [found.get(k) for k in keys]

    def close(self) -> None:
        self._db.close()


class RedisOnlineStore:
    """One Redis string per (view, entity key) under ``prefix``; newer-wins is checked per batch."""

    def __init__(self, url: str, prefix: str = "shipyard:") -> None:
        try:
            import redis
        except ImportError:
            raise InvalidInput("a Redis online store needs the redis package: pip install 'shipyard[redis]'") from None
        parts = urlsplit(url)
        self.name = f"redis://{parts.hostname}:{parts.port or 6379}{parts.path or '/0'}?prefix={prefix}"
        self.prefix = prefix
        self._redis = redis.Redis.from_url(url)
        self._errors = (redis.RedisError,)

    def _key(self, view: str, key: str) -> str:
        return f"{self.prefix}{view}:{key}"

    def write(self, view: str, rows: Sequence[OnlineRow]) -> int:
        try:
            for start in range(0, len(rows), 2000):
                part = rows[start:start + 2000]
                names = [self._key(view, k) for k, _, _, _ in part]
                stored: list[bytes | None] = self._redis.mget(names)  # type: ignore[assignment]
                # newest per key over what is stored and this part's own rows: a key may come twice in
                # one write, and the later of equal rows wins, as in the SQL stores
                newest: dict[str, tuple[Any, Any, bytes | None]] = {}  # payload None: keep what is stored
                for name, (_, e, c, payload), old in zip(names, part, stored, strict=True):
                    if name not in newest and old is not None:
                        old_e, old_c = orjson.loads(old[: old.index(b"|")])
                        newest[name] = (old_e, old_c, None)
                    held = newest.get(name)
                    if held is None or (e, c) >= (held[0], held[1]):
                        newest[name] = (e, c, payload)
                pipe = self._redis.pipeline(transaction=False)
                for name, (e, c, value) in newest.items():
                    if value is not None:
                        pipe.set(name, orjson.dumps([e, c]) + b"|" + value)
                pipe.execute()
        except self._errors as exc:
            raise StoreUnavailable(f"the Redis online store failed: {exc}") from exc
        return len(rows)

    def read(self, view: str, keys: Sequence[str]) -> list[bytes | None]:
        try:
            values: list[bytes | None] = self._redis.mget([self._key(view, k) for k in keys])  # type: ignore[assignment]
        except self._errors as exc:
            raise StoreUnavailable(f"the Redis online store failed: {exc}") from exc
        return [None if v is None else v[v.index(b"|") + 1:] for v in values]

    def close(self) -> None:
        self._redis.close()


_PG_PREFIX = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$|^$")
_PG_SCHEMA = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_PG_URIS = ("postgresql://", "postgres://", "postgresql+psycopg://")


class PostgresOnlineStore:
    """The SQLite store's design on PostgreSQL: one table ``{prefix}online_features`` keyed by (view,
    entity key), newer-wins in the upsert itself, one ``= ANY(%s)`` query per view for a lookup.

    One connection (autocommit) behind a lock, like the SQLite store, reopened once when the server
    dropped it. ``prefix`` (default ``shipyard_``) and ``schema`` are identifiers, quoted in SQL;
    every value is a parameter.
    """

    def __init__(self, conninfo: str, *, prefix: str = "shipyard_", schema: str | None = None) -> None:
        try:
            import psycopg
            from psycopg import sql
        except ImportError:
            raise InvalidInput("a PostgreSQL online store needs psycopg: pip install 'shipyard[postgres]'") from None
        if not isinstance(prefix, str) or not _PG_PREFIX.match(prefix):
            raise InvalidInput(f"the online store's table prefix must be letters, digits or _ (at most 40, not "
                               f"starting with a digit), got {prefix!r}")
        if schema is not None and not _PG_SCHEMA.match(schema):
            raise InvalidInput(f"the online store's schema must be an identifier, got {schema!r}")
        parts = urlsplit(conninfo)
        # where it is, without user or password: recorded with each materialization, shown in the UI
        query = f"?prefix={prefix}" + ("" if schema is None else f"&schema={schema}")
        self.name = f"postgresql://{parts.hostname or ''}:{parts.port or 5432}{parts.path or '/'}{query}"
        self.table = f"{prefix}online_features"
        self._conninfo = conninfo
        self._psycopg = psycopg
        name = sql.Identifier(self.table) if schema is None else sql.Identifier(schema, self.table)
        self._create = sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (view TEXT NOT NULL, entity_key TEXT NOT NULL, event_us BIGINT NOT NULL,"
            " created_us BIGINT NOT NULL, payload BYTEA NOT NULL, PRIMARY KEY (view, entity_key))").format(name)
        # (event, created) compared as a row: the same order as the SQLite store's WHERE; equal wins
        # (a rerun rewrites the same row), as there
        self._upsert = sql.SQL(
            "INSERT INTO {} AS cur (view, entity_key, event_us, created_us, payload) "
            "SELECT %s, k, e, c, p FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::bytea[]) AS u(k, e, c, p) "
            "ON CONFLICT (view, entity_key) DO UPDATE SET event_us = excluded.event_us, "
            "created_us = excluded.created_us, payload = excluded.payload "
            "WHERE (excluded.event_us, excluded.created_us) >= (cur.event_us, cur.created_us)").format(name)
        self._select = sql.SQL("SELECT entity_key, payload FROM {} WHERE view = %s AND entity_key = ANY(%s)"
                               ).format(name)
        self._lock = threading.Lock()
        self._db: Any = None
        with self._lock:
            self._run(self._setup)

    def _setup(self, db: Any) -> None:
        with db.transaction():
            # concurrent CREATE TABLE IF NOT EXISTS can still collide in the catalog: one at a time
            db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.name,))
            db.execute(self._create)

    def _connect(self) -> Any:
        if self._db is None or self._db.closed:
            try:
                self._db = self._psycopg.connect(self._conninfo, autocommit=True, connect_timeout=10)
            except self._psycopg.Error as exc:
                raise StoreUnavailable(f"cannot open the online store at {self.name}: {exc}") from exc
        return self._db

    def _run(self, work: Any) -> Any:
        """``work(connection)``; once more on a fresh connection if the server dropped this one."""
        for attempt in (1, 2):
            db = self._connect()
            try:
                return work(db)
            except self._psycopg.OperationalError as exc:
                # only a dropped connection is worth a second try (a restarted server, an idle
                # timeout); a write tried again is harmless, the upsert keeps the newer row
                broken = db.broken or db.closed
                db.close()
                if attempt == 2 or not broken:
                    raise StoreUnavailable(f"the online store at {self.name} failed: {exc}") from exc
            except self._psycopg.Error as exc:
                raise StoreUnavailable(f"the online store at {self.name} failed: {exc}") from exc
        raise AssertionError("unreachable")

    def write(self, view: str, rows: Sequence[OnlineRow]) -> int:
        # One upsert cannot touch a row twice: keep per key the row the SQLite store would end with
        # (applied in order, a row replaces an older or equal one).
        best: dict[str, OnlineRow] = {}
        for row in rows:
            old = best.get(row[0])
            if old is None or (row[1], row[2]) >= (old[1], old[2]):
                best[row[0]] = row
        kept = list(best.values())
        if not kept:
            return 0

        def work(db: Any) -> None:
            with db.transaction():
                for start in range(0, len(kept), 5000):
                    part = kept[start:start + 5000]
                    db.execute(self._upsert, (view, [r[0] for r in part], [r[1] for r in part],
                                              [r[2] for r in part], [r[3] for r in part]))

        with self._lock:
            self._run(work)
        return len(rows)

    def read(self, view: str, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        with self._lock:
            found = dict(self._run(lambda db: db.execute(self._select, (view, list(keys))).fetchall()))
        return [None if (v := found.get(k)) is None else bytes(v) for k in keys]

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def _postgres_store(uri: str) -> PostgresOnlineStore:
    """``postgresql://user@host:port/db?prefix=shipyard_&schema=name``: the other query parameters
    (``sslmode``, ...) go to libpq."""
    parts = urlsplit(uri.replace("postgresql+psycopg://", "postgresql://", 1))
    query = parse_qs(parts.query, keep_blank_values=True)
    prefix = query.pop("prefix", ["shipyard_"])[0]
    schema = query.pop("schema", [None])[0]
    rest = urlencode(query, doseq=True)
    return PostgresOnlineStore(parts._replace(query=rest).geturl(), prefix=prefix, schema=schema)


def open_online_store(uri: str) -> OnlineStore:
    """``sqlite:///path``, ``redis://host:port/db?prefix=name:`` or
    ``postgresql://user@host:port/db?prefix=shipyard_``."""
    if uri.startswith("sqlite:///"):
        return SqliteOnlineStore(uri.removeprefix("sqlite:///"))
    if uri.startswith(_PG_URIS):
        return _postgres_store(uri)
    if uri.startswith(("redis://", "rediss://")):
        parts = urlsplit(uri)
        prefix = parse_qs(parts.query).get("prefix", ["shipyard:"])[0]
        return RedisOnlineStore(parts._replace(query="").geturl(), prefix=prefix)
    raise InvalidInput(f"online store URI must be sqlite:///path or redis://host:port/db or postgresql://..., "
                       f"got {uri!r}")
