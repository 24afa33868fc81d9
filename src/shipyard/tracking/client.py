"""TrackingClient: every tracking operation as an explicit method (the fluent API is built on it)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.artifacts import ArtifactRepository, FileInfo, get_artifact_repository
from shipyard.config import resolve_settings
from shipyard.entities import (
    DatasetInput,
    Experiment,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
)
from shipyard.errors import AlreadyExists, InvalidInput, NotFound
from shipyard.store import open_store

if TYPE_CHECKING:
    from shipyard.store.base import Store
    from shipyard.tracking.batcher import MetricBatcher

__all__ = ["DEFAULT_EXPERIMENT_NAME", "TrackingClient", "shared_store", "view_type"]

DEFAULT_EXPERIMENT_NAME = "Default"
# One store (engine and connection pool) per (store URI, artifact root) in a process, shared by the
# clients and pipeline tasks that name it, as MLflow does: opening one costs a schema check and a pool.
_stores: dict[tuple[str, str], Store] = {}
_stores_lock = threading.Lock()


def _now() -> int:
    return int(time.time() * 1000)


def shared_store(store_uri: str, artifact_uri: str) -> Store:
    """The process's open store for these URIs, opened on first use (thread-safe)."""
    key = (store_uri, artifact_uri)
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = open_store(store_uri, artifact_uri)
        return store


