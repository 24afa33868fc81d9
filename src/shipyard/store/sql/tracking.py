"""The tracking half of SqlStore: experiments, runs, metrics, params, tags, dataset inputs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import delete, func, select, update
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
    RunInputs,
    RunStatus,
    RunTag,
)
from shipyard.errors import AlreadyExists, InvalidInput, NotFound
from shipyard.store import validation as v
from shipyard.store.base import TrackingStore
from shipyard.store.filter import parse_filter, parse_order_by
from shipyard.store.sql import schema as s
from shipyard.store.sql.search import apply_order_by, decode_page_token, encode_page_token, runs_query
from shipyard.store.sql.sqlbase import SqlBase, chunks, insert_ignore
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
        location = artifact_location or f"{self.artifact_root.rstrip('/')}/{experiment_id}"
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

    def _experiment(self, conn: Connection, row: Any) -> Experiment:
        tags = dict(conn.execute(select(s.experiment_tags.c.key, s.experiment_tags.c.value)
                                 .where(s.experiment_tags.c.experiment_id == row.experiment_id)).all())
        return Experiment(
            experiment_id=row.experiment_id, name=row.name, artifact_location=row.artifact_location,
            lifecycle_stage=row.lifecycle_stage, tags=tags, creation_time=row.creation_time,
            last_update_time=row.last_update_time)

    def get_experiment(self, experiment_id: str) -> Experiment:
        with self._read() as conn:
            row = conn.execute(select(s.experiments).where(
                s.experiments.c.experiment_id == str(experiment_id))).first()
            if row is None:
                raise NotFound(f"experiment {experiment_id!r} not found")
            return self._experiment(conn, row)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        with self._read() as conn:
            row = conn.execute(select(s.experiments).where(s.experiments.c.name == name)).first()
            return None if row is None else self._experiment(conn, row)

    def search_experiments(
        self, view_type: str = "active", name_like: str | None = None, max_results: int = 1000
    ) -> list[Experiment]:
        query = select(s.experiments).where(s.experiments.c.lifecycle_stage.in_(_lifecycle(view_type)))
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
    ) -> Run:
        name = v.check_text(run_name or random_run_name(), "run name", v.MAX_NAME_LENGTH)
        tag_rows = {v.check_key(k, "tag key"): v.check_text(val, "tag value", v.MAX_TAG_VALUE_LENGTH)
                    for k, val in (tags or {}).items()}
        if parent_run_id is not None:
            v.check_run_id(parent_run_id)
        run_id = uuid.uuid4().hex
        start = int(start_time) if start_time is not None else _now()
        with self._write() as conn:
            exp = conn.execute(select(s.experiments.c.artifact_location, s.experiments.c.lifecycle_stage)
                               .where(s.experiments.c.experiment_id == str(experiment_id))).first()
            if exp is None:
                raise NotFound(f"experiment {experiment_id!r} not found")
            if exp.lifecycle_stage != LifecycleStage.ACTIVE.value:
                raise InvalidInput(f"experiment {experiment_id!r} is deleted: restore it or use another")
            artifact_uri = f"{exp.artifact_location.rstrip('/')}/{run_id}/artifacts"
            conn.execute(s.runs.insert().values(
                run_id=run_id, experiment_id=str(experiment_id), name=name, status=RunStatus.RUNNING.value,
                start_time=start, end_time=None, artifact_uri=artifact_uri,
                lifecycle_stage=LifecycleStage.ACTIVE.value, user_id=user_id or "", parent_run_id=parent_run_id))
            if tag_rows:
                conn.execute(s.run_tags.insert(),
                             [{"run_id": run_id, "key": k, "value": val} for k, val in tag_rows.items()])
        info = RunInfo(run_id=run_id, experiment_id=str(experiment_id), run_name=name,
                       status=RunStatus.RUNNING.value, start_time=start, end_time=None,
                       artifact_uri=artifact_uri, user_id=user_id or "", parent_run_id=parent_run_id)
        return Run(info=info, data=RunData(tags=dict(tag_rows)))

    def get_run(self, run_id: str) -> Run:
        v.check_run_id(run_id)
        with self._read() as conn:
            row = conn.execute(select(s.runs).where(s.runs.c.run_id == run_id)).first()
            if row is None:
                raise NotFound(f"run {run_id!r} not found")
            return self._load_runs(conn, [row])[0]

    def _run_row(self, conn: Connection, run_id: str) -> Any:
        v.check_run_id(run_id)
        row = conn.execute(select(s.runs.c.run_id, s.runs.c.lifecycle_stage)
                           .where(s.runs.c.run_id == run_id)).first()
        if row is None:
            raise NotFound(f"run {run_id!r} not found")
        return row

    def update_run_info(
        self, run_id: str, status: str | None = None, end_time: int | None = None, run_name: str | None = None
    ) -> RunInfo:
        values: dict[str, Any] = {}
        if status is not None:
            try:
                values["status"] = RunStatus(str(getattr(status, "value", status)).upper()).value
            except ValueError:
                raise InvalidInput(
                    f"unknown run status {status!r}: use one of {', '.join(x.value for x in RunStatus)}") from None
        if end_time is not None:
            values["end_time"] = int(end_time)
        if run_name is not None:
            values["name"] = v.check_text(run_name, "run name", v.MAX_NAME_LENGTH)
        with self._write() as conn:
            self._run_row(conn, run_id)
            if values:
                conn.execute(update(s.runs).where(s.runs.c.run_id == run_id).values(**values))
            row = conn.execute(select(s.runs).where(s.runs.c.run_id == run_id)).one()
        return _run_info(row)

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
    ) -> None:
        points = [(v.check_key(m.key, "metric key"), int(m.step), int(m.timestamp),
                   v.check_metric_value(m.key, m.value)) for m in metrics]
        param_rows: dict[str, str] = {}
        for p in params:
            key = v.check_key(p.key, "param key")
            value = v.check_text(p.value, f"param {key!r}", v.MAX_PARAM_VALUE_LENGTH)
            if param_rows.setdefault(key, value) != value:
                raise InvalidInput(f"param {key!r} given twice with different values in one batch")
        tag_rows = {v.check_key(t.key, "tag key"): v.check_text(t.value, f"tag {t.key!r}", v.MAX_TAG_VALUE_LENGTH)
                    for t in tags}
        with self._write() as conn:
            run = self._run_row(conn, run_id)
            if run.lifecycle_stage != LifecycleStage.ACTIVE.value:
                raise InvalidInput(f"run {run_id!r} is deleted: restore it before logging to it")
            if param_rows:
                self._insert_params(conn, run_id, param_rows)
            if tag_rows:
                conn.execute(delete(s.run_tags).where(s.run_tags.c.run_id == run_id,
                                                      s.run_tags.c.key.in_(list(tag_rows))))
                conn.execute(s.run_tags.insert(),
                             [{"run_id": run_id, "key": k, "value": val} for k, val in tag_rows.items()])
            if points:
                self._insert_points(conn, run_id, points)

    def _insert_params(self, conn: Connection, run_id: str, rows: dict[str, str]) -> None:
        existing: dict[str, str] = {}
        for part in chunks(list(rows)):
            existing.update(conn.execute(select(s.params.c.key, s.params.c.value).where(
                s.params.c.run_id == run_id, s.params.c.key.in_(part))).all())
        for key, old in existing.items():
            if old != rows[key]:
                raise InvalidInput(
                    f"param {key!r} was already logged as {old!r}; params are write-once, "
                    f"so {rows[key]!r} was not stored (log it under another key or in a new run)")
        new = [{"run_id": run_id, "key": k, "value": val} for k, val in rows.items() if k not in existing]
        if new:
            conn.execute(s.params.insert(), new)

    def _insert_points(self, conn: Connection, run_id: str, points: list[tuple[str, int, int, float | None]]) -> None:
        latest: dict[str, tuple[str, int, int, float | None]] = {}
        for point in points:  # latest = largest (step, timestamp); a later equal point wins
            old = latest.get(point[0])
            if old is None or (point[1], point[2]) >= (old[1], old[2]):
                latest[point[0]] = point
        ms = s.metric_series
        conn.execute(insert_ignore(conn, ms, ["run_id", "key"]), [
            {"run_id": run_id, "key": k, "value": p[3], "step": p[1], "timestamp": p[2]}
            for k, p in latest.items()])
        series: dict[str, Any] = {}
        for part in chunks(list(latest)):
            for row in conn.execute(select(ms.c.series_id, ms.c.key, ms.c.step, ms.c.timestamp)
                                    .where(ms.c.run_id == run_id, ms.c.key.in_(part))):
                series[row.key] = row
        for key, (_, step, ts, value) in latest.items():
            row = series[key]
            if (step, ts) >= (row.step, row.timestamp):
                conn.execute(update(ms).where(ms.c.series_id == row.series_id)
                             .values(value=value, step=step, timestamp=ts))
        conn.execute(s.metrics.insert(), [
            {"series_id": series[k].series_id, "step": step, "timestamp": ts, "value": value}
            for k, step, ts, value in points])

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
        query = runs_query([str(e) for e in experiment_ids], _lifecycle(view_type), parse_filter(filter_string))
        query = apply_order_by(query, [parse_order_by(c) for c in order_by or []])
        with self._read() as conn:
            rows = conn.execute(query.limit(limit + 1).offset(offset)).all()
            found = self._load_runs(conn, rows[:limit])
        token = encode_page_token(offset + limit) if len(rows) > limit else None
        return PagedList(found, token)

    def _load_runs(self, conn: Connection, rows: Sequence[Any]) -> list[Run]:
        """Runs with params, tags, latest metrics and inputs: four queries for the whole page."""
        ids = [row.run_id for row in rows]
        params: dict[str, dict[str, str]] = {i: {} for i in ids}
        tags: dict[str, dict[str, str]] = {i: {} for i in ids}
        metrics: dict[str, dict[str, float]] = {i: {} for i in ids}
        inputs: dict[str, list[DatasetInput]] = {i: [] for i in ids}
        for part in chunks(ids):
            for run_id, key, value in conn.execute(select(s.params.c.run_id, s.params.c.key, s.params.c.value)
                                                   .where(s.params.c.run_id.in_(part))):
                params[run_id][key] = value
            for run_id, key, value in conn.execute(select(s.run_tags.c.run_id, s.run_tags.c.key,
                                                          s.run_tags.c.value).where(s.run_tags.c.run_id.in_(part))):
                tags[run_id][key] = value
            ms = s.metric_series
            for run_id, key, value in conn.execute(select(ms.c.run_id, ms.c.key, ms.c.value)
                                                   .where(ms.c.run_id.in_(part))):
                metrics[run_id][key] = _float(value)
            ri, d = s.run_inputs, s.datasets
            for row in conn.execute(select(ri.c.run_id, ri.c.context, ri.c.targets, d)
                                    .select_from(ri.join(d, d.c.dataset_id == ri.c.dataset_id))
                                    .where(ri.c.run_id.in_(part))):
                inputs[row.run_id].append(DatasetInput(
                    name=row.name, digest=row.digest, context=row.context, source=row.source,
                    num_rows=row.num_rows, schema=orjson.loads(row.schema),
                    profile=None if row.profile is None else orjson.loads(row.profile), targets=row.targets))
        return [Run(info=_run_info(row),
                    data=RunData(metrics=metrics[row.run_id], params=params[row.run_id], tags=tags[row.run_id]),
                    inputs=RunInputs(datasets=inputs[row.run_id])) for row in rows]

    def count_runs(self, experiment_ids: Sequence[str], filter_string: str | None = None) -> int:
        query = runs_query(list(experiment_ids), _lifecycle("active"), parse_filter(filter_string))
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(query.subquery())).scalar_one())


def _check_max(max_results: int) -> int:
    if not isinstance(max_results, int) or not 1 <= max_results <= MAX_RESULTS_LIMIT:
        raise InvalidInput(f"max_results must be an integer from 1 to {MAX_RESULTS_LIMIT}, got {max_results!r}")
    return max_results


def _float(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _run_info(row: Any) -> RunInfo:
    return RunInfo(run_id=row.run_id, experiment_id=row.experiment_id, run_name=row.name, status=row.status,
                   start_time=row.start_time, end_time=row.end_time, artifact_uri=row.artifact_uri,
                   lifecycle_stage=row.lifecycle_stage, user_id=row.user_id, parent_run_id=row.parent_run_id)

