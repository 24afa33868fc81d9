"""The Store interface: one narrow abstract class per aggregate, their contracts in the docstrings.

``SqlStore`` (SQLite, PostgreSQL) implements it once; a REST implementation speaks the same
interface over HTTP. Every implementation passes the same contract suite (``tests/store``).

Common contract: names and keys are validated before anything is written; a method that raises
leaves the store as it was; ``NotFound`` for an unknown id or name, ``AlreadyExists`` for a
duplicate name, ``InvalidInput`` for malformed arguments, ``Conflict`` for an operation the current
state forbids, ``StoreUnavailable`` when the database fails.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipyard.entities import (
        Alert,
        AliasEvent,
        DatasetInput,
        Deployment,
        DeploymentRevision,
        Experiment,
        FeatureBinding,
        FeatureDefinition,
        FeatureMaterialization,
        Feedback,
        Metric,
        ModelVersion,
        Monitor,
        MonitorResult,
        PagedList,
        Param,
        PipelineInfo,
        PipelineRun,
        PolicyEvent,
        RegisteredModel,
        Rollout,
        Route,
        Run,
        RunInfo,
        RunTag,
        TaskRun,
    )

__all__ = ["AutomationStore", "DeploymentStore", "FeatureRegistryStore", "MonitorStore", "PipelineStore",
           "RegistryStore", "Store", "TrackingStore"]


class TrackingStore(ABC):
    """Experiments, runs, and what runs log (metrics, params, tags, dataset inputs)."""

    # -- experiments
    @abstractmethod
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict[str, str] | None = None
    ) -> str:
        """Create an experiment and return its id. Raises AlreadyExists if the name is taken."""

    @abstractmethod
    def get_experiment(self, experiment_id: str) -> Experiment:
        """Raises NotFound for an unknown id."""

    @abstractmethod
    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment with that name, or None."""

    @abstractmethod
    def search_experiments(
        self, view_type: str = "active", name_like: str | None = None, max_results: int = 1000
    ) -> list[Experiment]:
        """Experiments ordered by creation time (newest first); view_type: active, deleted or all."""

    @abstractmethod
    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Raises NotFound, or AlreadyExists if ``new_name`` is taken."""

    @abstractmethod
    def delete_experiment(self, experiment_id: str) -> None:
        """Soft delete: the experiment and its runs move to lifecycle stage 'deleted'."""

    @abstractmethod
    def restore_experiment(self, experiment_id: str) -> None: ...

    @abstractmethod
    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None: ...

    # -- runs
    @abstractmethod
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
        """Create a RUNNING run. Raises NotFound for an unknown or deleted experiment.

        With ``lease_s`` the run holds a lease for that many seconds (see :meth:`renew_run_lease`);
        without one it never expires (runs created to be logged to by several processes).
        """

    @abstractmethod
    def get_run(self, run_id: str) -> Run:
        """The run with its params, tags, latest metrics and inputs. Raises NotFound."""

    @abstractmethod
    def update_run_info(
        self, run_id: str, status: str | None = None, end_time: int | None = None, run_name: str | None = None
    ) -> RunInfo:
        """Change status, end time or name. Raises NotFound, or InvalidInput for an unknown status."""

    @abstractmethod
    def delete_run(self, run_id: str) -> None: ...

    @abstractmethod
    def restore_run(self, run_id: str) -> None: ...

    @abstractmethod
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        *,
        batch_id: str | None = None,
    ) -> None:
        """Write metrics, params and tags in one transaction: all of them or none.

        Params are write-once: logging a different value for a logged key raises InvalidInput;
        the same value again is a no-op. Tags overwrite. NaN and ±inf metric values are kept.
        Raises NotFound for an unknown run and InvalidInput for a bad key or value.

        ``batch_id`` (up to 64 letters, digits, ``-`` and ``_``; a uuid4 hex is the usual choice)
        makes the call idempotent: the id is recorded in the batch's own transaction, and a batch
        whose id was applied in the last day is not written again (the call returns as if it had
        been). A client that resends a batch whose answer it never saw so stores it exactly once.
        """

    @abstractmethod
    def end_run(
        self,
        run_id: str,
        status: str,
        end_time: int,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        *,
        batch_id: str | None = None,
    ) -> RunInfo:
        """Write a last batch and the run's status and end time in one transaction.

        Same rules as :meth:`log_batch` (a replayed ``batch_id`` sets the status and end again but
        writes no second copy of the batch); releases the run's lease; raises NotFound for an
        unknown run.
        """

    @abstractmethod
    def renew_run_lease(self, run_id: str, lease_s: float) -> bool:
        """Extend the run's lease to ``lease_s`` seconds from now (the store's clock): the heartbeat
        of the process running it. True while the run is RUNNING; a run the reaper marked FAILED
        because its lease ran out goes back to RUNNING (its client was only cut off); any other
        ended run is left as it is and False returned. Raises NotFound for an unknown run and
        InvalidInput for ``lease_s`` outside 1 s .. 7 days.
        """

    @abstractmethod
    def delete_tag(self, run_id: str, key: str) -> None:
        """Raises NotFound if the run or the tag does not exist."""

    @abstractmethod
    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point logged for the key, by step then timestamp. Raises NotFound for the run."""

    @abstractmethod
    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        view_type: str = "active",
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        """Runs matching the filter (see ``shipyard.store.filter``), a page at a time.

        Default order: newest start time first. Raises FilterSyntaxError for a malformed filter
        or order-by clause, InvalidInput for a bad page token or max_results out of 1..50,000.
        """

    @abstractmethod
    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        """Record datasets the run used; a dataset (experiment, name, digest) is stored once."""


