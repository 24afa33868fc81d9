"""Entities and feature views declared in ``shipyard.yaml`` (its ``features:`` section).

::

    features:
      modules: [my_features]           # Python definitions (on-demand views live only there)
      entities:
        - {name: station, join_keys: [station_id]}
      feature_views:
        - name: trips
          entities: [station]
          source: {path: data/trips/}  # or {table: trips, database_uri: ..., schema: ...}
          features: [trips_1h]
          timestamp_column: hour
          ttl: 1d

The section may also be a plain list of modules (the older form). Declarations become the same
:class:`Entity` and :class:`FeatureView` values as Python ones, so they have the same specs and an
unchanged one keeps its version. Every error names the YAML path of the field (``features.feature_views[0].ttl``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from shipyard.errors import InvalidInput
from shipyard.features._definitions import Entity, FeatureView, ParquetSource, TableSource, check_name

__all__ = ["Definitions", "definition_modules", "load_definitions", "parse_definitions", "parse_duration"]

T = TypeVar("T")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}  # the scheduler's units ("every 10m")
_SECTION_KEYS = ("modules", "entities", "feature_views")
_ENTITY_KEYS = ("name", "join_keys", "description")
_VIEW_KEYS = ("name", "entities", "source", "features", "timestamp_column", "created_timestamp_column", "ttl",
              "description", "tags")
_SOURCE_KEYS = ("path", "table", "database_uri", "schema")


@dataclass(frozen=True, slots=True)
class Definitions:
    """A ``features:`` section: the modules it names (imported by ``shipyard features apply``, not
    here) and the entities and feature views it declares. Iterating gives the declared definitions,
    so ``FeatureStore.apply(load_definitions("shipyard.yaml"))`` stores them."""

    modules: tuple[str, ...] = ()
    entities: tuple[Entity, ...] = ()
    feature_views: tuple[FeatureView, ...] = ()

    def __iter__(self) -> Iterator[Entity | FeatureView]:
        yield from self.entities
        yield from self.feature_views


def parse_duration(value: object, where: str) -> timedelta | None:
    """``"1d"``, ``"3h"``, ``"10m"``, ``"90s"`` or a number of seconds (0 or null: no limit)."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value.strip())):
        seconds = float(match.group(1)) * _UNIT[match.group(2)]
    else:
        raise InvalidInput(f"{where}: a duration is a number and a unit (90s, 10m, 3h, 1d) or seconds, got {value!r}")
    if seconds < 0:
        raise InvalidInput(f"{where}: a duration must not be negative, got {value!r}")
    return timedelta(seconds=seconds) if seconds else None


def load_definitions(path: str | Path = "shipyard.yaml", *,
                     entities: Mapping[str, Entity] | None = None) -> Definitions:
    """The ``features:`` section of a project file; relative source paths are relative to its folder.
    ``entities``: entities defined elsewhere (Python modules) that declared views may name."""
    import yaml

    file = Path(path)
    if not file.is_file():
        raise InvalidInput(f"no project file at {str(path)!r}")
    try:
        doc = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidInput(f"{path} must be a mapping (pipelines:, features:, ...)")
    return parse_definitions(doc.get("features"), base=file.absolute().parent, entities=entities)


def parse_definitions(section: object, *, base: Path | None = None,
                      entities: Mapping[str, Entity] | None = None) -> Definitions:
    """:func:`load_definitions` of an already-read ``features:`` value (``base``: where relative paths start)."""
    modules = definition_modules(section)
    if not isinstance(section, dict):  # None, or the older form: only modules
        return Definitions(modules=modules)
    if "on_demand_feature_views" in section:
        raise InvalidInput("features.on_demand_feature_views: on-demand views run Python functions, so they are "
                           "defined in Python only: define them in a module listed under features.modules")
    _known_keys(section, _SECTION_KEYS, "features")
    known = dict(entities or {})
    declared: list[Entity] = []
    for i, item in enumerate(_list(section.get("entities") or [], "features.entities")):
        entity = _entity(item, f"features.entities[{i}]")
        if entity.name in {e.name for e in declared}:
            raise InvalidInput(f"features.entities[{i}].name: entity {entity.name!r} is declared twice")
        declared.append(entity)
        known[entity.name] = entity
    views: list[FeatureView] = []
    for i, item in enumerate(_list(section.get("feature_views") or [], "features.feature_views")):
        view = _view(item, f"features.feature_views[{i}]", known, base or Path.cwd())
        if view.name in {v.name for v in views}:
            raise InvalidInput(f"features.feature_views[{i}].name: feature view {view.name!r} is declared twice")
        views.append(view)
    return Definitions(modules, tuple(declared), tuple(views))


