"""What a user defines: entities, feature views over a source, and on-demand features.

A definition is a frozen value; :meth:`spec` turns it into JSON-able data that the store versions
(applying an unchanged definition keeps its version). Names are identifiers (they become column
names), so no user text is ever pasted into SQL.
"""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidInput

__all__ = ["DataFrameSource", "Entity", "FeatureView", "OnDemandFeatureView", "ParquetSource", "RequestSource",
           "TableSource", "check_name", "check_spec"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def check_name(name: object, what: str) -> str:
    """``name`` if it is an identifier (letters, digits, _; not starting with a digit), else InvalidInput."""
    if not isinstance(name, str) or not _NAME.match(name) or name.startswith("__"):
        raise InvalidInput(f"{what} must be a letter or _ followed by letters, digits or _ (at most 128, "
                           f"not starting with __), got {name!r}")
    return name


@dataclass(frozen=True, slots=True)
class Entity:
    """What features describe (a customer, a station), identified by one or more join keys."""

    name: str
    join_keys: tuple[str, ...] = ()
    description: str = ""

    def __init__(self, name: str, join_keys: Sequence[str] | None = None, description: str = "") -> None:
        keys = tuple(join_keys) if join_keys else (name,)
        check_name(name, "an entity name")
        for key in keys:
            check_name(key, f"a join key of entity {name!r}")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "join_keys", keys)
        object.__setattr__(self, "description", description)

    def spec(self) -> dict[str, Any]:
        return {"join_keys": list(self.join_keys)}


@dataclass(frozen=True, slots=True)
class ParquetSource:
    """A Parquet file, or a folder read recursively (``**/*.parquet``, hive partitions allowed)."""

    path: str

    def __init__(self, path: str | Path, *, must_exist: bool = True) -> None:
        resolved = Path(path).expanduser().absolute()
        if must_exist and not resolved.exists():
            raise InvalidInput(f"no Parquet file or folder at {str(path)!r}")
        object.__setattr__(self, "path", str(resolved))

    @property
    def glob(self) -> str:
        return str(Path(self.path) / "**" / "*.parquet") if Path(self.path).is_dir() else self.path

    def spec(self) -> dict[str, Any]:
        return {"type": "parquet", "path": self.path}


@dataclass(frozen=True, slots=True, eq=False)
class DataFrameSource:
    """A pandas DataFrame or Arrow table held in this process (tests, notebooks). Its definition is
    versioned like any other, but another process cannot read it."""

    data: Any

    def spec(self) -> dict[str, Any]:
        columns = getattr(self.data, "column_names", None)
        columns = list(self.data.columns if columns is None else columns)
        return {"type": "dataframe", "columns": [str(c) for c in columns]}


@dataclass(frozen=True, slots=True)
class TableSource:
    """A table (or view) of a SQL database, read with SQLAlchemy: by default the shipyard store's own
    database (SQLite or PostgreSQL), else ``database_uri`` (``sqlite:///path``, ``postgresql://...``).

    Only the view's columns are read, and only the rows a retrieval or an incremental
    materialization can use (a WHERE on the timestamp column). The stored definition holds the URI
    without its password (stored definitions are readable by every reader of the store): another
    process finds the password as libpq does (``PGPASSWORD``, ``~/.pgpass``).
    """

    table: str
    database_uri: str | None = None
    schema: str | None = None

    def __init__(self, table: str, database_uri: str | None = None, *, schema: str | None = None) -> None:
        # identifiers only: they are quoted by SQLAlchemy too, but a checked name also keeps the stored
        # definition free of anything that reads like SQL
        check_name(table, "a source table name")
        if schema is not None:
            check_name(schema, "a source table's schema")
        if database_uri is not None and (not isinstance(database_uri, str)
                                         or not database_uri.startswith(_TABLE_URIS)):
            raise InvalidInput("a TableSource's database_uri must be sqlite:///path or postgresql://..., "
                               f"got {_redacted(database_uri)!r}")
        object.__setattr__(self, "table", table)
        object.__setattr__(self, "database_uri", database_uri)
        object.__setattr__(self, "schema", schema)

    def spec(self) -> dict[str, Any]:
        return {"type": "table", "table": self.table, "schema": self.schema,
                "database_uri": None if self.database_uri is None else _redacted(self.database_uri)}


_TABLE_URIS = ("sqlite:///", "postgresql://", "postgres://", "postgresql+psycopg://")


def _redacted(uri: object) -> str:
    """``uri`` without the password of its user part (it is stored and shown)."""
    text = str(uri)
    scheme, sep, rest = text.partition("://")
    userinfo, at, host = rest.partition("@")
    if not sep or not at or ":" not in userinfo or "/" in userinfo:
        return text
    return f"{scheme}://{userinfo.split(':', 1)[0]}@{host}"