class RegistryStore(ABC):
    """Registered models, their versions, tags and aliases."""

    @abstractmethod
    def create_registered_model(
        self, name: str, tags: dict[str, str] | None = None, description: str = ""
    ) -> RegisteredModel:
        """Raises AlreadyExists if the name is taken, InvalidInput for a bad name."""

    @abstractmethod
    def get_registered_model(self, name: str) -> RegisteredModel:
        """With tags, aliases and the latest version. Raises NotFound."""

    @abstractmethod
    def update_registered_model(self, name: str, description: str) -> RegisteredModel: ...

    @abstractmethod
    def delete_registered_model(self, name: str) -> None:
        """Delete the model and all its versions. Raises Conflict while any alias is set."""

    @abstractmethod
    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename a model with its versions, tags, aliases and alias history, in one transaction.
        Raises NotFound, AlreadyExists if ``new_name`` is taken, and Conflict while any revision of a
        deployment routes to the model (a rollback would route to a name that no longer exists)."""

    @abstractmethod
    def search_registered_models(
        self, name_like: str | None = None, max_results: int = 100, page_token: str | None = None
    ) -> PagedList[RegisteredModel]:
        """Models by name (``name_like`` is a SQL LIKE pattern)."""

    @abstractmethod
    def set_registered_model_tag(self, name: str, key: str, value: str) -> None: ...

    @abstractmethod
    def delete_registered_model_tag(self, name: str, key: str) -> None: ...

    @abstractmethod
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        description: str = "",
    ) -> ModelVersion:
        """Add the next version (1, 2, 3 ...) of a model, creating the model if needed.

        Race-safe: concurrent calls from several processes get distinct, consecutive versions.
        """

    @abstractmethod
    def get_model_version(self, name: str, version: int) -> ModelVersion:
        """Raises NotFound for an unknown model or version."""

    @abstractmethod
    def update_model_version(
        self, name: str, version: int, description: str | None = None, archived: bool | None = None
    ) -> ModelVersion:
        """Change the description or archive a version. Archiving raises Conflict while an alias
        points to the version."""

    @abstractmethod
    def delete_model_version(self, name: str, version: int) -> None:
        """Raises Conflict while an alias points to the version."""

    @abstractmethod
    def search_model_versions(
        self,
        name: str | None = None,
        run_id: str | None = None,
        include_archived: bool = True,
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        """Versions newest first, optionally of one model or one run."""

    @abstractmethod
    def set_model_version_tag(self, name: str, version: int, key: str, value: str) -> None: ...

    @abstractmethod
    def delete_model_version_tag(self, name: str, version: int, key: str) -> None: ...

    @abstractmethod
    def set_registered_model_alias(self, name: str, alias: str, version: int, reason: str = "") -> None:
        """Point the alias at the version (moving it if set). Raises NotFound for a missing
        version, InvalidInput for a bad alias name (a bare number, or 'latest'), Conflict for an
        archived version. Every move is recorded in the alias history."""

    @abstractmethod
    def delete_registered_model_alias(self, name: str, alias: str, reason: str = "") -> None:
        """Raises NotFound if the alias is not set."""

    @abstractmethod
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """Raises NotFound if the model or the alias does not exist."""

    @abstractmethod
    def get_alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        """Every move of the model's aliases (or one alias), oldest first."""


