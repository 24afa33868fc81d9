"""The tracking half of SqlStore: experiments, runs, metrics, params, tags, dataset inputs."""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import BigInteger, Float, String, bindparam, delete, literal, null, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.entities import (
    DatasetInput,
    Experiment,
    LifecycleStage,
    Metric,
    PagedList,
    Param,
    Run,
    RunData,
    RunInfo,
    RunStatus,
    RunTag,
)
from shipyard.errors import AlreadyExists, InvalidInput, NotFound
from shipyard.store import validation as v
from shipyard.store.base import TrackingStore
from shipyard.store.filter import parse_filter, parse_order_by_list
from shipyard.store.sql import leases, rawsql
from shipyard.store.sql import schema as s
from shipyard.store.sql.runpage import load_runs, run_info
from shipyard.store.sql.search import RUN_COLUMNS, count_runs, decode_page_token, encode_page_token, search_page
from shipyard.store.sql.sqlbase import SqlBase, _insert_ignore, bulk_insert, chunks, insert_ignore, now_ms
from shipyard.store.sql.words import random_run_name

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["SqlTrackingStore"]

_VIEW_TYPES = {
    "active": [LifecycleStage.ACTIVE.value],
    "deleted": [LifecycleStage.DELETED.value],
    "all": [LifecycleStage.ACTIVE.value, LifecycleStage.DELETED.value],
}
MAX_RESULTS_LIMIT = 50_000

# The hot paths (create_run, log_batch, end of run, reading a page of runs) use statements built once
# and run them through rawsql, on the driver's cursor: a fluent run is about ten statements, and
# SQLAlchemy's per-call overhead was most of their cost. Rows come back as tuples in column order.
_ms = s.metric_series
_RUN_STAGE = select(s.runs.c.run_id, s.runs.c.lifecycle_stage).where(s.runs.c.run_id == bindparam("rid"))
_ex = s.experiments
_EXPERIMENT_COLUMNS = (_ex.c.experiment_id, _ex.c.name, _ex.c.artifact_location, _ex.c.lifecycle_stage,
                       _ex.c.creation_time, _ex.c.last_update_time)
_EXPERIMENT_BY_ID = select(*_EXPERIMENT_COLUMNS).where(_ex.c.experiment_id == bindparam("eid", type_=String))
_EXPERIMENT_BY_NAME = select(*_EXPERIMENT_COLUMNS).where(_ex.c.name == bindparam("name", type_=String))
_EXPERIMENT_TAGS = select(s.experiment_tags.c.key, s.experiment_tags.c.value).where(
    s.experiment_tags.c.experiment_id == bindparam("eid", type_=String))
_EXPERIMENT_FOR_RUN = select(s.experiments.c.artifact_location, s.experiments.c.lifecycle_stage).where(
    s.experiments.c.experiment_id == bindparam("eid"))
_INSERT_RUN = s.runs.insert().from_select(
    ["run_id", "experiment_id", "name", "status", "start_time", "end_time", "artifact_uri", "lifecycle_stage",
     "user_id", "parent_run_id", "lease_expires"],
    select(bindparam("run_id", type_=String), s.experiments.c.experiment_id, bindparam("name", type_=String),
           literal(RunStatus.RUNNING.value), bindparam("start_time", type_=BigInteger), null(),
           s.experiments.c.artifact_location + bindparam("suffix", type_=String),
           literal(LifecycleStage.ACTIVE.value), bindparam("user_id", type_=String),
           bindparam("parent_run_id", type_=String), bindparam("lease_expires", type_=BigInteger))
    .where(s.experiments.c.experiment_id == bindparam("eid"),
           s.experiments.c.lifecycle_stage == LifecycleStage.ACTIVE.value),
).returning(s.runs.c.artifact_uri)
_INSERT_TAG = s.run_tags.insert()
_DELETE_TAG = delete(s.run_tags).where(s.run_tags.c.run_id == bindparam("rid"), s.run_tags.c.key == bindparam("k"))
_PARAMS_OF_RUN = select(s.params.c.key, s.params.c.value).where(s.params.c.run_id == bindparam("rid"))
_INSERT_PARAM = s.params.insert()
_SERIES_OF_RUN = select(_ms.c.series_id, _ms.c.key, _ms.c.step, _ms.c.timestamp).where(
    _ms.c.run_id == bindparam("rid"))
