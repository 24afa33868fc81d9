"""The pipelines part of SqlStore: pipeline runs, task runs (written in batches), schedule ticks.

Two claims must hold across processes: a queued run is started by one scheduler only (a guarded
``UPDATE ... WHERE state = 'PENDING'`` whose row count says who won), and a schedule tick fires once
(``INSERT ... ON CONFLICT DO NOTHING`` on the tick's primary key).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import delete, func, select, update

from shipyard.entities import PIPELINE_STATES, TASK_STATES, PipelineInfo, PipelineRun, TaskRun
from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.store import validation as v
from shipyard.store.base import PipelineStore
from shipyard.store.sql import schema as s
from shipyard.store.sql.sqlbase import SqlBase, bulk_insert, chunks, insert_ignore, now_ms

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["SqlPipelineStore"]

_TASK_COLUMNS = ("run_id", "key", "task_name", "state", "attempts", "start_time", "end_time", "error",
                 "error_kind", "traceback", "logs", "cache_key", "output_uri", "tracking_run_id", "upstream")
_FINISHED_RUN = ("SUCCEEDED", "FAILED", "CANCELLED")
# A run started RUNNING (or claimed) is held this long before its driver's first heartbeat, which
# comes at once (shipyard.pipelines._runner); a driver that dies before it is reclaimed after this.
FIRST_LEASE_MS = 60_000
LEASE_EXPIRED = "its driver stopped renewing the run's lease (the process was killed or lost)"



def _check_state(state: str, allowed: Sequence[str], what: str) -> str:
    if state not in allowed:
        raise InvalidInput(f"unknown {what} state {state!r} (known: {', '.join(allowed)})")
    return state


class SqlPipelineStore(SqlBase, PipelineStore):
    def create_pipeline_run(
        self, pipeline: str, params: dict[str, object], trigger: str = "manual", logical_date: int | None = None,
        state: str = "RUNNING",
    ) -> PipelineRun:
        v.check_model_name(pipeline)
        _check_state(state, ("PENDING", "RUNNING"), "initial pipeline run")
        try:
            params_json = orjson.dumps(params, option=orjson.OPT_SERIALIZE_NUMPY).decode()
        except TypeError as exc:
            raise InvalidInput(f"pipeline parameters must be JSON-serializable: {exc}") from None
        now = now_ms()
        run = PipelineRun(run_id=uuid.uuid4().hex, pipeline=pipeline, state=state, params=dict(params),
                          created_time=now, trigger=trigger[:20], logical_date=logical_date,
                          start_time=now if state == "RUNNING" else None)
        with self._write() as conn:
            conn.execute(s.pipeline_runs.insert().values(
                run_id=run.run_id, pipeline=pipeline, state=state, params=params_json, trigger=run.trigger,
                logical_date=logical_date, created_time=now, start_time=run.start_time, end_time=None,
                cancel_requested=False, error=None, lease_expires=now + FIRST_LEASE_MS if state == "RUNNING" else None))
        return run

    def _pipeline_row(self, conn: Connection, run_id: str, lock: bool = False) -> Any:
        query = select(s.pipeline_runs).where(s.pipeline_runs.c.run_id == run_id)
        row = conn.execute(query.with_for_update() if lock else query).first()
        if row is None:
            raise NotFound(f"pipeline run {run_id!r} not found")
        return row

    def get_pipeline_run(self, run_id: str) -> PipelineRun:
        t = s.task_runs
        with self._read() as conn:
            run = _pipeline_run(self._pipeline_row(conn, run_id))
            rows = conn.execute(select(t).where(t.c.run_id == run_id))
            run.task_runs = sorted((_task_run(r) for r in rows),
                                   key=lambda tr: (tr.start_time is None, tr.start_time or 0, tr.key))
        return run

    def list_pipeline_runs(
        self, pipeline: str | None = None, states: Sequence[str] | None = None, max_results: int = 100
    ) -> list[PipelineRun]:
        p = s.pipeline_runs
        query = select(p).order_by(p.c.created_time.desc(), p.c.run_id).limit(max(1, min(int(max_results), 10_000)))
        if pipeline is not None:
            query = query.where(p.c.pipeline == pipeline)
        if states:
            query = query.where(p.c.state.in_([_check_state(x, PIPELINE_STATES, "pipeline run") for x in states]))
        with self._read() as conn:
            return [_pipeline_run(row) for row in conn.execute(query)]

    def _put_task_runs(self, conn: Connection, run_id: str, task_runs: Sequence[TaskRun]) -> None:
        rows = []
        for tr in task_runs:
            _check_state(tr.state, TASK_STATES, "task run")
            rows.append((run_id, tr.key, tr.task_name, tr.state, tr.attempts, tr.start_time, tr.end_time,
                         tr.error, tr.error_kind, tr.traceback, tr.logs or "", tr.cache_key, tr.output_uri,
                         tr.tracking_run_id, orjson.dumps(list(tr.upstream)).decode() if tr.upstream else None))
        t = s.task_runs
        for part in chunks(rows):
            conn.execute(delete(t).where(t.c.run_id == run_id, t.c.key.in_([r[1] for r in part])))
            bulk_insert(conn, t, _TASK_COLUMNS, list(part))

    def write_task_runs(self, run_id: str, task_runs: Sequence[TaskRun]) -> None:
        with self._write() as conn:
            self._pipeline_row(conn, run_id)
            self._put_task_runs(conn, run_id, task_runs)

    def finish_pipeline_run(
        self, run_id: str, state: str, task_runs: Sequence[TaskRun] = (), error: str | None = None,
        end_time: int | None = None,
    ) -> None:
        _check_state(state, _FINISHED_RUN, "final pipeline run")
        with self._write() as conn:
            row = self._pipeline_row(conn, run_id, lock=True)
            if row.state in _FINISHED_RUN:
                raise Conflict(f"pipeline run {run_id} is {row.state} already")
            self._put_task_runs(conn, run_id, task_runs)
            conn.execute(update(s.pipeline_runs).where(s.pipeline_runs.c.run_id == run_id).values(
                state=state, error=error, end_time=end_time or now_ms()))

    def request_cancel(self, run_id: str) -> PipelineRun:
        p = s.pipeline_runs
        with self._write() as conn:
            row = self._pipeline_row(conn, run_id, lock=True)
            if row.state in _FINISHED_RUN:
                raise Conflict(f"pipeline run {run_id} is {row.state}: there is nothing to cancel")
            if row.state == "PENDING":
                conn.execute(update(p).where(p.c.run_id == run_id).values(
                    state="CANCELLED", cancel_requested=True, end_time=now_ms()))
            else:
                conn.execute(update(p).where(p.c.run_id == run_id).values(cancel_requested=True))
        return self.get_pipeline_run(run_id)

    def renew_pipeline_lease(self, run_id: str, lease_s: float) -> bool:
        from shipyard.store.sql.leases import check_lease_s

        lease_ms = check_lease_s(lease_s)
        p = s.pipeline_runs
        with self._write() as conn:
            done = conn.execute(update(p).where(p.c.run_id == run_id, p.c.state == "RUNNING")
                                .values(lease_expires=now_ms() + lease_ms))
            if done.rowcount == 1:
                return True
            self._pipeline_row(conn, run_id)  # NotFound for an unknown run
            return False

    def expire_pipeline_runs(self) -> list[str]:
        p, t = s.pipeline_runs, s.task_runs
        now = now_ms()
        stale = select(p.c.run_id).where(p.c.state == "RUNNING", p.c.lease_expires < now).limit(100)
        expired: list[str] = []
        with self._write() as conn:
            for run_id in conn.execute(stale).scalars().all():
                # Guarded like claim_pending_run: of two schedulers expiring at once, one marks it; a
                # heartbeat that renewed it meanwhile wins.
                done = conn.execute(update(p).where(p.c.run_id == run_id, p.c.state == "RUNNING",
                                                    p.c.lease_expires < now)
                                    .values(state="FAILED", end_time=p.c.lease_expires, error=LEASE_EXPIRED))
                if done.rowcount != 1:
                    continue
                conn.execute(update(t).where(t.c.run_id == run_id, t.c.state.in_(["PENDING", "RUNNING"]))
                             .values(state="FAILED", end_time=now, error=LEASE_EXPIRED))
                expired.append(run_id)
        return expired

    def claim_pending_run(self, pipelines: Sequence[str] | None = None) -> PipelineRun | None:
        p = s.pipeline_runs
        query = select(p.c.run_id).where(p.c.state == "PENDING").order_by(p.c.created_time).limit(5)
        if pipelines is not None:
            if not pipelines:
                return None
            query = query.where(p.c.pipeline.in_(list(pipelines)))
        with self._write() as conn:
            for run_id in conn.execute(query).scalars().all():
                now = now_ms()
                done = conn.execute(update(p).where(p.c.run_id == run_id, p.c.state == "PENDING")
                                    .values(state="RUNNING", start_time=now, lease_expires=now + FIRST_LEASE_MS))
                if done.rowcount == 1:
                    return _pipeline_run(self._pipeline_row(conn, run_id))
        return None

    def find_cached_task_run(self, task_name: str, cache_key: str, since: int | None = None) -> TaskRun | None:
        t = s.task_runs
        query = (select(t).where(t.c.cache_key == cache_key, t.c.task_name == task_name,
                                 t.c.state.in_(["SUCCEEDED", "CACHED"]), t.c.output_uri.is_not(None))
                 .order_by(t.c.end_time.desc()).limit(1))
        if since is not None:
            query = query.where(t.c.end_time >= since)
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _task_run(row)

    def claim_tick(self, name: str, tick_time: int, owner: str) -> bool:
        v.check_model_name(name)
        with self._write() as conn:
            result = conn.execute(insert_ignore(conn, s.schedule_ticks, ["name", "tick_time"]).values(
                name=name, tick_time=int(tick_time), claimed_time=now_ms(), owner=owner[:256])
                .returning(s.schedule_ticks.c.tick_time))  # rowcount is unreliable here on psycopg
            return result.first() is not None

    def last_tick(self, name: str) -> int | None:
        k = s.schedule_ticks
        with self._read() as conn:
            return conn.execute(select(k.c.tick_time).where(k.c.name == name)
                                .order_by(k.c.tick_time.desc()).limit(1)).scalar()

    def prune_ticks(self, before: int) -> int:
        # A tick newer than the schedule's latest can be claimed meanwhile, never an older one, so
        # "older than the latest" stays true while this runs: no race with claim_tick, nor with
        # another scheduler pruning at the same time. The primary key (name, tick_time) serves both
        # the range and the correlated max.
        k = s.schedule_ticks
        newer = s.schedule_ticks.alias("newer")
        latest = select(func.max(newer.c.tick_time)).where(newer.c.name == k.c.name).scalar_subquery()
        with self._write() as conn:
            result = conn.execute(delete(k).where(k.c.tick_time < int(before), k.c.tick_time < latest))
            return max(0, int(result.rowcount or 0))

    def announce_pipelines(self, pipelines: Sequence[PipelineInfo]) -> None:
        rows = []
        now = now_ms()
        for info in pipelines:
            v.check_model_name(info.name)
            if not info.schedule or len(info.schedule) > 200 or len(info.timezone) > 64:
                raise InvalidInput(f"pipeline {info.name!r}: a schedule of 1-200 characters and a time zone name "
                                   "of at most 64 are needed")
            rows.append({"name": info.name, "schedule": info.schedule, "timezone": info.timezone,
                         "parameters": orjson.dumps([str(x) for x in info.parameters]).decode(),
                         "max_active_runs": int(info.max_active_runs), "description": info.description[:2000],
                         "owner": info.owner[:256], "seen_time": now})
        if not rows:
            return
        p = s.pipelines
        # Delete and insert in one transaction: the same on SQLite and PostgreSQL, and two schedulers
        # announcing at once each leave a whole row (the later one's).
        with self._write() as conn:
            for part in chunks(rows):
                conn.execute(delete(p).where(p.c.name.in_([r["name"] for r in part])))
                conn.execute(p.insert(), list(part))

    def list_pipelines(self) -> list[PipelineInfo]:
        p = s.pipelines
        with self._read() as conn:
            return [PipelineInfo(name=r.name, schedule=r.schedule, timezone=r.timezone,
                                 parameters=[str(x) for x in orjson.loads(r.parameters)],
                                 max_active_runs=r.max_active_runs, description=r.description, owner=r.owner,
                                 seen_time=r.seen_time)
                    for r in conn.execute(select(p).order_by(p.c.name))]


def _pipeline_run(row: Any) -> PipelineRun:
    return PipelineRun(
        run_id=row.run_id, pipeline=row.pipeline, state=row.state, params=orjson.loads(row.params),
        created_time=row.created_time, trigger=row.trigger, logical_date=row.logical_date,
        start_time=row.start_time, end_time=row.end_time, cancel_requested=bool(row.cancel_requested),
        error=row.error)


def _task_run(row: Any) -> TaskRun:
    fields = {c: getattr(row, c) for c in _TASK_COLUMNS}
    fields["upstream"] = [str(k) for k in orjson.loads(row.upstream)] if row.upstream else []
    return TaskRun(**fields)

