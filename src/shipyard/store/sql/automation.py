"""The automation part of SqlStore: policy events and progressive rollouts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.entities import ROLLOUT_STATES, PolicyEvent, Rollout
from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.store import validation as v
from shipyard.store.base import AutomationStore
from shipyard.store.sql import schema as s
from shipyard.store.sql.sqlbase import SqlBase, now_ms, to_json

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["EVENT_KINDS", "SqlAutomationStore"]

EVENT_KINDS = ("triggered", "skipped", "training_started", "training_finished", "training_failed", "gate_passed",
               "gate_rejected", "rollout_started", "rollout_step", "promoted", "rolled_back", "alias_moved",
               "rollout_refused")




class SqlAutomationStore(SqlBase, AutomationStore):
    def _event_row(self, event: PolicyEvent) -> tuple[PolicyEvent, dict[str, Any]]:
        if event.kind not in EVENT_KINDS:
            raise InvalidInput(f"event kind must be one of {', '.join(EVENT_KINDS)}, got {event.kind!r}")
        if event.policy:  # events of a rollout started by hand belong to the deployment alone
            v.check_model_name(event.policy)
        stored = replace(event, event_id=event.event_id or uuid.uuid4().hex, time=event.time or now_ms())
        return stored, {"event_id": stored.event_id, "policy": stored.policy, "deployment": stored.deployment,
                        "time": stored.time, "kind": stored.kind, "message": stored.message,
                        "data": to_json(stored.data, "event data")}

    @staticmethod
    def _insert_event(conn: Connection, row: dict[str, Any]) -> None:
        last = conn.execute(select(func.max(s.policy_events.c.seq))).scalar()
        conn.execute(s.policy_events.insert().values(seq=(last or 0) + 1, **row))

    def add_policy_event(self, event: PolicyEvent) -> PolicyEvent:
        stored, row = self._event_row(event)
        with self._write() as conn:
            self._insert_event(conn, row)
        return stored

    def list_policy_events(self, policy: str | None = None, deployment: str | None = None,
                           kinds: Sequence[str] | None = None, since: int | None = None,
                           max_results: int = 100) -> list[PolicyEvent]:
        e = s.policy_events
        query = select(e).order_by(e.c.time.desc(), e.c.seq.desc()).limit(max(1, int(max_results)))
        if policy is not None:
            query = query.where(e.c.policy == policy)
        if deployment is not None:
            query = query.where(e.c.deployment == deployment)
        if kinds:
            query = query.where(e.c.kind.in_(list(kinds)))
        if since is not None:
            query = query.where(e.c.time >= int(since))
        with self._read() as conn:
            return [PolicyEvent(policy=r.policy, deployment=r.deployment, kind=r.kind, message=r.message,
                                data=orjson.loads(r.data), time=r.time, event_id=r.event_id)
                    for r in conn.execute(query)]

    def create_rollout(self, rollout: Rollout) -> Rollout:
        steps = [float(p) for p in rollout.steps]
        if not steps or any(not 0 < p <= 100 for p in steps) or steps != sorted(steps) or steps[-1] != 100:
            raise InvalidInput(f"rollout steps must rise from above 0 to 100 (percent), got {rollout.steps!r}")
        if rollout.dwell_ms < 0:
            raise InvalidInput(f"dwell must be >= 0, got {rollout.dwell_ms} ms")
        now = now_ms()
        stored = replace(rollout, rollout_id=rollout.rollout_id or uuid.uuid4().hex, steps=steps, state="RUNNING",
                         step=0, started_time=rollout.started_time or now,
                         step_started_time=rollout.step_started_time or now, updated_time=now)
        try:
            with self._write() as conn:
                if conn.execute(select(s.deployments.c.name)
                                .where(s.deployments.c.name == rollout.deployment)).first() is None:
                    raise NotFound(f"deployment {rollout.deployment!r} not found")
                conn.execute(s.rollouts.insert().values(
                    rollout_id=stored.rollout_id, deployment=stored.deployment, policy=stored.policy,
                    model=stored.model, candidate_version=int(stored.candidate_version),
                    stable_version=stored.stable_version, steps=to_json(steps, "steps"), dwell_ms=int(stored.dwell_ms),
                    criteria=to_json(stored.criteria, "criteria"), state="RUNNING", step=0,
                    active_key=stored.deployment, started_time=stored.started_time,
                    step_started_time=stored.step_started_time, updated_time=now, finished_time=None,
                    reason=stored.reason))
        except IntegrityError as exc:
            raise Conflict(f"deployment {rollout.deployment!r} has a rollout in progress; wait for it or let it "
                           "finish before starting another") from exc
        return stored

    def _row(self, conn: Connection, rollout_id: str) -> Any:
        row = conn.execute(select(s.rollouts).where(s.rollouts.c.rollout_id == rollout_id)).first()
        if row is None:
            raise NotFound(f"rollout {rollout_id!r} not found")
        return row

    def get_rollout(self, rollout_id: str) -> Rollout:
        with self._read() as conn:
            return _rollout(self._row(conn, rollout_id))

    def get_active_rollout(self, deployment: str) -> Rollout | None:
        with self._read() as conn:
            row = conn.execute(select(s.rollouts).where(s.rollouts.c.active_key == deployment)).first()
        return None if row is None else _rollout(row)

    def list_rollouts(self, deployment: str | None = None, state: str | None = None,
                      max_results: int = 100) -> list[Rollout]:
        r = s.rollouts
        query = select(r).order_by(r.c.started_time.desc(), r.c.rollout_id.desc()).limit(max(1, int(max_results)))
        if deployment is not None:
            query = query.where(r.c.deployment == deployment)
        if state is not None:
            query = query.where(r.c.state == state)
        with self._read() as conn:
            return [_rollout(row) for row in conn.execute(query)]

    def update_rollout(self, rollout_id: str, expected_step: int, *, step: int | None = None,
                       state: str | None = None, step_started_time: int | None = None,
                       reason: str | None = None, event: PolicyEvent | None = None) -> Rollout:
        if state is not None and state not in ROLLOUT_STATES:
            raise InvalidInput(f"rollout state must be one of {', '.join(ROLLOUT_STATES)}, got {state!r}")
        row = self._event_row(event)[1] if event is not None else None
        now = now_ms()
        values: dict[str, Any] = {"updated_time": now}
        if step is not None:
            values["step"] = int(step)
        if step_started_time is not None:
            values["step_started_time"] = int(step_started_time)
        if reason is not None:
            values["reason"] = reason
        if state is not None:
            values["state"] = state
            if state != "RUNNING":
                values.update(active_key=None, finished_time=now)
        r = s.rollouts
        with self._write() as conn:
            current = self._row(conn, rollout_id)
            if step is not None and not 0 <= int(step) < len(orjson.loads(current.steps)):
                raise InvalidInput(f"rollout {rollout_id} has no step {step}")
            done = conn.execute(update(r).where(r.c.rollout_id == rollout_id, r.c.state == "RUNNING",
                                                r.c.step == int(expected_step)).values(**values))
            if done.rowcount != 1:
                raise Conflict(f"rollout {rollout_id} is no longer running at step {expected_step} "
                               f"(now {current.state} at step {current.step}): another process moved it")
            if row is not None:
                self._insert_event(conn, row)
            return _rollout(self._row(conn, rollout_id))


def _rollout(row: Any) -> Rollout:
    return Rollout(
        rollout_id=row.rollout_id, deployment=row.deployment, model=row.model,
        candidate_version=row.candidate_version, stable_version=row.stable_version, steps=orjson.loads(row.steps),
        dwell_ms=row.dwell_ms, criteria=orjson.loads(row.criteria), state=row.state, step=row.step,
        policy=row.policy, started_time=row.started_time, step_started_time=row.step_started_time,
        updated_time=row.updated_time, finished_time=row.finished_time, reason=row.reason)