class DeploymentStore(ABC):
    """Deployments (named endpoints whose configuration is a history of immutable revisions) and the
    ground-truth feedback their predictions receive."""

    @abstractmethod
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
        """Create a deployment at revision 1. Routes name existing model versions (NotFound
        otherwise); weights are >= 0 and not all 0 (InvalidInput). Raises AlreadyExists.
        ``features`` (optional) serves it with features looked up by entity key: its references
        name stored feature views and features (NotFound / InvalidInput otherwise); empty entity
        keys are filled in from the views' join keys."""

    @abstractmethod
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
        """Write a new revision (unspecified parts copied from the current one) and make it current.
        ``no_features`` drops the current feature binding (requests carry the model's input again)."""

    @abstractmethod
    def rollback_deployment(self, name: str, created_by: str = "", reason: str = "",
                            force: bool = False) -> Deployment:
        """Make the previous revision current again by writing a new revision that copies it, so the
        history stays complete. Raises Conflict when there is no previous revision, and, unless
        ``force``, when that revision routes traffic to a candidate an automatic rollout rolled back
        (see :mod:`shipyard.store.rollback`)."""

    @abstractmethod
    def get_deployment(self, name: str) -> Deployment:
        """Raises NotFound."""

    @abstractmethod
    def list_deployments(self) -> list[Deployment]: ...

    @abstractmethod
    def list_deployment_revisions(self, name: str) -> list[DeploymentRevision]:
        """Every revision, newest first. Raises NotFound for an unknown deployment."""

    @abstractmethod
    def delete_deployment(self, name: str) -> None: ...

    @abstractmethod
    def log_feedback(self, deployment: str, feedback: Sequence[Feedback]) -> int:
        """Store ground-truth labels by request id (a later label for the same id replaces the
        earlier one); returns how many were stored. Raises NotFound for an unknown deployment."""

    @abstractmethod
    def get_feedback(
        self, deployment: str, request_ids: Sequence[str] | None = None, start: int | None = None,
        end: int | None = None,
    ) -> list[Feedback]:
        """Labels of a deployment, optionally for given request ids or a time window [start, end)."""