_UPDATE_SERIES = update(_ms).where(_ms.c.series_id == bindparam("sid")).values(
    value=bindparam("v"), step=bindparam("st"), timestamp=bindparam("ts"))
_METRIC_COLUMNS = ("series_id", "step", "timestamp", "value")
_END_RUN = (update(s.runs).where(s.runs.c.run_id == bindparam("rid"))
            .values(status=bindparam("new_status"), end_time=bindparam("new_end"), lease_expires=null())
            .returning(*RUN_COLUMNS))
_RUN_BY_ID = select(*RUN_COLUMNS).where(s.runs.c.run_id == bindparam("rid"))
_m = s.metrics
_POINTS = (select(_m.c.step, _m.c.timestamp, _m.c.value).select_from(_m.join(_ms, _ms.c.series_id == _m.c.series_id))
           .where(_ms.c.run_id == bindparam("rid", type_=String), _ms.c.key == bindparam("key", type_=String),
                  _m.c.step.between(bindparam("slo", type_=BigInteger), bindparam("shi", type_=BigInteger)),
                  _m.c.timestamp.between(bindparam("tlo", type_=BigInteger), bindparam("thi", type_=BigInteger)))
           .order_by(_m.c.step, _m.c.timestamp))
_MIN_INT, _MAX_INT = -(2**63), 2**63 - 1
_NEW_SERIES_CHUNK = 32  # new series per INSERT .. RETURNING (one compiled statement per size up to it)


def _now() -> int:
    return int(time.time() * 1000)


def _lifecycle(view_type: str) -> list[str]:
    try:
        return _VIEW_TYPES[view_type.lower()]
    except (KeyError, AttributeError):
        raise InvalidInput(f"view_type must be one of active, deleted, all; got {view_type!r}") from None


