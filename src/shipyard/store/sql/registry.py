"""The registry half of SqlStore: registered models, versions, tags, aliases and their history."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.entities import AliasEvent, ModelVersion, PagedList, RegisteredModel
from shipyard.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from shipyard.store import validation as v
from shipyard.store.base import RegistryStore
from shipyard.store.sql import schema as s
from shipyard.store.sql.search import decode_page_token, encode_page_token
from shipyard.store.sql.sqlbase import SqlBase, chunks, insert_ignore, now_ms

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.engine import Connection

__all__ = ["MODEL_DIGEST_TAG", "SqlRegistryStore"]

#: The tag key under which ``create_model_version`` receives the registration's manifest digest; it is
#: stored in the version's ``digest`` column (written once, here), never as a tag.
MODEL_DIGEST_TAG = "shipyard.model_digest"
_SHA256 = frozenset("0123456789abcdef")


def _registration_digest(value: str | None) -> str | None:
    if not value:
        return None
    if len(value) != 64 or not set(value) <= _SHA256:
        raise InvalidInput(f"{MODEL_DIGEST_TAG} must be a SHA-256 in hex, got {value[:80]!r}")
    return value


def _version(version: object) -> int:
    try:
        number = int(version)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise InvalidInput(f"model version must be a positive integer, got {version!r}") from None
    if number < 1 or str(number) != str(version).strip():
        raise InvalidInput(f"model version must be a positive integer, got {version!r}")
    return number


class SqlRegistryStore(SqlBase, RegistryStore):
    # ------------------------------------------------------------------ registered models
    def create_registered_model(
        self, name: str, tags: dict[str, str] | None = None, description: str = ""
    ) -> RegisteredModel:
        v.check_model_name(name)
        tag_rows = {v.check_key(k, "tag key"): v.check_text(val, "tag value", v.MAX_TAG_VALUE_LENGTH)
                    for k, val in (tags or {}).items()}
        now = now_ms()
        try:
            with self._write() as conn:
                conn.execute(s.registered_models.insert().values(
                    name=name, description=description or "", creation_time=now, last_updated_time=now))
                if tag_rows:
                    conn.execute(s.registered_model_tags.insert(),
                                 [{"name": name, "key": k, "value": val} for k, val in tag_rows.items()])
        except IntegrityError as exc:
            raise AlreadyExists(f"registered model {name!r} already exists") from exc
        return self.get_registered_model(name)

    def _model_row(self, conn: Connection, name: str, lock: bool = False) -> Any:
        query = select(s.registered_models).where(s.registered_models.c.name == name)
        row = conn.execute(query.with_for_update() if lock else query).first()
        if row is None:
            raise NotFound(f"registered model {name!r} not found")
        return row

    def _registered_model(self, conn: Connection, row: Any) -> RegisteredModel:
        name = row.name
        tags = dict(conn.execute(select(s.registered_model_tags.c.key, s.registered_model_tags.c.value)
                                 .where(s.registered_model_tags.c.name == name)).all())
        aliases = dict(conn.execute(select(s.model_aliases.c.alias, s.model_aliases.c.version)
                                    .where(s.model_aliases.c.name == name)).all())
        latest = conn.execute(select(s.model_versions).where(s.model_versions.c.name == name)
                              .order_by(s.model_versions.c.version.desc()).limit(1)).all()
        return RegisteredModel(
            name=name, creation_timestamp=row.creation_time, last_updated_timestamp=row.last_updated_time,
            description=row.description, tags=tags, aliases=aliases,
            latest_versions=self._versions(conn, latest))

    def get_registered_model(self, name: str) -> RegisteredModel:
        with self._read() as conn:
            return self._registered_model(conn, self._model_row(conn, name))

    def update_registered_model(self, name: str, description: str) -> RegisteredModel:
        with self._write() as conn:
            self._model_row(conn, name)
            self._touch(conn, name, description=description or "")
        return self.get_registered_model(name)

    def _touch(self, conn: Connection, name: str, **values: Any) -> None:
        conn.execute(update(s.registered_models).where(s.registered_models.c.name == name)
                     .values(last_updated_time=now_ms(), **values))

    def delete_registered_model(self, name: str) -> None:
        with self._write() as conn:
            self._model_row(conn, name, lock=True)
            a = s.model_aliases
            aliases = conn.execute(select(a.c.alias).where(a.c.name == name)).scalars().all()
            if aliases:
                raise Conflict(f"model {name!r} still has aliases {sorted(aliases)}: delete them first")
            conn.execute(delete(s.model_version_tags).where(s.model_version_tags.c.name == name))
            conn.execute(delete(s.model_versions).where(s.model_versions.c.name == name))
            conn.execute(delete(s.registered_model_tags).where(s.registered_model_tags.c.name == name))
            conn.execute(delete(s.registered_models).where(s.registered_models.c.name == name))

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        v.check_model_name(new_name)
        with self._write() as conn:
            row = self._model_row(conn, name, lock=True)
            if new_name == name:
                return self._registered_model(conn, row)
            if conn.execute(select(s.registered_models.c.name).where(s.registered_models.c.name == new_name)).first():
                raise AlreadyExists(f"registered model {new_name!r} already exists")
            self._refuse_if_deployed(conn, name)
            conn.execute(s.registered_models.insert().values(
                name=new_name, description=row.description, creation_time=row.creation_time,
                last_updated_time=now_ms()))
            for table in (s.registered_model_tags, s.model_versions, s.model_version_tags, s.model_aliases,
                          s.alias_history):
                conn.execute(update(table).where(table.c.name == name).values(name=new_name))
            conn.execute(delete(s.registered_models).where(s.registered_models.c.name == name))
        return self.get_registered_model(new_name)

    @staticmethod
    def _refuse_if_deployed(conn: Connection, name: str) -> None:
        import orjson

        r = s.deployment_revisions
        for deployment, routes, shadow in conn.execute(select(r.c.name, r.c.routes, r.c.shadow)).all():
            if any(route.get("model") == name for route in [*orjson.loads(routes), *orjson.loads(shadow)]):
                raise Conflict(f"deployment {deployment!r} routes (or routed) traffic to model {name!r}: a renamed "
                               "model would break it and its rollbacks; register the versions under the new name "
                               "(copy_model_version) instead")

    def search_registered_models(
        self, name_like: str | None = None, max_results: int = 100, page_token: str | None = None
    ) -> PagedList[RegisteredModel]:
        offset = decode_page_token(page_token)
        query = select(s.registered_models).order_by(s.registered_models.c.name)
        if name_like:
            query = query.where(s.registered_models.c.name.like(name_like))
        with self._read() as conn:
            rows = conn.execute(query.limit(max_results + 1).offset(offset)).all()
            models = [self._registered_model(conn, row) for row in rows[:max_results]]
        return PagedList(models, encode_page_token(offset + max_results) if len(rows) > max_results else None)

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        v.check_key(key, "tag key")
        value = v.check_text(value, "tag value", v.MAX_TAG_VALUE_LENGTH)
        t = s.registered_model_tags
        with self._write() as conn:
            self._model_row(conn, name)
            conn.execute(delete(t).where(t.c.name == name, t.c.key == key))
            conn.execute(t.insert().values(name=name, key=key, value=value))
            self._touch(conn, name)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        t = s.registered_model_tags
        with self._write() as conn:
            self._model_row(conn, name)
            if conn.execute(delete(t).where(t.c.name == name, t.c.key == key)).rowcount == 0:
                raise NotFound(f"model {name!r} has no tag {key!r}")

    # ------------------------------------------------------------------ versions
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        description: str = "",
    ) -> ModelVersion:
        v.check_model_name(name)
        if run_id is not None:
            v.check_run_id(run_id)
        tags = dict(tags or {})
        digest = _registration_digest(tags.pop(MODEL_DIGEST_TAG, None))
        tag_rows = {v.check_key(k, "tag key"): v.check_text(val, "tag value", v.MAX_TAG_VALUE_LENGTH)
                    for k, val in tags.items()}
        now = now_ms()
        with self._write() as conn:
            conn.execute(insert_ignore(conn, s.registered_models, ["name"]).values(
                name=name, description="", creation_time=now, last_updated_time=now))
            # The row lock (PostgreSQL) or the write lock (SQLite) makes max+1 safe across processes.
            self._model_row(conn, name, lock=True)
            mv = s.model_versions
            version = int(conn.execute(select(func.coalesce(func.max(mv.c.version), 0))
                                       .where(mv.c.name == name)).scalar_one()) + 1
            conn.execute(mv.insert().values(
                name=name, version=version, source=source, run_id=run_id, description=description or "",
                status="READY", archived=False, creation_time=now, last_updated_time=now, digest=digest))
            if tag_rows:
                conn.execute(s.model_version_tags.insert(), [
                    {"name": name, "version": version, "key": k, "value": val} for k, val in tag_rows.items()])
            self._touch(conn, name)
        return self.get_model_version(name, version)

    def _versions(self, conn: Connection, rows: Sequence[Any]) -> list[ModelVersion]:
        keys = [(row.name, row.version) for row in rows]
        tags: dict[tuple[str, int], dict[str, str]] = {k: {} for k in keys}
        aliases: dict[tuple[str, int], list[str]] = {k: [] for k in keys}
        for names in chunks(sorted({n for n, _ in keys})):
            t = s.model_version_tags
            for row in conn.execute(select(t).where(t.c.name.in_(names))):
                if (row.name, row.version) in tags:
                    tags[(row.name, row.version)][row.key] = row.value
            a = s.model_aliases
            for row in conn.execute(select(a).where(a.c.name.in_(names)).order_by(a.c.alias)):
                if (row.name, row.version) in aliases:
                    aliases[(row.name, row.version)].append(row.alias)
        return [ModelVersion(
            name=row.name, version=row.version, source=row.source, run_id=row.run_id,
            creation_timestamp=row.creation_time, last_updated_timestamp=row.last_updated_time,
            description=row.description, status=row.status, tags=tags[(row.name, row.version)],
            aliases=aliases[(row.name, row.version)], archived=bool(row.archived), digest=row.digest)
            for row in rows]

    def _version_row(self, conn: Connection, name: str, version: object) -> Any:
        number = _version(version)
        row = conn.execute(select(s.model_versions).where(
            s.model_versions.c.name == name, s.model_versions.c.version == number)).first()
        if row is None:
            self._model_row(conn, name)
            raise NotFound(f"model {name!r} has no version {number}")
        return row

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        with self._read() as conn:
            return self._versions(conn, [self._version_row(conn, name, version)])[0]

    def update_model_version(
        self, name: str, version: int, description: str | None = None, archived: bool | None = None
    ) -> ModelVersion:
        with self._write() as conn:
            row = self._version_row(conn, name, version)
            values: dict[str, Any] = {"last_updated_time": now_ms()}
            if description is not None:
                values["description"] = description
            if archived is not None:
                if archived:
                    self._refuse_if_aliased(conn, name, row.version, "archive")
                values["archived"] = bool(archived)
            conn.execute(update(s.model_versions).where(
                s.model_versions.c.name == name, s.model_versions.c.version == row.version).values(**values))
        return self.get_model_version(name, row.version)

    def _refuse_if_aliased(self, conn: Connection, name: str, version: int, verb: str) -> None:
        a = s.model_aliases
        held = conn.execute(select(a.c.alias).where(a.c.name == name, a.c.version == version)).scalars().all()
        if held:
            raise Conflict(f"cannot {verb} version {version} of {name!r}: alias(es) {sorted(held)} point to it; "
                           "move or delete them first")

    def delete_model_version(self, name: str, version: int) -> None:
        with self._write() as conn:
            row = self._version_row(conn, name, version)
            self._refuse_if_aliased(conn, name, row.version, "delete")
            t = s.model_version_tags
            conn.execute(delete(t).where(t.c.name == name, t.c.version == row.version))
            conn.execute(delete(s.model_versions).where(
                s.model_versions.c.name == name, s.model_versions.c.version == row.version))
            self._touch(conn, name)

    def search_model_versions(
        self,
        name: str | None = None,
        run_id: str | None = None,
        include_archived: bool = True,
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        offset = decode_page_token(page_token)
        mv = s.model_versions
        query = select(mv).order_by(mv.c.name, mv.c.version.desc())
        if name is not None:
            query = query.where(mv.c.name == name)
        if run_id is not None:
            query = query.where(mv.c.run_id == run_id)
        if not include_archived:
            query = query.where(mv.c.archived.is_(False))
        with self._read() as conn:
            rows = conn.execute(query.limit(max_results + 1).offset(offset)).all()
            found = self._versions(conn, rows[:max_results])
        return PagedList(found, encode_page_token(offset + max_results) if len(rows) > max_results else None)

    def set_model_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        v.check_key(key, "tag key")
        if key == MODEL_DIGEST_TAG:
            raise InvalidInput(f"{MODEL_DIGEST_TAG} is recorded once, when the version is registered: "
                               "register the changed model as a new version")
        value = v.check_text(value, "tag value", v.MAX_TAG_VALUE_LENGTH)
        t = s.model_version_tags
        with self._write() as conn:
            row = self._version_row(conn, name, version)
            conn.execute(delete(t).where(t.c.name == name, t.c.version == row.version, t.c.key == key))
            conn.execute(t.insert().values(name=name, version=row.version, key=key, value=value))

    def delete_model_version_tag(self, name: str, version: int, key: str) -> None:
        t = s.model_version_tags
        with self._write() as conn:
            row = self._version_row(conn, name, version)
            gone = conn.execute(delete(t).where(t.c.name == name, t.c.version == row.version, t.c.key == key))
            if gone.rowcount == 0:
                raise NotFound(f"version {row.version} of {name!r} has no tag {key!r}")

    # ------------------------------------------------------------------ aliases
    def set_registered_model_alias(self, name: str, alias: str, version: int, reason: str = "") -> None:
        v.check_alias(alias)
        a = s.model_aliases
        with self._write() as conn:
            row = self._version_row(conn, name, version)
            if row.archived:
                raise Conflict(f"version {row.version} of {name!r} is archived: unarchive it before aliasing it")
            previous = conn.execute(select(a.c.version).where(a.c.name == name, a.c.alias == alias)).scalar()
            if previous == row.version:
                return
            conn.execute(delete(a).where(a.c.name == name, a.c.alias == alias))
            conn.execute(a.insert().values(name=name, alias=alias, version=row.version))
            conn.execute(s.alias_history.insert().values(
                name=name, alias=alias, version=row.version, previous_version=previous, timestamp=now_ms(),
                reason=reason or ""))
            self._touch(conn, name)

    def delete_registered_model_alias(self, name: str, alias: str, reason: str = "") -> None:
        a = s.model_aliases
        with self._write() as conn:
            self._model_row(conn, name)
            previous = conn.execute(select(a.c.version).where(a.c.name == name, a.c.alias == alias)).scalar()
            if previous is None:
                raise NotFound(f"model {name!r} has no alias {alias!r}")
            conn.execute(delete(a).where(a.c.name == name, a.c.alias == alias))
            conn.execute(s.alias_history.insert().values(
                name=name, alias=alias, version=None, previous_version=previous, timestamp=now_ms(),
                reason=reason or ""))
            self._touch(conn, name)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        a = s.model_aliases
        with self._read() as conn:
            version = conn.execute(select(a.c.version).where(a.c.name == name, a.c.alias == alias)).scalar()
            if version is None:
                self._model_row(conn, name)
                raise NotFound(f"model {name!r} has no alias {alias!r}")
            return self._versions(conn, [self._version_row(conn, name, version)])[0]

    def get_alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        h = s.alias_history
        query = select(h).where(h.c.name == name).order_by(h.c.event_id)
        if alias is not None:
            query = query.where(h.c.alias == alias)
        with self._read() as conn:
            return [AliasEvent(name=row.name, alias=row.alias, version=row.version,
                               previous_version=row.previous_version, timestamp=row.timestamp, reason=row.reason)
                    for row in conn.execute(query)]
