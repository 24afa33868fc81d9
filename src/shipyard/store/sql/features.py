"""Feature-store definitions and materialization records in the SQL store (migration 0009)."""

from __future__ import annotations

import hashlib
import re
import uuid

import orjson
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from shipyard.entities import FeatureDefinition, FeatureMaterialization
from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.store.sql import schema as s
from shipyard.store.sql.sqlbase import SqlBase, now_ms, to_json

__all__ = ["FEATURE_KINDS", "SqlFeatureStore"]

# materialization_schedule: a view's scheduled materialization (shipyard.features._schedule), versioned alike
FEATURE_KINDS = ("entity", "feature_view", "on_demand_feature_view", "materialization_schedule")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def _check(kind: str, name: str) -> None:
    if kind not in FEATURE_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(FEATURE_KINDS)}, got {kind!r}")
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(f"a {kind} name must be a letter or _ followed by letters, digits or _ "
                           f"(at most 128), got {name!r}")


def _definition(row: object) -> FeatureDefinition:
    r = row  # a Row of feature_definitions
    return FeatureDefinition(r.kind, r.name, r.version, orjson.loads(r.spec), r.digest,  # type: ignore[attr-defined]
                             r.description, r.created_time)  # type: ignore[attr-defined]


class SqlFeatureStore(SqlBase):
    def apply_feature_definition(self, kind: str, name: str, spec: dict[str, object],
                                 description: str = "") -> FeatureDefinition:
        _check(kind, name)
        if not isinstance(spec, dict):
            raise InvalidInput(f"the spec of {kind} {name!r} must be an object")
        text = to_json(spec, f"the spec of {kind} {name!r}")
        canonical = orjson.dumps(orjson.loads(text), option=orjson.OPT_SORT_KEYS)
        digest = hashlib.sha256(canonical).hexdigest()
        t = s.feature_definitions
        try:
            with self._write() as conn:
                latest = conn.execute(select(t).where(t.c.kind == kind, t.c.name == name)
                                      .order_by(t.c.version.desc()).limit(1)).first()
                if latest is not None and latest.digest == digest and latest.description == description:
                    return _definition(latest)
                version = 1 if latest is None else latest.version + 1
                created = now_ms()
                conn.execute(insert(t).values(kind=kind, name=name, version=version, spec=text, digest=digest,
                                              description=description, created_time=created))
        except IntegrityError:
            raise Conflict(f"{kind} {name!r} was applied concurrently: apply it again") from None
        return FeatureDefinition(kind, name, version, orjson.loads(text), digest, description, created)

    def get_feature_definition(self, kind: str, name: str, version: int | None = None) -> FeatureDefinition:
        _check(kind, name)
        t = s.feature_definitions
        query = select(t).where(t.c.kind == kind, t.c.name == name)
        query = query.order_by(t.c.version.desc()).limit(1) if version is None else query.where(t.c.version == version)
        with self._read() as conn:
            row = conn.execute(query).first()
        if row is None:
            which = f"{kind} {name!r}" + ("" if version is None else f" version {version}")
            raise NotFound(f"no {which}: apply it first (shipyard features apply)")
        return _definition(row)

    def list_feature_definitions(self, kind: str | None = None, name: str | None = None,
                                 all_versions: bool = False) -> list[FeatureDefinition]:
        if kind is not None and kind not in FEATURE_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(FEATURE_KINDS)}, got {kind!r}")
        t = s.feature_definitions
        query = select(t)
        if kind is not None:
            query = query.where(t.c.kind == kind)
        if name is not None:
            query = query.where(t.c.name == name)
        if not all_versions:
            latest = (select(t.c.kind, t.c.name, func.max(t.c.version).label("v"))
                      .group_by(t.c.kind, t.c.name).subquery())
            query = query.join(latest, (latest.c.kind == t.c.kind) & (latest.c.name == t.c.name)
                               & (latest.c.v == t.c.version))
        with self._read() as conn:
            rows = conn.execute(query.order_by(t.c.kind, t.c.name, t.c.version)).all()
        return [_definition(r) for r in rows]

    def log_feature_materialization(self, feature_view: str, version: int, online_store: str, start_time: int,
                                    end_time: int, rows: int) -> FeatureMaterialization:
        _check("feature_view", feature_view)
        if end_time < start_time:
            raise InvalidInput(f"materialization end {end_time} is before its start {start_time}")
        record = FeatureMaterialization(uuid.uuid4().hex, feature_view, int(version), online_store[:512],
                                        int(start_time), int(end_time), int(rows), now_ms())
        with self._write() as conn:
            conn.execute(insert(s.feature_materializations).values(
                materialization_id=record.materialization_id, feature_view=feature_view, version=record.version,
                online_store=record.online_store, start_time=record.start_time, end_time=record.end_time,
                rows=record.rows, created_time=record.created_time))
        return record

    def list_feature_materializations(self, feature_view: str | None = None, online_store: str | None = None,
                                      max_results: int = 100) -> list[FeatureMaterialization]:
        t = s.feature_materializations
        query = select(t)
        if feature_view is not None:
            query = query.where(t.c.feature_view == feature_view)
        if online_store is not None:
            query = query.where(t.c.online_store == online_store)
        query = query.order_by(t.c.end_time.desc(), t.c.created_time.desc()).limit(max(1, min(max_results, 10_000)))
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [FeatureMaterialization(r.materialization_id, r.feature_view, r.version, r.online_store, r.start_time,
                                       r.end_time, r.rows, r.created_time) for r in rows]