class SqlTrackingStore(SqlBase, TrackingStore):
    # ------------------------------------------------------------------ experiments
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict[str, str] | None = None
    ) -> str:
        v.check_experiment_name(name)
        tag_rows = [(v.check_key(k, "tag key"), v.check_text(val, "tag value", v.MAX_TAG_VALUE_LENGTH))
                    for k, val in (tags or {}).items()]
        experiment_id = uuid.uuid4().hex
        location = (artifact_location or f"{self.artifact_root.rstrip('/')}/{experiment_id}").rstrip("/")
        now = _now()
        try:
            with self._write() as conn:
                conn.execute(s.experiments.insert().values(
                    experiment_id=experiment_id, name=name, artifact_location=location,
                    lifecycle_stage=LifecycleStage.ACTIVE.value, creation_time=now, last_update_time=now))
                if tag_rows:
                    conn.execute(s.experiment_tags.insert(), [
                        {"experiment_id": experiment_id, "key": k, "value": val} for k, val in tag_rows])
        except IntegrityError as exc:
            raise AlreadyExists(f"experiment {name!r} already exists") from exc
        return experiment_id

    def _experiment(self, conn: Connection, row: Sequence[Any]) -> Experiment:
        """An Experiment from a row of _EXPERIMENT_COLUMNS, with its tags."""
        experiment_id, name, location, stage, created, updated = row
        tags = dict(rawsql.fetch_all(conn, _EXPERIMENT_TAGS, {"eid": experiment_id}))
        return Experiment(experiment_id=experiment_id, name=name, artifact_location=location, lifecycle_stage=stage,
                          tags=tags, creation_time=created, last_update_time=updated)

    def get_experiment(self, experiment_id: str) -> Experiment:
        with self._read() as conn:
            row = rawsql.fetch_one(conn, _EXPERIMENT_BY_ID, {"eid": str(experiment_id)})
            if row is None:
                raise NotFound(f"experiment {experiment_id!r} not found")
            return self._experiment(conn, row)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        with self._read() as conn:
            row = rawsql.fetch_one(conn, _EXPERIMENT_BY_NAME, {"name": name})
            return None if row is None else self._experiment(conn, row)

    def search_experiments(
        self, view_type: str = "active", name_like: str | None = None, max_results: int = 1000
    ) -> list[Experiment]:
        query = select(*_EXPERIMENT_COLUMNS).where(s.experiments.c.lifecycle_stage.in_(_lifecycle(view_type)))
        if name_like:
            query = query.where(s.experiments.c.name.like(name_like))
        query = query.order_by(s.experiments.c.creation_time.desc()).limit(_check_max(max_results))
        with self._read() as conn:
            return [self._experiment(conn, row) for row in conn.execute(query).all()]

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        v.check_experiment_name(new_name)
        try:
            with self._write() as conn:
                self._update_experiment(conn, experiment_id, name=new_name)
        except IntegrityError as exc:
            raise AlreadyExists(f"experiment {new_name!r} already exists") from exc

    def _update_experiment(self, conn: Connection, experiment_id: str, **values: Any) -> None:
        result = conn.execute(update(s.experiments).where(
            s.experiments.c.experiment_id == experiment_id).values(last_update_time=_now(), **values))
        if result.rowcount == 0:
            raise NotFound(f"experiment {experiment_id!r} not found")

    def delete_experiment(self, experiment_id: str) -> None:
        self._set_experiment_stage(experiment_id, LifecycleStage.DELETED)

    def restore_experiment(self, experiment_id: str) -> None:
        self._set_experiment_stage(experiment_id, LifecycleStage.ACTIVE)

    def _set_experiment_stage(self, experiment_id: str, stage: LifecycleStage) -> None:
        with self._write() as conn:
            self._update_experiment(conn, experiment_id, lifecycle_stage=stage.value)
            conn.execute(update(s.runs).where(s.runs.c.experiment_id == experiment_id)
                         .values(lifecycle_stage=stage.value))

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        v.check_key(key, "tag key")
        value = v.check_text(value, "tag value", v.MAX_TAG_VALUE_LENGTH)
        with self._write() as conn:
            self._update_experiment(conn, experiment_id)
            t = s.experiment_tags
            conn.execute(delete(t).where(t.c.experiment_id == experiment_id, t.c.key == key))
            conn.execute(t.insert().values(experiment_id=experiment_id, key=key, value=value))

    # ------------------------------------------------------------------ runs
    def create_run(
        self,
        experiment_id: str,
        run_name: str | None = None,
        start_time: int | None = None,
        tags: dict[str, str] | None = None,
        user_id: str = "",
        parent_run_id: str | None = None,
        lease_s: float | None = None,
    ) -> Run:
        lease_ms = None if lease_s is None else leases.check_lease_s(lease_s)
        name = v.check_text(run_name or random_run_name(), "run name", v.MAX_NAME_LENGTH)
        tag_rows = {v.check_key(k, "tag key"): v.check_text(val, "tag value", v.MAX_TAG_VALUE_LENGTH)
                    for k, val in (tags or {}).items()}
        if parent_run_id is not None:
            v.check_run_id(parent_run_id)
        run_id = uuid.uuid4().hex
        start = int(start_time) if start_time is not None else _now()
        with self._write() as conn:
            # One statement: insert the run only if its experiment is active, deriving its artifact
            # URI from the experiment's location; look at the experiment only when that fails.
            inserted = rawsql.fetch_all(conn, _INSERT_RUN, dict(
                run_id=run_id, eid=str(experiment_id), name=name, start_time=start, suffix=f"/{run_id}/artifacts",
                user_id=user_id or "", parent_run_id=parent_run_id,
                lease_expires=None if lease_ms is None else now_ms() + lease_ms))
            if not inserted:
                exp = rawsql.fetch_one(conn, _EXPERIMENT_FOR_RUN, {"eid": str(experiment_id)})
                if exp is None:
                    raise NotFound(f"experiment {experiment_id!r} not found")
                raise InvalidInput(f"experiment {experiment_id!r} is deleted: restore it or use another")
            artifact_uri = inserted[0][0]
            if tag_rows:
                rawsql.execute_many(conn, _INSERT_TAG,
                                    [{"run_id": run_id, "key": k, "value": val} for k, val in tag_rows.items()])
        info = RunInfo(run_id=run_id, experiment_id=str(experiment_id), run_name=name,
                       status=RunStatus.RUNNING.value, start_time=start, end_time=None,
                       artifact_uri=artifact_uri, user_id=user_id or "", parent_run_id=parent_run_id)
        return Run(info=info, data=RunData(tags=dict(tag_rows)))

    def get_run(self, run_id: str) -> Run:
        v.check_run_id(run_id)
        self._reap_if_due()
        with self._read() as conn:
            row = rawsql.fetch_one(conn, _RUN_BY_ID, {"rid": run_id})
            if row is None:
                raise NotFound(f"run {run_id!r} not found")
            return load_runs(conn, [row], profiles=True)[0]

    def _run_row(self, conn: Connection, run_id: str) -> tuple[str, str]:
        """(run_id, lifecycle_stage) of the run, or NotFound."""
        v.check_run_id(run_id)
        row = rawsql.fetch_one(conn, _RUN_STAGE, {"rid": run_id})
        if row is None:
            raise NotFound(f"run {run_id!r} not found")
        return row

    def update_run_info(
        self, run_id: str, status: str | None = None, end_time: int | None = None, run_name: str | None = None
    ) -> RunInfo:
        values: dict[str, Any] = {}
        if status is not None:
            values["status"] = _status(status)
            if values["status"] != RunStatus.RUNNING.value:
                values["lease_expires"] = None  # ended by hand: nothing left to reap or revive
        if end_time is not None:
            values["end_time"] = int(end_time)
        if run_name is not None:
            values["name"] = v.check_text(run_name, "run name", v.MAX_NAME_LENGTH)
        v.check_run_id(run_id)
        row: Any
        with self._write() as conn:
            if values:
                row = conn.execute(update(s.runs).where(s.runs.c.run_id == run_id).values(**values)
                                   .returning(*RUN_COLUMNS)).first()
            else:
                row = rawsql.fetch_one(conn, _RUN_BY_ID, {"rid": run_id})
            if row is None:
                raise NotFound(f"run {run_id!r} not found")
        return run_info(row)

    def delete_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, LifecycleStage.DELETED)

    def restore_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, LifecycleStage.ACTIVE)

    def _set_run_stage(self, run_id: str, stage: LifecycleStage) -> None:
        with self._write() as conn:
            self._run_row(conn, run_id)
            conn.execute(update(s.runs).where(s.runs.c.run_id == run_id).values(lifecycle_stage=stage.value))

    # ------------------------------------------------------------------ logging
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        *,
        batch_id: str | None = None,
    ) -> None:
        batch = _Batch(metrics, params, tags)
        if batch_id is not None:
            leases.check_batch_id(batch_id)
        with self._write() as conn:
            _, stage = self._run_row(conn, run_id)
            if stage != LifecycleStage.ACTIVE.value:
                raise InvalidInput(f"run {run_id!r} is deleted: restore it before logging to it")
            if batch_id is None or self._claim(conn, run_id, batch_id):
                self._write_batch(conn, run_id, batch)

    def end_run(
        self, run_id: str, status: str, end_time: int, metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (), tags: Sequence[RunTag] = (), *, batch_id: str | None = None,
    ) -> RunInfo:
        batch = _Batch(metrics, params, tags)
        status = _status(status)
        v.check_run_id(run_id)
        if batch_id is not None:
            leases.check_batch_id(batch_id)
        with self._write() as conn:
            # The UPDATE doubles as the existence check; a refusal below rolls it back.
            ended = rawsql.fetch_all(conn, _END_RUN, {"rid": run_id, "new_status": status, "new_end": int(end_time)})
            if not ended:
                raise NotFound(f"run {run_id!r} not found")
            info = run_info(ended[0])
            if batch and info.lifecycle_stage != LifecycleStage.ACTIVE.value:
                raise InvalidInput(f"run {run_id!r} is deleted: restore it before logging to it")
            if batch_id is None or self._claim(conn, run_id, batch_id):
                self._write_batch(conn, run_id, batch)
        return info

    def _claim(self, conn: Connection, run_id: str, batch_id: str) -> bool:
        """Record the batch id (pruning day-old ids about once an hour); False for a replay."""
        now = now_ms()
        if _throttle(self, "_prune_throttle", 3600.0).due():
            leases.prune_batches(conn, now)
        return leases.claim_batch(conn, run_id, batch_id, now)

    # ------------------------------------------------------------------ leases
    def renew_run_lease(self, run_id: str, lease_s: float) -> bool:
        lease_ms = leases.check_lease_s(lease_s)
        v.check_run_id(run_id)
        with self._write() as conn:
            held = leases.renew_lease(conn, run_id, now_ms() + lease_ms)
        if held is None:
            raise NotFound(f"run {run_id!r} not found")
        return held

    def expire_run_leases(self, now: int | None = None) -> list[str]:
        """Mark every RUNNING run whose lease passed (by ``now``, ms; default the store's clock)
        FAILED and return their ids (one indexed look; a write only when there is work). Not part
        of the Store interface: ``shipyard server`` calls it on a timer, reads of runs call it at
        most every 5 s. (Batch ids older than a day are pruned by the writes, about once an hour.)"""
        at = now_ms() if now is None else int(now)
        with self._read() as conn:
            if not leases.any_expired(conn, at):
                return []
        with self._write() as conn:
            return leases.expire_leases(conn, at)

    def _reap_if_due(self) -> None:
        if _throttle(self, "_reap_throttle", 5.0).due():
            self.expire_run_leases()

    def _write_batch(self, conn: Connection, run_id: str, batch: _Batch) -> None:
        if batch.params:
            self._insert_params(conn, run_id, batch.params)
        if batch.tags:
            rawsql.execute_many(conn, _DELETE_TAG, [{"rid": run_id, "k": k} for k in batch.tags])
            rawsql.execute_many(conn, _INSERT_TAG,
                                [{"run_id": run_id, "key": k, "value": val} for k, val in batch.tags.items()])
        if batch.points:
            self._insert_points(conn, run_id, batch.points)

    def _insert_params(self, conn: Connection, run_id: str, rows: dict[str, str]) -> None:
        inserted = rawsql.execute_many(conn, insert_ignore(conn, s.params, ["run_id", "key"]),
                                       [{"run_id": run_id, "key": k, "value": val} for k, val in rows.items()])
        if inserted == len(rows):
            return
        for key, old in rawsql.fetch_all(conn, _PARAMS_OF_RUN, {"rid": run_id}):
            if key in rows and old != rows[key]:
                raise InvalidInput(
                    f"param {key!r} was already logged as {old!r}; params are write-once, "
                    f"so {rows[key]!r} was not stored (log it under another key or in a new run)")

    def _insert_points(self, conn: Connection, run_id: str, points: list[tuple[str, int, int, float | None]]) -> None:
        latest: dict[str, tuple[str, int, int, float | None]] = {}
        for point in points:  # latest = largest (step, timestamp); a later equal point wins
            old = latest.get(point[0])
            if old is None or (point[1], point[2]) >= (old[1], old[2]):
                latest[point[0]] = point
        # series rows: (series_id, key, step, timestamp)
        series = {row[1]: row for row in rawsql.fetch_all(conn, _SERIES_OF_RUN, {"rid": run_id})}
        missing = [k for k in latest if k not in series]
        if missing:
            # insert-or-ignore: on PostgreSQL another writer may create the same series meanwhile.
            created: list[tuple[Any, ...]] = []
            for part in chunks(missing, _NEW_SERIES_CHUNK):
                values: dict[str, Any] = {"run_id": run_id}
                for i, k in enumerate(part):
                    values.update({f"key{i}": k, f"value{i}": latest[k][3], f"step{i}": latest[k][1],
                                   f"timestamp{i}": latest[k][2]})
                created += rawsql.fetch_all(conn, _new_series(conn.dialect.name, len(part)), values)
            series.update((row[1], row) for row in created)
            if len(created) < len(missing):
                series = {row[1]: row for row in rawsql.fetch_all(conn, _SERIES_OF_RUN, {"rid": run_id})}
                missing = [k for k in missing if k in {row[1] for row in created}]
        changed = [{"sid": series[k][0], "v": value, "st": step, "ts": ts}
                   for k, (_, step, ts, value) in latest.items()
                   if k not in missing and (step, ts) >= (series[k][2], series[k][3])]
        if changed:
            rawsql.execute_many(conn, _UPDATE_SERIES, changed)
        ids = {k: row[0] for k, row in series.items()}
        bulk_insert(conn, s.metrics, _METRIC_COLUMNS,
                    [(ids[k], step, ts, value) for k, step, ts, value in points])

    def delete_tag(self, run_id: str, key: str) -> None:
        with self._write() as conn:
            self._run_row(conn, run_id)
            result = conn.execute(delete(s.run_tags).where(s.run_tags.c.run_id == run_id, s.run_tags.c.key == key))
            if result.rowcount == 0:
                raise NotFound(f"run {run_id!r} has no tag {key!r}")

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        m, ms = s.metrics, s.metric_series
        query = (select(m.c.step, m.c.timestamp, m.c.value)
                 .select_from(m.join(ms, ms.c.series_id == m.c.series_id))
                 .where(ms.c.run_id == run_id, ms.c.key == key)
                 .order_by(m.c.step, m.c.timestamp))
        with self._read() as conn:
            self._run_row(conn, run_id)
            return [Metric(key, _float(value), ts, step) for step, ts, value in conn.execute(query)]

    def metric_points(self, run_id: str, key: str, *, step_range: tuple[int, int] | None = None,
                      time_range: tuple[int, int] | None = None) -> list[tuple[int, int, float | None]]:
        """(step, timestamp, value) of the key's points, by step then timestamp, optionally only those
        with step and/or timestamp (ms) within the inclusive ranges; NaN comes back as None.

        Not part of the Store interface: the web UI's charts read long histories (100,000 points)
        through it as plain tuples, about five times faster than :meth:`get_metric_history`'s entities,
        and read only the zoomed range. Raises NotFound for an unknown run.
        """
        lo_step, hi_step = step_range if step_range is not None else (_MIN_INT, _MAX_INT)
        lo_time, hi_time = time_range if time_range is not None else (_MIN_INT, _MAX_INT)
        with self._read() as conn:
            self._run_row(conn, run_id)
            return rawsql.fetch_all(conn, _POINTS, {"rid": run_id, "key": key, "slo": int(lo_step),
                                                    "shi": int(hi_step), "tlo": int(lo_time), "thi": int(hi_time)})

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        with self._write() as conn:
            self._run_row(conn, run_id)
            experiment_id = conn.execute(select(s.runs.c.experiment_id).where(s.runs.c.run_id == run_id)).scalar_one()
            for ds in datasets:
                name = v.check_text(ds.name, "dataset name", v.MAX_NAME_LENGTH)
                conn.execute(insert_ignore(conn, s.datasets, ["experiment_id", "name", "digest"]).values(
                    dataset_id=uuid.uuid4().hex, experiment_id=experiment_id, name=name, digest=ds.digest,
                    source=ds.source, num_rows=ds.num_rows, schema=orjson.dumps(ds.schema).decode(),
                    profile=None if ds.profile is None else orjson.dumps(ds.profile).decode()))
                dataset_id = conn.execute(select(s.datasets.c.dataset_id).where(
                    s.datasets.c.experiment_id == experiment_id, s.datasets.c.name == name,
                    s.datasets.c.digest == ds.digest)).scalar_one()
                conn.execute(insert_ignore(conn, s.run_inputs, ["run_id", "dataset_id", "context"]).values(
                    run_id=run_id, dataset_id=dataset_id, context=ds.context or "", targets=ds.targets))

    # ------------------------------------------------------------------ search
    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        view_type: str = "active",
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        if isinstance(experiment_ids, str):
            experiment_ids = [experiment_ids]
        limit = _check_max(max_results)
        offset = decode_page_token(page_token)
        self._reap_if_due()
        node = parse_filter(filter_string)
        ordering = parse_order_by_list(order_by)
        with self._read() as conn:
            rows = search_page(conn, [str(e) for e in experiment_ids], _lifecycle(view_type), node, ordering,
                               offset, limit + 1)
            found = load_runs(conn, rows[:limit])
        token = encode_page_token(offset + limit) if len(rows) > limit else None
        return PagedList(found, token)

    def count_runs(self, experiment_ids: Sequence[str], filter_string: str | None = None) -> int:
        self._reap_if_due()
        with self._read() as conn:
            return count_runs(conn, list(experiment_ids), _lifecycle("active"), parse_filter(filter_string))