class PipelineStore(ABC):
    """Pipeline runs, their task runs, and claimed schedule ticks.

    Task runs are written in batches (:meth:`write_task_runs`, :meth:`finish_pipeline_run`): an
    executor records a thousand fast tasks in a few transactions, not a thousand.
    """

    @abstractmethod
    def create_pipeline_run(
        self, pipeline: str, params: dict[str, object], trigger: str = "manual", logical_date: int | None = None,
        state: str = "RUNNING",
    ) -> PipelineRun:
        """A new run (state RUNNING, or PENDING to queue it). Raises InvalidInput for a bad name,
        state or parameters that are not JSON-serializable."""

    @abstractmethod
    def get_pipeline_run(self, run_id: str) -> PipelineRun:
        """The run with its task runs (ordered by start). Raises NotFound for an unknown id."""

    @abstractmethod
    def list_pipeline_runs(
        self, pipeline: str | None = None, states: Sequence[str] | None = None, max_results: int = 100
    ) -> list[PipelineRun]:
        """Newest first, without task runs."""

    @abstractmethod
    def write_task_runs(self, run_id: str, task_runs: Sequence[TaskRun]) -> None:
        """Insert or replace task runs by (run_id, key), all in one transaction. Raises NotFound for
        an unknown run, InvalidInput for an unknown state."""

    @abstractmethod
    def finish_pipeline_run(
        self, run_id: str, state: str, task_runs: Sequence[TaskRun] = (), error: str | None = None,
        end_time: int | None = None,
    ) -> None:
        """Write the last task runs and the final state together. Raises Conflict if the run is
        finished already."""

    @abstractmethod
    def request_cancel(self, run_id: str) -> PipelineRun:
        """A PENDING run becomes CANCELLED at once; a RUNNING run gets ``cancel_requested`` and its
        executor stops it. Raises Conflict for a finished run."""

    @abstractmethod
    def renew_pipeline_lease(self, run_id: str, lease_s: float) -> bool:
        """The driver's heartbeat: the RUNNING run is held ``lease_s`` seconds more. False when the
        run is not RUNNING any more (ended from outside, or expired): its driver should stop."""

    @abstractmethod
    def expire_pipeline_runs(self) -> list[str]:
        """Mark FAILED every RUNNING pipeline run whose lease passed (its driver is gone), with its
        unfinished task runs; the run ids. Safe to call from any number of schedulers at once."""

    @abstractmethod
    def claim_pending_run(self, pipelines: Sequence[str] | None = None) -> PipelineRun | None:
        """Move the oldest PENDING run (of these pipelines) to RUNNING and return it; each queued
        run is handed to exactly one caller, however many ask at once. None if none is queued."""

    @abstractmethod
    def find_cached_task_run(self, task_name: str, cache_key: str, since: int | None = None) -> TaskRun | None:
        """The newest SUCCEEDED or CACHED task run of ``task_name`` with this cache key and a stored
        output, ended at or after ``since`` (ms); None when there is none."""

    @abstractmethod
    def claim_tick(self, name: str, tick_time: int, owner: str) -> bool:
        """Claim tick ``tick_time`` (ms) of the schedule ``name``: True for exactly one caller across
        processes and hosts, False for every other."""

    @abstractmethod
    def last_tick(self, name: str) -> int | None:
        """The latest claimed tick of ``name``, or None."""

    @abstractmethod
    def prune_ticks(self, before: int) -> int:
        """Delete claimed ticks older than ``before`` (ms), except each schedule's latest (so
        :meth:`last_tick` keeps its answer and no pruned tick can be claimed again); the number deleted."""

    @abstractmethod
    def announce_pipelines(self, pipelines: Sequence[PipelineInfo]) -> None:
        """A scheduler's word that it serves these scheduled pipelines: each is inserted or replaced by
        name, with ``seen_time`` now. Raises InvalidInput for a bad name or an empty schedule."""

    @abstractmethod
    def list_pipelines(self) -> list[PipelineInfo]:
        """The pipelines schedulers announced, by name (a pipeline no scheduler serves any more keeps
        its row; its ``seen_time`` tells)."""


class MonitorStore(ABC):
    """Monitors, the time series of their results, and their alerts (incidents).

    At most one alert is OPEN per (monitor, check, model, version): :meth:`open_alert` is a
    get-or-create, so two processes running the same monitor open one incident, not two.
    """

    @abstractmethod
    def create_monitor(self, name: str, deployment: str, spec: dict[str, object], description: str = "") -> Monitor:
        """Raises AlreadyExists, NotFound for an unknown deployment, InvalidInput for a bad name or a
        spec that is not JSON-serializable."""

    @abstractmethod
    def update_monitor(self, name: str, spec: dict[str, object] | None = None,
                       description: str | None = None) -> Monitor:
        """Replace the spec and/or description. Raises NotFound."""

    @abstractmethod
    def get_monitor(self, name: str) -> Monitor:
        """Raises NotFound."""

    @abstractmethod
    def list_monitors(self, deployment: str | None = None) -> list[Monitor]:
        """By name."""

    @abstractmethod
    def delete_monitor(self, name: str) -> None:
        """The monitor with its results and alerts. Raises NotFound."""

    @abstractmethod
    def log_monitor_results(self, results: Sequence[MonitorResult]) -> list[MonitorResult]:
        """Store results (one per model version of a run) in one transaction; returns them with ids.
        Raises NotFound for an unknown monitor."""

    @abstractmethod
    def list_monitor_results(
        self, name: str, model: str | None = None, version: int | None = None, since: int | None = None,
        until: int | None = None, max_results: int = 1000,
    ) -> list[MonitorResult]:
        """The newest ``max_results`` results in [since, until), returned oldest first (a time series).
        Raises NotFound for an unknown monitor."""

    @abstractmethod
    def open_alert(self, alert: Alert) -> tuple[Alert, bool]:
        """The OPEN alert of ``alert``'s (monitor, check, model, version) if there is one, else ``alert``
        stored as OPEN with a new id; the flag says whether it was created now."""

    @abstractmethod
    def resolve_alert(self, alert_id: str, resolved_time: int, message: str = "") -> Alert:
        """Mark an OPEN alert RESOLVED. Raises NotFound, Conflict if it is resolved already."""

    @abstractmethod
    def add_alert_delivery(self, alert_id: str, delivery: dict[str, object]) -> None:
        """Append a delivery record (channel, event, ok, attempts, error). Raises NotFound."""

    @abstractmethod
    def list_alerts(self, monitor: str | None = None, state: str | None = None, max_results: int = 100) -> list[Alert]:
        """Newest first."""


