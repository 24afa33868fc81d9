"""The deployments part of SqlStore: revisions (immutable, numbered per deployment) and feedback."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import BigInteger, bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.entities import Deployment, DeploymentRevision, FeatureBinding, Feedback, Route
from shipyard.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from shipyard.store import validation as v
from shipyard.store.base import DeploymentStore
from shipyard.store.sql import bindings, rawsql
from shipyard.store.sql import schema as s
from shipyard.store.sql.runpage import _among_ids, _ids_value
from shipyard.store.sql.sqlbase import SqlBase, chunks, now_ms

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["SqlDeploymentStore"]

BATCHING_LIMITS = {"max_batch_size": (1, 4096), "max_wait_ms": (0, 1000)}
_MAX_REQUEST_ID = 64



def check_batching(batching: dict[str, int] | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, value in (batching or {}).items():
        if key not in BATCHING_LIMITS:
            raise InvalidInput(f"unknown batching setting {key!r} (known: {', '.join(BATCHING_LIMITS)})")
        low, high = BATCHING_LIMITS[key]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise InvalidInput(f"batching {key} must be an integer from {low} to {high}, got {value!r}")
        out[key] = value
    return out


def _route_json(routes: Sequence[Route]) -> str:
    return orjson.dumps([r.to_dict() for r in routes]).decode()


def _routes(text: str) -> list[Route]:
    return [Route(model=r["model"], version=int(r["version"]), weight=float(r["weight"]), alias=r.get("alias"))
            for r in orjson.loads(text)]


class SqlDeploymentStore(SqlBase, DeploymentStore):
    def _check_routes(self, conn: Connection, routes: Sequence[Route], what: str, *, need_traffic: bool) -> None:
        if need_traffic and not routes:
            raise InvalidInput("a deployment needs at least one route")
        seen = set()
        for route in routes:
            v.check_model_name(route.model)
            if (route.model, route.version) in seen:
                raise InvalidInput(f"{what}: {route.model} version {route.version} is listed twice")
            seen.add((route.model, route.version))
            weight = float(route.weight)
            if not weight >= 0 or weight == float("inf"):
                raise InvalidInput(f"{what}: weight of {route.model} v{route.version} must be >= 0, got {weight}")
            found = conn.execute(select(s.model_versions.c.archived).where(
                s.model_versions.c.name == route.model, s.model_versions.c.version == int(route.version))).first()
            if found is None:
                raise NotFound(f"{what}: model {route.model!r} has no version {route.version}")
        if need_traffic and sum(float(r.weight) for r in routes) <= 0:
            raise InvalidInput("route weights add up to 0: at least one route must get traffic")

    def _write_revision(self, conn: Connection, name: str, revision: int, routes: Sequence[Route],
                        shadow: Sequence[Route], batching: dict[str, int], created_by: str, reason: str,
                        rollback_of: int | None = None, features: FeatureBinding | None = None) -> None:
        conn.execute(s.deployment_revisions.insert().values(
            name=name, revision=revision, routes=_route_json(routes), shadow=_route_json(shadow),
            batching=orjson.dumps(bindings.pack(batching, features)).decode(), created_time=now_ms(),
            created_by=v.check_text(created_by or "", "created_by", v.MAX_NAME_LENGTH),
            reason=v.check_text(reason or "", "reason", v.MAX_TAG_VALUE_LENGTH), rollback_of=rollback_of))

    def create_deployment(
        self,
        name: str,
        routes: Sequence[Route],
        shadow: Sequence[Route] = (),
        batching: dict[str, int] | None = None,
        created_by: str = "",
        reason: str = "",
        description: str = "",
        features: FeatureBinding | None = None,
    ) -> Deployment:
        v.check_model_name(name)
        settings = check_batching(batching)
        binding = bindings.check_binding(features, self._latest_definition)
        now = now_ms()
        try:
            with self._write() as conn:
                self._check_routes(conn, routes, "routes", need_traffic=True)
                self._check_routes(conn, shadow, "shadow", need_traffic=False)
                conn.execute(s.deployments.insert().values(name=name, description=description or "",
                                                           current_revision=1, created_time=now, updated_time=now))
                self._write_revision(conn, name, 1, routes, shadow, settings, created_by, reason,
                                     features=binding)
        except IntegrityError as exc:
            raise AlreadyExists(f"deployment {name!r} already exists") from exc
        return self.get_deployment(name)

    def _latest_definition(self, kind: str, name: str) -> Any:
        """The latest stored feature definition (the feature store's part of this store); NotFound."""
        return self.get_feature_definition(kind, name)  # type: ignore[attr-defined]

    def _deployment_row(self, conn: Connection, name: str, lock: bool = False) -> Any:
        query = select(s.deployments).where(s.deployments.c.name == name)
        row = conn.execute(query.with_for_update() if lock else query).first()
        if row is None:
            raise NotFound(f"deployment {name!r} not found")
        return row

    def _revision(self, conn: Connection, name: str, revision: int) -> DeploymentRevision:
        r = s.deployment_revisions
        row = conn.execute(select(r).where(r.c.name == name, r.c.revision == revision)).first()
        if row is None:
            raise NotFound(f"deployment {name!r} has no revision {revision}")
        return _revision(row)

    def _next(self, conn: Connection, name: str, revision: DeploymentRevision, created_by: str, reason: str,
              rollback_of: int | None = None) -> None:
        self._deployment_row(conn, name, lock=True)  # serialises concurrent writers of this deployment
        last = conn.execute(select(s.deployment_revisions.c.revision).where(s.deployment_revisions.c.name == name)
                            .order_by(s.deployment_revisions.c.revision.desc()).limit(1)).scalar_one()
        number = last + 1
        self._write_revision(conn, name, number, revision.routes, revision.shadow, revision.batching, created_by,
                             reason, rollback_of, revision.features)
        conn.execute(update(s.deployments).where(s.deployments.c.name == name)
                     .values(current_revision=number, updated_time=now_ms()))

    def update_deployment(
        self,
        name: str,
        routes: Sequence[Route] | None = None,
        shadow: Sequence[Route] | None = None,
        batching: dict[str, int] | None = None,
        created_by: str = "",
        reason: str = "",
        features: FeatureBinding | None = None,
        no_features: bool = False,
    ) -> Deployment:
        settings = check_batching(batching) if batching is not None else None
        binding = bindings.check_binding(features, self._latest_definition)
        if binding is not None and no_features:
            raise InvalidInput("give features or no_features, not both")
        with self._write() as conn:
            row = self._deployment_row(conn, name, lock=True)
            current = self._revision(conn, name, row.current_revision)
            if routes is not None:
                self._check_routes(conn, routes, "routes", need_traffic=True)
            if shadow is not None:
                self._check_routes(conn, shadow, "shadow", need_traffic=False)
            new = DeploymentRevision(
                deployment=name, revision=0,
                routes=list(routes) if routes is not None else current.routes,
                shadow=list(shadow) if shadow is not None else current.shadow,
                batching={**current.batching, **settings} if settings is not None else current.batching,
                features=None if no_features else binding or current.features)
            self._next(conn, name, new, created_by, reason)
        return self.get_deployment(name)

    def rollback_deployment(self, name: str, created_by: str = "", reason: str = "",
                            force: bool = False) -> Deployment:
        from shipyard.store.rollback import refusal, undone_by
        from shipyard.store.sql.automation import _rollout

        with self._write() as conn:
            row = self._deployment_row(conn, name, lock=True)
            if row.current_revision <= 1:
                raise Conflict(f"deployment {name!r} is at its first revision: there is nothing to roll back to")
            previous = self._revision(conn, name, row.current_revision - 1)
            if not force:
                r = s.rollouts
                rolled_back = [_rollout(x) for x in conn.execute(
                    select(r).where(r.c.deployment == name, r.c.state == "ROLLED_BACK"))]
                undone = undone_by(previous, rolled_back)
                if undone is not None:
                    raise Conflict(refusal(previous, undone))
            self._next(conn, name, previous, created_by, reason or f"rollback to revision {previous.revision}",
                       rollback_of=previous.revision)
        return self.get_deployment(name)

    def get_deployment(self, name: str) -> Deployment:
        with self._read() as conn:
            row = self._deployment_row(conn, name)
            return _deployment(row, self._revision(conn, name, row.current_revision))

    def list_deployments(self) -> list[Deployment]:
        with self._read() as conn:
            return [_deployment(row, self._revision(conn, row.name, row.current_revision))
                    for row in conn.execute(select(s.deployments).order_by(s.deployments.c.name))]

    def list_deployment_revisions(self, name: str) -> list[DeploymentRevision]:
        r = s.deployment_revisions
        with self._read() as conn:
            self._deployment_row(conn, name)
            return [_revision(row) for row in conn.execute(
                select(r).where(r.c.name == name).order_by(r.c.revision.desc()))]

    def delete_deployment(self, name: str) -> None:
        with self._write() as conn:
            self._deployment_row(conn, name, lock=True)
            conn.execute(delete(s.deployment_revisions).where(s.deployment_revisions.c.name == name))
            conn.execute(delete(s.deployments).where(s.deployments.c.name == name))

    def log_feedback(self, deployment: str, feedback: Sequence[Feedback]) -> int:
        rows: dict[str, dict[str, Any]] = {}
        for item in feedback:
            request_id = item.request_id
            if not isinstance(request_id, str) or not request_id or len(request_id) > _MAX_REQUEST_ID:
                raise InvalidInput(f"request_id must be a non-empty string of at most {_MAX_REQUEST_ID} "
                                   f"characters, got {request_id!r}")
            try:
                label = orjson.dumps(item.label, option=orjson.OPT_SERIALIZE_NUMPY).decode()
            except TypeError as exc:
                raise InvalidInput(f"label for request {request_id!r} is not JSON-serializable: {exc}") from None
            rows[request_id] = {"deployment": deployment, "request_id": request_id, "label": label,
                                "timestamp": int(item.timestamp)}
        f = s.feedback
        with self._write() as conn:
            self._deployment_row(conn, deployment)
            for part in chunks(list(rows)):
                conn.execute(delete(f).where(f.c.deployment == deployment, f.c.request_id.in_(part)))
            if rows:
                conn.execute(f.insert(), list(rows.values()))
        return len(rows)

    def get_feedback(
        self, deployment: str, request_ids: Sequence[str] | None = None, start: int | None = None,
        end: int | None = None,
    ) -> list[Feedback]:
        rows = self.get_feedback_rows(deployment, request_ids, start, end)
        if not rows:
            return []
        labels = orjson.loads(b"[" + b",".join(row[1].encode() for row in rows) + b"]")  # one parse, not one a row
        return [Feedback(deployment, row[0], label, row[2]) for row, label in zip(rows, labels, strict=True)]

    def get_feedback_rows(
        self, deployment: str, request_ids: Sequence[str] | None = None, start: int | None = None,
        end: int | None = None,
    ) -> list[tuple[str, str, int]]:
        """What :meth:`get_feedback` returns as plain ``(request_id, label as JSON text, timestamp)``
        tuples: the prediction-log reader joins a window's labels from these without building an
        object per label. Raises NotFound for an unknown deployment."""
        # On the driver's cursor, ids bound as one array per 50,000: a monitor window of 100,000
        # labeled rows costs what its rows cost (Row objects and an IN list per 900 ids cost more).
        # Time bounds only when given: with them SQLite would pick the (deployment, timestamp) index
        # and scan every label of the deployment instead of looking the ids up by primary key.
        bound: dict[str, Any] = {"deployment": deployment}
        if start is not None:
            bound["start"] = int(start)
        if end is not None:
            bound["end"] = int(end)
        with self._read() as conn:
            self._deployment_row(conn, deployment)
            shape = (conn.dialect.name, request_ids is not None, start is not None, end is not None)
            if request_ids is None:
                return rawsql.fetch_all(conn, _feedback_query(*shape), bound)  # type: ignore[return-value]
            ids, rows = list(request_ids), []
            for lo in range(0, len(ids), _IDS_PER_QUERY):
                bound["ids"] = _ids_value(ids[lo:lo + _IDS_PER_QUERY], conn.dialect.name)
                rows += rawsql.fetch_all(conn, _feedback_query(*shape), bound)
        return rows  # type: ignore[return-value]


_IDS_PER_QUERY = 50_000


@functools.lru_cache(maxsize=16)
def _feedback_query(dialect: str, by_ids: bool, since: bool, until: bool) -> Any:
    f = s.feedback
    query = select(f.c.request_id, f.c.label, f.c.timestamp).where(f.c.deployment == bindparam("deployment"))
    if since:
        query = query.where(f.c.timestamp >= bindparam("start", type_=BigInteger))
    if until:
        query = query.where(f.c.timestamp < bindparam("end", type_=BigInteger))
    if by_ids:
        query = query.where(_among_ids(f.c.request_id, dialect))
    return query.order_by(f.c.timestamp)


def _revision(row: Any) -> DeploymentRevision:
    batching, features = bindings.unpack(orjson.loads(row.batching))
    return DeploymentRevision(
        deployment=row.name, revision=row.revision, routes=_routes(row.routes), shadow=_routes(row.shadow),
        batching=batching, created_time=row.created_time, created_by=row.created_by,
        reason=row.reason, rollback_of=row.rollback_of, features=features)


def _deployment(row: Any, current: DeploymentRevision) -> Deployment:
    return Deployment(name=row.name, current=current, created_time=row.created_time, updated_time=row.updated_time,
                      description=row.description)