@dataclass(frozen=True, slots=True)
class RequestSource:
    """Values that arrive with the request (or as entity-DataFrame columns), not from a feature view."""

    name: str
    fields: tuple[str, ...]

    def __init__(self, name: str, fields: Sequence[str]) -> None:
        check_name(name, "a request source name")
        for f in fields:
            check_name(f, f"a field of request source {name!r}")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "fields", tuple(fields))


def _as_source(source: Any) -> ParquetSource | DataFrameSource | TableSource:
    if isinstance(source, ParquetSource | DataFrameSource | TableSource):
        return source
    if isinstance(source, str | Path):
        return ParquetSource(source)
    if hasattr(source, "columns") or hasattr(source, "column_names"):
        return DataFrameSource(source)
    raise InvalidInput(f"a feature view's source must be a Parquet path, a ParquetSource, a TableSource or a "
                       "DataFrame, "
                       f"got {type(source).__name__}")


def _as_ttl(ttl: timedelta | float | int | None) -> timedelta | None:
    if ttl is None:
        return None
    value = ttl if isinstance(ttl, timedelta) else timedelta(seconds=float(ttl))
    if value < timedelta(0):
        raise InvalidInput(f"a TTL must not be negative, got {ttl!r}")
    return value if value > timedelta(0) else None


@dataclass(frozen=True, slots=True, eq=False)
class FeatureView:
    """Features of one or more entities read from one source, stamped with an event time.

    ``ttl``: a value older than this at the row's time is not used (None: no limit).
    ``created_timestamp_column``: when the row became known (written, corrected, backfilled); it
    breaks ties between rows of one event time, and point-in-time retrieval with ``as_known_at``
    (the default) never uses a row created after the row it joins to.
    """

    name: str
    entities: tuple[Entity, ...]
    source: ParquetSource | DataFrameSource | TableSource
    features: tuple[str, ...]
    timestamp_column: str = "event_timestamp"
    created_timestamp_column: str | None = None
    ttl: timedelta | None = None
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    def __init__(self, name: str, *, entities: Sequence[Entity], source: Any, features: Sequence[str],
                 timestamp_column: str = "event_timestamp", created_timestamp_column: str | None = None,
                 ttl: timedelta | float | int | None = None, description: str = "",
                 tags: dict[str, str] | None = None) -> None:
        check_name(name, "a feature view name")
        ents = tuple(entities)
        if not ents or not all(isinstance(e, Entity) for e in ents):
            raise InvalidInput(f"feature view {name!r} needs at least one Entity")
        if not features:
            raise InvalidInput(f"feature view {name!r} needs at least one feature")
        for f in features:
            check_name(f, f"a feature of view {name!r}")
        check_name(timestamp_column, f"the timestamp column of view {name!r}")
        if created_timestamp_column is not None:
            check_name(created_timestamp_column, f"the created-timestamp column of view {name!r}")
        keys = [k for e in ents for k in e.join_keys]
        created = [created_timestamp_column] if created_timestamp_column else []
        columns = [*keys, *features, timestamp_column, *created]
        if len(set(columns)) != len(columns):
            raise InvalidInput(f"feature view {name!r}: join keys, features and timestamp columns must differ")
        for key, value in [("name", name), ("entities", ents), ("source", _as_source(source)),
                           ("features", tuple(features)), ("timestamp_column", timestamp_column),
                           ("created_timestamp_column", created_timestamp_column), ("ttl", _as_ttl(ttl)),
                           ("description", description), ("tags", dict(tags or {}))]:
            object.__setattr__(self, key, value)

    @property
    def join_keys(self) -> tuple[str, ...]:
        return tuple(k for e in self.entities for k in e.join_keys)

    def spec(self) -> dict[str, Any]:
        return {"entities": [{"name": e.name, "join_keys": list(e.join_keys)} for e in self.entities],
                "source": self.source.spec(), "features": list(self.features),
                "timestamp_column": self.timestamp_column,
                "created_timestamp_column": self.created_timestamp_column,
                "ttl_seconds": None if self.ttl is None else self.ttl.total_seconds(), "tags": self.tags}

    @classmethod
    def from_spec(cls, name: str, spec: dict[str, Any], description: str = "", *,
                  check_source: bool = True) -> FeatureView:
        """Rebuild a stored definition; Parquet and table sources can be rebuilt in another process.
        ``check_source=False`` rebuilds it where its files are not (a client of the server that has them)."""
        try:
            source = spec["source"]
            rebuilt: ParquetSource | TableSource
            if source.get("type") == "table":
                rebuilt = TableSource(source["table"], source.get("database_uri"), schema=source.get("schema"))
            elif source.get("type") == "parquet":
                rebuilt = ParquetSource(source["path"], must_exist=check_source)
            else:
                raise InvalidInput(f"feature view {name!r} reads a DataFrame of the process that applied it: "
                                   "apply it again in this process")
            entities = [Entity(e["name"], e["join_keys"]) for e in spec["entities"]]
            return cls(name, entities=entities, source=rebuilt,
                       features=spec["features"],
                       timestamp_column=spec["timestamp_column"],
                       created_timestamp_column=spec.get("created_timestamp_column"),
                       ttl=spec.get("ttl_seconds"), description=description, tags=spec.get("tags") or {})
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            # a spec written by hand through the API rather than by FeatureView.spec()
            raise InvalidInput(f"the stored definition of feature view {name!r} is malformed ({exc!r}): "
                               "apply it again with FeatureStore.apply") from None