class TrackingClient:
    """Experiments, runs, metrics, params, tags, datasets and artifacts of one store.

    ``TrackingClient()`` uses the configured store (``SHIPYARD_TRACKING_URI`` and friends, see
    :mod:`shipyard.config`); ``TrackingClient("sqlite:///x.db", artifact_uri="/data/artifacts")``
    or ``TrackingClient(store=...)`` names one.
    """

    def __init__(
        self, tracking_uri: str | None = None, *, artifact_uri: str | None = None, store: Store | None = None
    ) -> None:
        if store is None:
            settings = resolve_settings(tracking_uri, artifact_uri)
            store = shared_store(settings.store_uri, settings.artifact_uri)
        self.store: Store = store
        self._batcher: MetricBatcher | None = None

    # ------------------------------------------------------------------ experiments
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict[str, str] | None = None
    ) -> str:
        return self.store.create_experiment(name, artifact_location, tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.store.get_experiment(experiment_id)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self.store.get_experiment_by_name(name)

    def get_or_create_experiment(self, name: str) -> str:
        """The id of the experiment with that name, created if missing (safe under races)."""
        found = self.store.get_experiment_by_name(name)
        if found is not None:
            if found.lifecycle_stage != "active":
                raise InvalidInput(f"experiment {name!r} is deleted: restore it or choose another name")
            return found.experiment_id
        try:
            return self.store.create_experiment(name)
        except AlreadyExists:
            again = self.store.get_experiment_by_name(name)
            if again is None:
                raise
            return again.experiment_id

    def search_experiments(self, view_type: str | int = "active", name_like: str | int | None = None,
                           max_results: int = 1000, *, filter_string: str | None = None,
                           order_by: Sequence[str] | None = None) -> list[Experiment]:
        """Experiments (newest first) whose name is LIKE ``name_like`` and that match an MLflow
        ``filter_string`` (``"name = 'x'"``, ``"tags.team = 'risk'"``), ordered by ``order_by``
        (``"name ASC"``, ``"creation_time DESC"``). MLflow's positional order (view_type,
        max_results) works too."""
        if isinstance(name_like, int):
            max_results, name_like = name_like, None
        found = self.store.search_experiments(_view(view_type), name_like,
                                              max_results if filter_string is None else 50_000)
        if filter_string is None and not order_by:
            return found
        from shipyard.store import _match as _filter

        attrs = _filter.EXPERIMENT_ATTRIBUTES
        return _filter.order(_filter.filter_items(found, filter_string, attrs), order_by, attrs)[:max_results]

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self.store.rename_experiment(experiment_id, new_name)

    def delete_experiment(self, experiment_id: str) -> None:
        self.store.delete_experiment(experiment_id)

    def restore_experiment(self, experiment_id: str) -> None:
        self.store.restore_experiment(experiment_id)

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        self.store.set_experiment_tag(experiment_id, key, str(value))

    # ------------------------------------------------------------------ runs
    def create_run(
        self,
        experiment_id: str,
        run_name: str | None = None,
        start_time: int | None = None,
        tags: dict[str, Any] | None = None,
        parent_run_id: str | None = None,
        user_id: str = "",
        lease_s: float | None = None,
    ) -> Run:
        """Create a RUNNING run. With ``lease_s`` this client's background thread renews the run's
        lease until :meth:`set_terminated`; should the process die, the run is marked FAILED once
        the lease runs out. Without one (the default here) the run stays RUNNING until ended.

        As MLflow's client does, the name may come as the tag ``mlflow.runName`` and the parent as
        ``mlflow.parentRunId``; both tags are written, so MLflow code that searches by them finds the run."""
        from shipyard.store.sql.words import random_run_name

        str_tags = {k: str(v) for k, v in (tags or {}).items()}
        run_name = run_name or str_tags.get("mlflow.runName") or random_run_name()
        str_tags["mlflow.runName"] = run_name
        parent_run_id = parent_run_id or str_tags.get("mlflow.parentRunId")
        if parent_run_id:
            str_tags.setdefault("mlflow.parentRunId", parent_run_id)
        run = self.store.create_run(experiment_id, run_name, start_time, str_tags, user_id, parent_run_id,
                                    lease_s=lease_s)
        if lease_s is not None:
            self.batcher.hold_lease(run.info.run_id, lease_s)
        return run

    def resume_run(self, run_id: str, lease_s: float | None = None) -> RunInfo:
        """Set an existing run RUNNING again (holding a lease as :meth:`create_run` does)."""
        info = self.store.update_run_info(run_id, status=RunStatus.RUNNING.value)
        if lease_s is not None:
            self.store.renew_run_lease(run_id, lease_s)
            self.batcher.hold_lease(run_id, lease_s)
        return info

    def get_run(self, run_id: str) -> Run:
        return self.store.get_run(run_id)

    def set_terminated(self, run_id: str, status: str | RunStatus = RunStatus.FINISHED,
                       end_time: int | None = None) -> RunInfo:
        """Write the run's buffered metrics and its end together. A write error is raised here."""
        status_text = str(getattr(status, "value", status))
        if self._batcher is not None:
            return self._batcher.end_run(run_id, status_text, end_time or _now())
        return self.store.end_run(run_id, status_text, end_time or _now())

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> RunInfo:
        info = self.store.update_run_info(run_id, status=status, run_name=name)
        if name is not None:  # the tag MLflow code reads the name from follows it
            self.store.log_batch(run_id, tags=[RunTag("mlflow.runName", name)])
        return info

    def delete_run(self, run_id: str) -> None:
        self.store.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        self.store.restore_run(run_id)

    def search_runs(
        self,
        experiment_ids: Sequence[str] | str,
        filter_string: str | None = None,
        run_view_type: str | int = "active",
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        ids = [experiment_ids] if isinstance(experiment_ids, str) else list(experiment_ids)
        return self.store.search_runs(ids, filter_string, _view(run_view_type), max_results, order_by, page_token)

    # ------------------------------------------------------------------ logging
    def log_metric(self, run_id: str, key: str, value: float, timestamp: int | None = None,
                   step: int | None = None, synchronous: bool = True) -> None:
        """Log one point. ``synchronous=False`` buffers it (see :meth:`flush`)."""
        metric = Metric(key, value, timestamp or _now(), step or 0)
        if synchronous:
            self.store.log_batch(run_id, metrics=[metric])
        else:
            self.batcher.add(run_id, [metric])

    def log_param(self, run_id: str, key: str, value: Any) -> Any:
        self.store.log_batch(run_id, params=[Param(key, _param_str(value))])
        return value

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.store.log_batch(run_id, tags=[RunTag(key, str(value))])

    def delete_tag(self, run_id: str, key: str) -> None:
        self.store.delete_tag(run_id, key)

    def log_batch(self, run_id: str, metrics: Sequence[Metric] = (), params: Sequence[Param] = (),
                  tags: Sequence[RunTag] = ()) -> None:
        """Write many metrics, params and tags in one transaction (all or nothing)."""
        self.store.log_batch(run_id, metrics, params, tags)

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        self.store.log_inputs(run_id, datasets)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        self.flush(run_id)
        return self.store.get_metric_history(run_id, key)

    @property
    def batcher(self) -> MetricBatcher:
        if self._batcher is None:
            from shipyard.tracking.batcher import MetricBatcher, flush_every_from_env

            self._batcher = MetricBatcher(self.store, flush_every=flush_every_from_env())
        return self._batcher

    def flush(self, run_id: str | None = None) -> None:
        """Block until buffered metrics are written; raises the error of a failed write."""
        if self._batcher is not None:
            self._batcher.flush(run_id)

    # ------------------------------------------------------------------ artifacts
    def artifact_repository(self, run_id: str) -> ArtifactRepository:
        return get_artifact_repository(self.store.get_run(run_id).info.artifact_uri)

    def log_artifact(self, run_id: str, local_path: str | Path, artifact_path: str | None = None) -> None:
        path = Path(local_path)
        repo = self.artifact_repository(run_id)
        if path.is_dir():
            repo.log_dir(path, artifact_path)
        elif path.is_file():
            repo.log_file(path, artifact_path)
        else:
            raise NotFound(f"no file or directory at {str(local_path)!r}")

    def log_bytes(self, run_id: str, data: bytes, artifact_file: str) -> None:
        self.artifact_repository(run_id).log_bytes(data, artifact_file)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        return self.artifact_repository(run_id).list(path)

    def download_artifacts(self, run_id: str, path: str | None, dst_path: str | Path | None = None) -> Path:
        """Copy an artifact (file or folder) into ``dst_path`` (a new temporary folder when None)."""
        import tempfile

        dst = dst_path if dst_path is not None else tempfile.mkdtemp(prefix="shipyard-artifacts-")
        return self.artifact_repository(run_id).download(path, dst)


def view_type(value: str | int) -> str:
    """shipyard's view type for MLflow's ``ViewType`` (1, 2, 3 or ACTIVE_ONLY, ...) or shipyard's own."""
    names = {1: "active", 2: "deleted", 3: "all", "active_only": "active", "deleted_only": "deleted"}
    if isinstance(value, int):
        if value not in names:
            raise InvalidInput(f"view type must be 1 (active), 2 (deleted) or 3 (all), got {value}")
        return names[value]
    text = str(value).lower()
    return str(names.get(text, text))


_view = view_type


def _param_str(value: Any) -> str:
    return value if isinstance(value, str) else str(value)
