"""Copying an MLflow store into a shipyard store, idempotently.

What was imported is remembered in the target itself, so a second import adds nothing:

- an experiment is matched by name;
- a run carries the tag ``shipyard.import.mlflow_run_id`` (its MLflow id); the tag
  ``shipyard.import.complete`` is written with the run's end, in the same transaction, so a run an
  interrupted import left half-copied is deleted and copied again;
- a model version carries ``shipyard.import.mlflow_version``; aliases are set to the mapped version.

Runs keep their names, users, start and end times, statuses, params, tags and every metric point;
``mlflow.parentRunId`` points at the parent's new id. Artifacts under a local folder are copied
into the run's artifact location; a logged model of MLflow 3 (``models/m-...``) is copied into its
run's artifacts under the model's name and versions registered from it point there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from shipyard.artifacts import get_artifact_repository
from shipyard.entities import Metric, Param, RunTag
from shipyard.errors import ShipyardError
from shipyard.mlflow_import._files import FileSource
from shipyard.mlflow_import._source import (
    MlflowSource,
    SourceLoggedModel,
    SourceModelVersion,
    SourceRun,
    open_source,
)
from shipyard.store.base import Store

log = logging.getLogger(__name__)

RUN_ID_TAG = "shipyard.import.mlflow_run_id"
COMPLETE_TAG = "shipyard.import.complete"
VERSION_TAG = "shipyard.import.mlflow_version"
_FINISHED = {"FINISHED", "FAILED", "KILLED"}


@dataclass
class ImportSummary:
    """What an import added, and what it left out with the reason."""

    experiments: int = 0
    runs: int = 0
    metric_points: int = 0
    params: int = 0
    artifacts: int = 0
    models: int = 0
    versions: int = 0
    aliases: int = 0
    already_imported_runs: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (item, why)


#: progress(done_runs, total_runs)
Progress = Callable[[int, int], None]


def import_mlflow(source: str, store: Store, *, progress: Progress | None = None) -> ImportSummary:
    """Import the MLflow tracking store ``source`` (see :func:`open_source`) into ``store``; see the
    module docstring."""
    src = open_source(source)
    try:
        return _Importer(src, store, progress).run()
    finally:
        src.close()


class _Importer:
    def __init__(self, src: MlflowSource | FileSource, store: Store, progress: Progress | None) -> None:
        self.src, self.store, self.progress = src, store, progress
        self.summary = ImportSummary()
        self.exp_map: dict[str, str] = {}  # MLflow experiment id -> shipyard id
        self.run_map: dict[str, str] = {}  # MLflow run id -> shipyard run id
        self.model_paths: dict[str, tuple[str, str]] = {}  # logged model id -> (shipyard run, path)

    def run(self) -> ImportSummary:
        self._experiments()
        self._runs()
        self._registry()
        return self.summary

    def _experiments(self) -> None:
        for exp in self.src.experiments():
            if exp.lifecycle_stage != "active":
                self.summary.skipped.append((f"experiment {exp.name!r}", "deleted in MLflow"))
                continue
            found = self.store.get_experiment_by_name(exp.name)
            if found is None:
                tags = {k: v for k, v in exp.tags.items()}
                tags["shipyard.import.mlflow_experiment_id"] = exp.experiment_id
                self.exp_map[exp.experiment_id] = self.store.create_experiment(exp.name, tags=tags)
                self.summary.experiments += 1
            else:
                self.exp_map[exp.experiment_id] = found.experiment_id
            # Runs imported before (complete or not) in this experiment, by their MLflow id.
            token: str | None = None
            while True:
                page = self.store.search_runs([self.exp_map[exp.experiment_id]], view_type="all",
                                              max_results=1000, page_token=token)
                for run in page:
                    mlflow_id = run.data.tags.get(RUN_ID_TAG)
                    if mlflow_id is None:
                        continue
                    if run.data.tags.get(COMPLETE_TAG) == "true":
                        self.run_map[mlflow_id] = run.info.run_id
                    elif run.info.lifecycle_stage == "active":
                        self.store.delete_run(run.info.run_id)  # half-copied by an interrupted import
                token = page.token
                if not token:
                    break

    def _runs(self) -> None:
        runs = self.src.runs()
        logged = self.src.logged_models()
        by_run: dict[str, list[SourceLoggedModel]] = {}
        for model in logged.values():
            by_run.setdefault(model.source_run_id or "", []).append(model)
        for done, run in enumerate(runs, 1):
            if run.run_id in self.run_map:
                self.summary.already_imported_runs += 1
            elif run.lifecycle_stage != "active":
                self.summary.skipped.append((f"run {run.run_id}", "deleted in MLflow"))
            elif run.experiment_id not in self.exp_map:
                self.summary.skipped.append((f"run {run.run_id}", "its experiment is deleted in MLflow"))
            else:
                try:
                    self._run(run, by_run.get(run.run_id, []))
                except ShipyardError as exc:
                    self.summary.skipped.append((f"run {run.run_id}", exc.message))
            if run.run_id in self.run_map:
                for model in by_run.get(run.run_id, []):
                    self.model_paths.setdefault(model.model_id, (self.run_map[run.run_id], model.name))
            if self.progress is not None:
                self.progress(done, len(runs))

    def _run(self, run: SourceRun, models: list[SourceLoggedModel]) -> None:
        tags = self.src.tags(run.run_id)
        tags.pop("mlflow.parentRunId", None)
        parent = self.run_map.get(run.parent_run_id) if run.parent_run_id else None
        if parent is not None:
            tags["mlflow.parentRunId"] = parent  # MLflow's searches filter on it
        elif run.parent_run_id:
            tags["shipyard.import.mlflow_parent_run_id"] = run.parent_run_id  # parent not imported
        tags[RUN_ID_TAG] = run.run_id
        new = self.store.create_run(self.exp_map[run.experiment_id], run_name=run.name or None,
                                    start_time=run.start_time, tags=tags, user_id=run.user_id,
                                    parent_run_id=parent)
        new_id = new.info.run_id
        counted = (self.summary.params, self.summary.metric_points, self.summary.artifacts)
        try:
            self._run_data(run, new_id, models)
        except BaseException:
            self.store.delete_run(new_id)  # not left RUNNING; the next import copies it again
            self.summary.params, self.summary.metric_points, self.summary.artifacts = counted
            raise
        self.run_map[run.run_id] = new_id
        self.summary.runs += 1

    def _run_data(self, run: SourceRun, new_id: str, models: list[SourceLoggedModel]) -> None:
        params = [Param(k, v) for k, v in self.src.params(run.run_id).items()]
        if params:
            self.store.log_batch(new_id, params=params)
            self.summary.params += len(params)
        for page in self.src.metric_pages(run.run_id):
            # One transaction per page: a store's batch limit is never exceeded, memory stays flat.
            for start in range(0, len(page), 1000):
                chunk = page[start:start + 1000]
                self.store.log_batch(new_id, metrics=[Metric(k, v, ts, st) for k, v, ts, st in chunk])
            self.summary.metric_points += len(page)
        self._artifacts(run, new_id, models)
        status = run.status if run.status in _FINISHED else "KILLED"  # a RUNNING run will not end here
        end = run.end_time if run.end_time is not None else (run.start_time or 0)
        self.store.end_run(new_id, status, end, tags=[RunTag(COMPLETE_TAG, "true")])

    def _artifacts(self, run: SourceRun, new_id: str, models: list[SourceLoggedModel]) -> None:
        folder = self.src.local_dir(run.artifact_uri)
        target = get_artifact_repository(self.store.get_run(new_id).info.artifact_uri)
        if folder is not None and any(folder.iterdir()):
            target.log_dir(folder)
            self.summary.artifacts += sum(1 for p in folder.rglob("*") if p.is_file())
        elif run.artifact_uri and folder is None and not _is_local(run.artifact_uri):
            self.summary.skipped.append((f"artifacts of run {run.run_id}",
                                         f"not a local folder ({run.artifact_uri}); copy them by hand"))
        for model in models:
            model_dir = self.src.local_dir(model.artifact_location)
            if model_dir is None:
                self.summary.skipped.append((f"logged model {model.model_id}",
                                             f"its files are not in a local folder ({model.artifact_location})"))
                continue
            if target.exists(model.name):  # a run artifact of that name: keep both
                model = SourceLoggedModel(model.model_id, f"models/{model.model_id}", model.artifact_location,
                                          model.source_run_id)
            target.log_dir(model_dir, model.name)
            self.model_paths[model.model_id] = (new_id, model.name)

    def _registry(self) -> None:
        for rm in self.src.registered_models():
            try:
                existing = self.store.get_registered_model(rm.name)
            except ShipyardError:
                existing = None
            if existing is None:
                self.store.create_registered_model(rm.name, tags=rm.tags, description=rm.description)
                self.summary.models += 1
            done: dict[int, int] = {}  # MLflow version -> shipyard version
            token: str | None = None
            while True:
                page = self.store.search_model_versions(name=rm.name, max_results=1000, page_token=token)
                for mv in page:
                    if VERSION_TAG in mv.tags:
                        done[int(mv.tags[VERSION_TAG])] = mv.version
                token = page.token
                if not token:
                    break
            for version in rm.versions:
                if version.version in done:
                    continue
                source, run_id = self._version_source(version)
                if source is None:
                    self.summary.skipped.append((f"model {rm.name} version {version.version}",
                                                 f"its source {version.source!r} was not imported"))
                    continue
                tags = dict(version.tags)
                tags[VERSION_TAG] = str(version.version)
                if version.current_stage not in ("None", ""):
                    tags["mlflow.stage"] = version.current_stage  # shipyard uses aliases, not stages
                mv = self.store.create_model_version(rm.name, source, run_id, tags, version.description)
                done[version.version] = mv.version
                self.summary.versions += 1
            for alias, version_no in rm.aliases.items():
                mapped = done.get(version_no)
                if mapped is None:
                    self.summary.skipped.append((f"alias {rm.name}@{alias}", f"version {version_no} was not imported"))
                    continue
                try:
                    current = self.store.get_model_version_by_alias(rm.name, alias).version
                except ShipyardError:
                    current = None
                if current != mapped:
                    self.store.set_registered_model_alias(rm.name, alias, mapped, reason="imported from MLflow")
                    self.summary.aliases += 1

    def _version_source(self, version: SourceModelVersion) -> tuple[str | None, str | None]:
        """A ``runs:/`` URI into the imported run for the version's files, and that run's id."""
        src = version.source
        if src.startswith("models:/m-"):
            found = self.model_paths.get(src[len("models:/"):].split("/", 1)[0])
            if found is not None:
                return f"runs:/{found[0]}/{found[1]}", found[0]
        if src.startswith("runs:/"):
            mlflow_run, _, path = src[len("runs:/"):].partition("/")
            new = self.run_map.get(mlflow_run)
            if new is not None:
                return f"runs:/{new}/{path}", new
        if version.run_id and version.run_id in self.run_map:  # a source under the run's artifact folder
            new = self.run_map[version.run_id]
            for model_id, (run_id, path) in self.model_paths.items():
                if run_id == new and model_id in src:
                    return f"runs:/{new}/{path}", new
        return None, None


def _is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file:")