@functools.lru_cache(maxsize=2 * _NEW_SERIES_CHUNK)
def _new_series(dialect: str, count: int) -> Any:
    """INSERT-or-ignore of ``count`` metric series of one run (one multi-row VALUES, bound parameters
    ``run_id``, ``key0``, ``value0``, ...) returning (series_id, key, step, timestamp) of those created."""
    rows = [{"run_id": bindparam("run_id", type_=String), "key": bindparam(f"key{i}", type_=String),
             "value": bindparam(f"value{i}", type_=Float), "step": bindparam(f"step{i}", type_=BigInteger),
             "timestamp": bindparam(f"timestamp{i}", type_=BigInteger)} for i in range(count)]
    return _insert_ignore(dialect, _ms, ("run_id", "key")).values(rows).returning(
        _ms.c.series_id, _ms.c.key, _ms.c.step, _ms.c.timestamp)


def _throttle(store: object, name: str, every_s: float) -> leases.Throttle:
    found = store.__dict__.get(name)
    if found is None:
        found = store.__dict__[name] = leases.Throttle(every_s)
    return found  # type: ignore[no-any-return]


def _status(status: object) -> str:
    try:
        return RunStatus(str(getattr(status, "value", status)).upper()).value
    except ValueError:
        raise InvalidInput(
            f"unknown run status {status!r}: use one of {', '.join(x.value for x in RunStatus)}") from None


