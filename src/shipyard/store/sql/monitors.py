"""The monitoring part of SqlStore: monitors, their results (a time series) and alerts (incidents)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.entities import ALERT_STATES, Alert, CheckResult, Monitor, MonitorResult
from shipyard.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from shipyard.store import validation as v
from shipyard.store.base import MonitorStore
from shipyard.store.sql import schema as s
from shipyard.store.sql.sqlbase import SqlBase, now_ms, to_json

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["SqlMonitorStore"]

_RESULT_STATUSES = ("ok", "alert", "no_data")




def _open_key(monitor: str, check: str, model: str, version: int) -> str:
    return orjson.dumps([monitor, check, model, int(version)]).decode()


class SqlMonitorStore(SqlBase, MonitorStore):
    def _monitor_row(self, conn: Connection, name: str) -> Any:
        row = conn.execute(select(s.monitors).where(s.monitors.c.name == name)).first()
        if row is None:
            raise NotFound(f"monitor {name!r} not found")
        return row

    def create_monitor(self, name: str, deployment: str, spec: dict[str, object], description: str = "") -> Monitor:
        v.check_model_name(name)
        spec_json = to_json(spec, "monitor spec")
        now = now_ms()
        try:
            with self._write() as conn:
                if conn.execute(select(s.deployments.c.name).where(s.deployments.c.name == deployment)).first() is None:
                    raise NotFound(f"deployment {deployment!r} not found")
                conn.execute(s.monitors.insert().values(
                    name=name, deployment=deployment, spec=spec_json,
                    description=v.check_text(description or "", "description", v.MAX_TAG_VALUE_LENGTH),
                    created_time=now, updated_time=now))
        except IntegrityError as exc:
            raise AlreadyExists(f"monitor {name!r} already exists") from exc
        return self.get_monitor(name)

    def update_monitor(self, name: str, spec: dict[str, object] | None = None,
                       description: str | None = None) -> Monitor:
        values: dict[str, Any] = {"updated_time": now_ms()}
        if spec is not None:
            values["spec"] = to_json(spec, "monitor spec")
        if description is not None:
            values["description"] = v.check_text(description, "description", v.MAX_TAG_VALUE_LENGTH)
        with self._write() as conn:
            self._monitor_row(conn, name)
            conn.execute(update(s.monitors).where(s.monitors.c.name == name).values(**values))
        return self.get_monitor(name)

    def get_monitor(self, name: str) -> Monitor:
        with self._read() as conn:
            return _monitor(self._monitor_row(conn, name))

    def list_monitors(self, deployment: str | None = None) -> list[Monitor]:
        query = select(s.monitors).order_by(s.monitors.c.name)
        if deployment is not None:
            query = query.where(s.monitors.c.deployment == deployment)
        with self._read() as conn:
            return [_monitor(row) for row in conn.execute(query)]

    def delete_monitor(self, name: str) -> None:
        with self._write() as conn:
            self._monitor_row(conn, name)
            conn.execute(delete(s.alerts).where(s.alerts.c.monitor == name))
            conn.execute(delete(s.monitor_results).where(s.monitor_results.c.monitor == name))
            conn.execute(delete(s.monitors).where(s.monitors.c.name == name))

    def log_monitor_results(self, results: Sequence[MonitorResult]) -> list[MonitorResult]:
        rows, out = [], []
        for r in results:
            if r.status not in _RESULT_STATUSES:
                raise InvalidInput(f"result status must be one of {', '.join(_RESULT_STATUSES)}, got {r.status!r}")
            result_id = r.result_id or uuid.uuid4().hex
            rows.append({
                "result_id": result_id, "monitor": r.monitor, "run_time": int(r.run_time), "model": r.model,
                "version": int(r.version), "status": r.status, "rows": int(r.rows),
                "labeled_rows": int(r.labeled_rows), "window_start": r.window_start, "window_end": r.window_end,
                "checks": to_json([c.to_dict() for c in r.checks], "result checks"),
                "features": to_json(r.features, "result features")})
            out.append(_replace_id(r, result_id))
        if not rows:
            return out
        with self._write() as conn:
            for name in {r.monitor for r in results}:
                self._monitor_row(conn, name)
            conn.execute(s.monitor_results.insert(), rows)
        return out

    def list_monitor_results(
        self, name: str, model: str | None = None, version: int | None = None, since: int | None = None,
        until: int | None = None, max_results: int = 1000,
    ) -> list[MonitorResult]:
        r = s.monitor_results
        query = select(r).where(r.c.monitor == name)
        if model is not None:
            query = query.where(r.c.model == model)
        if version is not None:
            query = query.where(r.c.version == int(version))
        if since is not None:
            query = query.where(r.c.run_time >= int(since))
        if until is not None:
            query = query.where(r.c.run_time < int(until))
        query = query.order_by(r.c.run_time.desc(), r.c.result_id.desc()).limit(max(1, int(max_results)))
        with self._read() as conn:
            self._monitor_row(conn, name)
            rows = list(conn.execute(query))
        return [_result(row) for row in reversed(rows)]

    def open_alert(self, alert: Alert) -> tuple[Alert, bool]:
        key = _open_key(alert.monitor, alert.check, alert.model, alert.version)
        a = s.alerts
        for _ in range(3):  # a concurrent opener may win between our read and our insert
            with self._write() as conn:
                self._monitor_row(conn, alert.monitor)
                row = conn.execute(select(a).where(a.c.open_key == key)).first()
                if row is not None:
                    return _alert(row), False
                alert_id = uuid.uuid4().hex
                try:
                    with conn.begin_nested():
                        conn.execute(a.insert().values(
                            alert_id=alert_id, monitor=alert.monitor, check_name=alert.check, model=alert.model,
                            version=int(alert.version), state="OPEN", open_key=key,
                            opened_time=int(alert.opened_time), resolved_time=None, value=_finite(alert.value),
                            threshold=_finite(alert.threshold), message=alert.message, resolved_message="",
                            deliveries=to_json(list(alert.deliveries), "deliveries")))
                except IntegrityError:
                    continue
                return _alert(conn.execute(select(a).where(a.c.alert_id == alert_id)).one()), True
        raise Conflict(f"could not open an alert for {alert.check} of monitor {alert.monitor!r}: try again")

    def _alert_row(self, conn: Connection, alert_id: str) -> Any:
        row = conn.execute(select(s.alerts).where(s.alerts.c.alert_id == alert_id)).first()
        if row is None:
            raise NotFound(f"alert {alert_id!r} not found")
        return row

    def resolve_alert(self, alert_id: str, resolved_time: int, message: str = "") -> Alert:
        with self._write() as conn:
            if self._alert_row(conn, alert_id).state != "OPEN":
                raise Conflict(f"alert {alert_id} is resolved already")
            conn.execute(update(s.alerts).where(s.alerts.c.alert_id == alert_id).values(
                state="RESOLVED", open_key=None, resolved_time=int(resolved_time), resolved_message=message))
            return _alert(self._alert_row(conn, alert_id))

    def add_alert_delivery(self, alert_id: str, delivery: dict[str, object]) -> None:
        with self._write() as conn:
            row = self._alert_row(conn, alert_id)
            deliveries = [*orjson.loads(row.deliveries), delivery]
            conn.execute(update(s.alerts).where(s.alerts.c.alert_id == alert_id)
                         .values(deliveries=to_json(deliveries, "delivery")))

    def list_alerts(self, monitor: str | None = None, state: str | None = None, max_results: int = 100) -> list[Alert]:
        a = s.alerts
        query = select(a).order_by(a.c.opened_time.desc(), a.c.alert_id.desc()).limit(max(1, int(max_results)))
        if monitor is not None:
            query = query.where(a.c.monitor == monitor)
        if state is not None:
            if state not in ALERT_STATES:
                raise InvalidInput(f"alert state must be one of {', '.join(ALERT_STATES)}, got {state!r}")
            query = query.where(a.c.state == state)
        with self._read() as conn:
            return [_alert(row) for row in conn.execute(query)]


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None


def _monitor(row: Any) -> Monitor:
    return Monitor(name=row.name, deployment=row.deployment, spec=orjson.loads(row.spec),
                   created_time=row.created_time, updated_time=row.updated_time, description=row.description)


def _replace_id(r: MonitorResult, result_id: str) -> MonitorResult:
    from dataclasses import replace

    return replace(r, result_id=result_id)


def _result(row: Any) -> MonitorResult:
    return MonitorResult(
        monitor=row.monitor, run_time=row.run_time, model=row.model, version=row.version, status=row.status,
        rows=row.rows, labeled_rows=row.labeled_rows, window_start=row.window_start, window_end=row.window_end,
        checks=[CheckResult.from_dict(c) for c in orjson.loads(row.checks)], features=orjson.loads(row.features),
        result_id=row.result_id)


def _alert(row: Any) -> Alert:
    return Alert(
        alert_id=row.alert_id, monitor=row.monitor, check=row.check_name, model=row.model, version=row.version,
        state=row.state, opened_time=row.opened_time, value=row.value, threshold=row.threshold,
        message=row.message, resolved_time=row.resolved_time, resolved_message=row.resolved_message,
        deliveries=orjson.loads(row.deliveries))