@dataclass(frozen=True, slots=True, eq=False)
class OnDemandFeatureView:
    """Features computed at retrieval time by ``function`` from other features and request values.

    ``inputs``: feature references (``"view:feature"``) the function reads; ``request``: request
    sources whose fields it reads. ``function`` takes a pandas DataFrame with those columns (feature
    columns by their plain names, request fields by theirs) and returns one with ``features``.
    The function itself is not stored: its module, name and a hash of its source are, so a changed
    function is a new version.
    """

    name: str
    inputs: tuple[str, ...]
    request: tuple[RequestSource, ...]
    function: Callable[[Any], Any]
    features: tuple[str, ...]
    description: str = ""

    def __init__(self, name: str, *, function: Callable[[Any], Any], features: Sequence[str],
                 inputs: Sequence[str] = (), request: Sequence[RequestSource] = (), description: str = "") -> None:
        check_name(name, "an on-demand feature view name")
        for f in features:
            check_name(f, f"a feature of on-demand view {name!r}")
        if not features or not callable(function):
            raise InvalidInput(f"on-demand view {name!r} needs a function and at least one feature")
        for ref in inputs:
            if not isinstance(ref, str) or ref.count(":") != 1:
                raise InvalidInput(f"on-demand view {name!r}: inputs are 'view:feature' references, got {ref!r}")
        for key, value in [("name", name), ("inputs", tuple(inputs)), ("request", tuple(request)),
                           ("function", function), ("features", tuple(features)), ("description", description)]:
            object.__setattr__(self, key, value)

    @property
    def request_fields(self) -> tuple[str, ...]:
        return tuple(f for r in self.request for f in r.fields)

    def spec(self) -> dict[str, Any]:
        try:
            code = inspect.getsource(self.function)
        except (OSError, TypeError):
            code = getattr(self.function, "__qualname__", repr(self.function))
        return {"inputs": list(self.inputs), "request_fields": list(self.request_fields),
                "features": list(self.features),
                "function": f"{getattr(self.function, '__module__', '?')}:"
                            f"{getattr(self.function, '__qualname__', '?')}",
                "function_sha256": hashlib.sha256(code.encode()).hexdigest()}


def check_spec(kind: str, name: str, spec: dict[str, Any]) -> None:
    """Raise InvalidInput unless ``spec`` is what ``spec()`` of a definition of ``kind`` gives (the
    checks of the definition's own constructor; a feature view's source need not exist here)."""
    try:
        if kind == "entity":
            Entity(name, spec["join_keys"])
        elif kind == "feature_view":
            if not isinstance(spec.get("source"), dict) or spec["source"].get("type") not in (
                    "parquet", "dataframe", "table"):
                raise InvalidInput(f"feature view {name!r}: source must be {{'type': 'parquet', 'path': ...}} or "
                                   "{'type': 'table', 'table': ...}")
            if spec["source"]["type"] in ("parquet", "table"):
                FeatureView.from_spec(name, spec, check_source=False)
            else:
                FeatureView(name, entities=[Entity(e["name"], e["join_keys"]) for e in spec["entities"]],
                            source=DataFrameSource(None), features=spec["features"],
                            timestamp_column=spec["timestamp_column"],
                            created_timestamp_column=spec.get("created_timestamp_column"))
        elif kind == "on_demand_feature_view":
            check_name(name, "an on-demand feature view name")
            for key in ("inputs", "request_fields", "features"):
                if not isinstance(spec.get(key), list) or not all(isinstance(v, str) for v in spec[key]):
                    raise InvalidInput(f"on-demand view {name!r}: {key} must be a list of names")
            for f in spec["features"]:
                check_name(f, f"a feature of on-demand view {name!r}")
        else:
            raise InvalidInput(f"kind must be entity, feature_view or on_demand_feature_view, got {kind!r}")
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise InvalidInput(f"the spec of {kind} {name!r} is malformed ({exc!r})") from None