class _Batch:
    """Metrics, params and tags of one write, validated before any SQL runs."""

    __slots__ = ("params", "points", "tags")

    def __init__(self, metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]) -> None:
        self.points = [(v.check_key(m.key, "metric key"), int(m.step), int(m.timestamp),
                        v.check_metric_value(m.key, m.value)) for m in metrics]
        self.params: dict[str, str] = {}
        for p in params:
            key = v.check_key(p.key, "param key")
            value = v.check_text(p.value, f"param {key!r}", v.MAX_PARAM_VALUE_LENGTH)
            if self.params.setdefault(key, value) != value:
                raise InvalidInput(f"param {key!r} given twice with different values in one batch")
        self.tags = {v.check_key(t.key, "tag key"): v.check_text(t.value, f"tag {t.key!r}", v.MAX_TAG_VALUE_LENGTH)
                     for t in tags}

    def __bool__(self) -> bool:
        return bool(self.points or self.params or self.tags)


def _check_max(max_results: int) -> int:
    if not isinstance(max_results, int) or not 1 <= max_results <= MAX_RESULTS_LIMIT:
        raise InvalidInput(f"max_results must be an integer from 1 to {MAX_RESULTS_LIMIT}, got {max_results!r}")
    return max_results


def _float(value: float | None) -> float:
    return float("nan") if value is None else float(value)