class AutomationStore(ABC):
    """The automation's memory: every policy event, and the progressive rollouts (their state is
    what lets any scheduler resume a rollout after a restart)."""

    @abstractmethod
    def add_policy_event(self, event: PolicyEvent) -> PolicyEvent:
        """Store an event (id and time filled in when empty; ``policy`` empty for a rollout started by
        hand). Raises InvalidInput for a bad kind or data that is not JSON-serializable."""

    @abstractmethod
    def list_policy_events(self, policy: str | None = None, deployment: str | None = None,
                           kinds: Sequence[str] | None = None, since: int | None = None,
                           max_results: int = 100) -> list[PolicyEvent]:
        """Newest first."""

    @abstractmethod
    def create_rollout(self, rollout: Rollout) -> Rollout:
        """Store a RUNNING rollout (id filled in when empty). Raises Conflict if the deployment has a
        running rollout already, NotFound for an unknown deployment."""

    @abstractmethod
    def get_rollout(self, rollout_id: str) -> Rollout:
        """Raises NotFound."""

    @abstractmethod
    def get_active_rollout(self, deployment: str) -> Rollout | None:
        """The RUNNING rollout of ``deployment``, or None."""

    @abstractmethod
    def list_rollouts(self, deployment: str | None = None, state: str | None = None,
                      max_results: int = 100) -> list[Rollout]:
        """Newest first."""

    @abstractmethod
    def update_rollout(self, rollout_id: str, expected_step: int, *, step: int | None = None,
                       state: str | None = None, step_started_time: int | None = None,
                       reason: str | None = None, event: PolicyEvent | None = None) -> Rollout:
        """Compare-and-set: apply the changes only if the rollout is RUNNING at ``expected_step``;
        raises Conflict otherwise (another process moved it first). A final state (PROMOTED,
        ROLLED_BACK) frees the deployment for the next rollout. ``event`` is stored in the same
        transaction, so a step is never taken without its record (or recorded without being taken)."""


class FeatureRegistryStore(ABC):
    """Versioned feature-store definitions (entities, feature views, on-demand views) and the record
    of materializations into online stores. ``kind`` is ``entity``, ``feature_view``,
    ``on_demand_feature_view`` or ``materialization_schedule`` (a view's scheduled materialization,
    named after the view); names are unique per kind."""

    @abstractmethod
    def apply_feature_definition(self, kind: str, name: str, spec: dict[str, object],
                                 description: str = "") -> FeatureDefinition:
        """Store ``spec`` as the next version of ``kind``/``name`` unless it equals the latest version's
        spec, which is then returned unchanged. Raises InvalidInput for a bad kind or name."""

    @abstractmethod
    def get_feature_definition(self, kind: str, name: str, version: int | None = None) -> FeatureDefinition:
        """That version (default the latest). Raises NotFound."""

    @abstractmethod
    def list_feature_definitions(self, kind: str | None = None, name: str | None = None,
                                 all_versions: bool = False) -> list[FeatureDefinition]:
        """The latest version of each definition (every version with ``all_versions``), by kind and name."""

    @abstractmethod
    def log_feature_materialization(self, feature_view: str, version: int, online_store: str, start_time: int,
                                    end_time: int, rows: int) -> FeatureMaterialization:
        """Record that rows of ``feature_view`` known in (start_time, end_time] reached ``online_store``."""

    @abstractmethod
    def list_feature_materializations(self, feature_view: str | None = None, online_store: str | None = None,
                                      max_results: int = 100) -> list[FeatureMaterialization]:
        """Materializations, latest ``end_time`` first."""


class Store(TrackingStore, RegistryStore, DeploymentStore, PipelineStore, MonitorStore, AutomationStore,
            FeatureRegistryStore):
    """Everything a shipyard deployment persists."""

    uri: str
    artifact_root: str

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