def definition_modules(section: object) -> tuple[str, ...]:
    """The modules a ``features:`` section names (checked), without reading its declarations: the
    CLI imports them first, so that declared views may name their entities."""
    if section is None:
        return ()
    if isinstance(section, list):
        return _names(section, "features")
    if not isinstance(section, dict):
        raise InvalidInput("features: must be a list of modules or a mapping with modules, entities, feature_views")
    return _names(section.get("modules") or [], "features.modules")


def _at(where: str, make: Callable[[], T]) -> T:
    """``make()``, its InvalidInput prefixed with the YAML path it concerns."""
    try:
        return make()
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc}") from None


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidInput(f"{where}: must be a list, got {type(value).__name__}")
    return value


def _names(value: object, where: str) -> tuple[str, ...]:
    items = _list(value, where)
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item:
            raise InvalidInput(f"{where}[{i}]: must be a text, got {item!r}")
    return tuple(items)


def _mapping(value: object, where: str, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{where}: must be a mapping, got {type(value).__name__}")
    _known_keys(value, keys, where)
    return value


def _known_keys(value: dict[Any, Any], keys: tuple[str, ...], where: str) -> None:
    unknown = [k for k in value if k not in keys]
    if unknown:  # a misspelt key would otherwise be silently ignored
        raise InvalidInput(f"{where}.{unknown[0]}: unknown field (known: {', '.join(keys)})")


def _text(item: dict[str, Any], key: str, where: str, default: str | None = None) -> Any:
    value = item.get(key, default)
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"{where}.{key}: must be a text, got {value!r}")
    return value


def _required(item: dict[str, Any], key: str, where: str) -> Any:
    if item.get(key) is None:
        raise InvalidInput(f"{where}.{key}: required")
    return item[key]


def _entity(item: object, where: str) -> Entity:
    entry = _mapping(item, where, _ENTITY_KEYS)
    name = _at(f"{where}.name", lambda: check_name(_required(entry, "name", where), "an entity name"))
    keys = _names(entry["join_keys"], f"{where}.join_keys") if entry.get("join_keys") is not None else None
    description = _text(entry, "description", where, "")
    return _at(f"{where}.join_keys", lambda: Entity(name, keys, description))


def _source(value: object, where: str, base: Path) -> ParquetSource | TableSource:
    if isinstance(value, str):
        value = {"path": value}
    entry = _mapping(value, where, _SOURCE_KEYS)
    if ("path" in entry) == ("table" in entry):
        raise InvalidInput(f"{where}: give either path (Parquet) or table (a database table)")
    if "path" in entry:
        extra = [k for k in ("database_uri", "schema") if k in entry]
        if extra:
            raise InvalidInput(f"{where}.{extra[0]}: only a table source has it")
        path = _text(entry, "path", where)
        return _at(f"{where}.path", lambda: ParquetSource(base / Path(path).expanduser()))
    table, uri, schema = (_text(entry, k, where) for k in ("table", "database_uri", "schema"))
    return _at(where, lambda: TableSource(table, uri, schema=schema))


def _view(item: object, where: str, entities: dict[str, Entity], base: Path) -> FeatureView:
    entry = _mapping(item, where, _VIEW_KEYS)
    name = _at(f"{where}.name", lambda: check_name(_required(entry, "name", where), "a feature view name"))
    used = []
    for i, ref in enumerate(_names(_required(entry, "entities", where), f"{where}.entities")):
        if ref not in entities:
            raise InvalidInput(f"{where}.entities[{i}]: no entity {ref!r} (declare it under features.entities"
                               + (f"; known: {', '.join(sorted(entities))})" if entities else ")"))
        used.append(entities[ref])
    source = _source(_required(entry, "source", where), f"{where}.source", base)
    features = _names(_required(entry, "features", where), f"{where}.features")
    for i, feature in enumerate(features):
        _at(f"{where}.features[{i}]", functools.partial(check_name, feature, "a feature name"))
    timestamp = _text(entry, "timestamp_column", where, "event_timestamp")
    _at(f"{where}.timestamp_column", lambda: check_name(timestamp, "a timestamp column"))
    created = _text(entry, "created_timestamp_column", where)
    if created is not None:
        _at(f"{where}.created_timestamp_column", lambda: check_name(created, "a created-timestamp column"))
    ttl = parse_duration(entry.get("ttl"), f"{where}.ttl")
    tags = entry.get("tags") or {}
    if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise InvalidInput(f"{where}.tags: must be a mapping of texts to texts")
    description = _text(entry, "description", where, "")
    # what is left to check concerns the fields together (a join key also named as a feature)
    return _at(where, lambda: FeatureView(name, entities=used, source=source, features=features,
                                          timestamp_column=timestamp, created_timestamp_column=created, ttl=ttl,
                                          description=description, tags=tags))
