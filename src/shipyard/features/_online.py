"""Online stores: the latest row of each (feature view, entity key), for lookups at serving time.

Two implementations of one small interface (``write``, ``read``, ``close``): SQLite (a file, no
server; the default) and Redis. A row is written only if it is newer than the stored one (event
time, then created time), so materializations may overlap or arrive out of order.

An entity key is the JSON text of its join-key values in the view's order (``[42]``, ``["a", 7]``);
a value is the JSON object of the view's features plus its event and created times (microseconds).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import orjson

from shipyard.errors import InvalidInput, StoreUnavailable

__all__ = ["OnlineRow", "OnlineStore", "RedisOnlineStore", "SqliteOnlineStore", "entity_key", "open_online_store"]

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
                pipe = self._redis.pipeline(transaction=False)
                for name, (_, e, c, payload), old in zip(names, part, stored, strict=True):
                    if old is not None:
                        old_e, old_c = orjson.loads(old[: old.index(b"|")])
                        if (e, c) < (old_e, old_c):
                            continue
                    pipe.set(name, orjson.dumps([e, c]) + b"|" + payload)
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


def open_online_store(uri: str) -> OnlineStore:
    """``sqlite:///path`` or ``redis://host:port/db?prefix=name:``."""
    if uri.startswith("sqlite:///"):
        return SqliteOnlineStore(uri.removeprefix("sqlite:///"))
    if uri.startswith(("redis://", "rediss://")):
        parts = urlsplit(uri)
        prefix = parse_qs(parts.query).get("prefix", ["shipyard:"])[0]
        return RedisOnlineStore(parts._replace(query="").geturl(), prefix=prefix)
    raise InvalidInput(f"online store URI must be sqlite:///path or redis://host:port/db, got {uri!r}")
