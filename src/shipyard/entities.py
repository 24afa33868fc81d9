"""Plain dataclasses of the domain, shaped like MLflow's so that code ports by changing the import.

``run.info.run_id``, ``run.info.status``, ``run.data.params``, ``run.data.metrics`` and
``model_version.version`` read the same as in MLflow. Times are integer milliseconds since the
epoch (UTC). Entities are values: the store builds them, nothing mutates them afterwards.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = [
    "STAGES",
    "STAGE_TAG",
    "AliasEvent",
    "CheckResult",
    "DatasetInput",
    "Deployment",
    "DeploymentRevision",
    "Experiment",
    "FeatureBinding",
    "FeatureDefinition",
    "FeatureMaterialization",
    "Feedback",
    "LifecycleStage",
    "Metric",
    "ModelVersion",
    "PagedList",
    "Param",
    "RegisteredModel",
    "Route",
    "Run",
    "RunData",
    "RunInfo",
    "RunInputs",
    "RunStatus",
    "RunTag",
    "ViewType",
]

T = TypeVar("T")

#: The model-version tag holding MLflow's stage (``transition_model_version_stage``). Not under
#: ``shipyard.``: moving a stage is a writer's operation, like moving an alias, and nothing that
#: serves traffic reads it (deployments name versions or aliases).
STAGE_TAG = "mlflow.current_stage"
STAGES = ("None", "Staging", "Production", "Archived")


class RunStatus(enum.StrEnum):
    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminated(self) -> bool:
        return self in (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED)


class LifecycleStage(enum.StrEnum):
    ACTIVE = "active"
    DELETED = "deleted"


class ViewType(enum.StrEnum):
    """Which runs or experiments a search returns; MLflow's names for shipyard's view types."""

    ACTIVE_ONLY = "active"
    DELETED_ONLY = "deleted"
    ALL = "all"


@dataclass(frozen=True, slots=True)
class Metric:
    key: str
    value: float
    timestamp: int
    step: int = 0


@dataclass(frozen=True, slots=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class RunTag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str = LifecycleStage.ACTIVE.value
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int = 0
    last_update_time: int = 0


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    status: str
    start_time: int
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str = LifecycleStage.ACTIVE.value
    user_id: str = ""
    parent_run_id: str | None = None

    @property
    def run_uuid(self) -> str:  # MLflow's older name
        return self.run_id


@dataclass(frozen=True, slots=True)
class RunData:
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DatasetInput:
    """A dataset a run used: its identity (digest), shape and a profile of its columns."""

    name: str
    digest: str
    context: str = ""
    source: str = ""
    num_rows: int = 0
    schema: list[dict[str, Any]] = field(default_factory=list)
    profile: dict[str, Any] | None = None
    targets: str | None = None


@dataclass(frozen=True, slots=True)
class RunInputs:
    datasets: list[DatasetInput] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Run:
    info: RunInfo
    data: RunData
    inputs: RunInputs = field(default_factory=RunInputs)


@dataclass(frozen=True, slots=True)
class ModelVersion:
    name: str
    version: int
    source: str
    run_id: str | None
    creation_timestamp: int
    last_updated_timestamp: int
    description: str = ""
    status: str = "READY"
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    archived: bool = False
    #: SHA-256 of the model's manifest, recorded once at registration: loading checks the files against it.
    digest: str | None = None

    @property
    def current_stage(self) -> str:
        """MLflow's (deprecated) stage: None, Staging, Production or Archived, kept in a version tag."""
        return self.tags.get(STAGE_TAG, "None")


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    latest_versions: list[ModelVersion] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AliasEvent:
    """One move of a model alias: to ``version`` (None = deleted) from ``previous_version``."""

    name: str
    alias: str
    version: int | None
    previous_version: int | None
    timestamp: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Route:
    """One model version a deployment sends traffic to; ``alias`` records what it was resolved from."""

    model: str
    version: int
    weight: float = 100.0
    alias: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"model": self.model, "version": self.version, "weight": self.weight, "alias": self.alias}


#: What serving does for an entity the online store has no row for.
ON_MISSING = ("error", "default")


@dataclass(frozen=True, slots=True)
class FeatureBinding:
    """The features a deployment is served with: requests carry only the entity keys (and the
    request values of on-demand features); serving looks the features up in the online store.

    ``features``: feature references (``"view:feature"``), the model's input columns named by the
    feature names. ``entity_keys``: the join keys a request carries (the store fills them from the
    views when empty). ``on_missing``: ``"error"`` answers 404 naming the missing entity keys;
    ``"default"`` serves ``defaults[feature]`` (NaN where not given) for the features of a view
    that has no row for the entity. ``online_store``: its URI (``sqlite:///...``,
    ``redis://...``); None is the feature store's default (``online_features.db`` in the serving
    process's shipyard home).
    """

    features: list[str]
    entity_keys: list[str] = field(default_factory=list)
    on_missing: str = "error"
    defaults: dict[str, float] = field(default_factory=dict)
    online_store: str | None = None

    @property
    def feature_names(self) -> list[str]:
        """The column each reference gives (``trips:trips_1h`` -> ``trips_1h``)."""
        return [ref.split(":", 1)[-1] for ref in self.features]


@dataclass(frozen=True, slots=True)
class DeploymentRevision:
    """An immutable configuration of a deployment; creating one makes it current."""

    deployment: str
    revision: int
    routes: list[Route]
    shadow: list[Route] = field(default_factory=list)
    batching: dict[str, int] = field(default_factory=dict)
    created_time: int = 0
    created_by: str = ""
    reason: str = ""
    rollback_of: int | None = None  # the revision this one copies, for a rollback
    features: FeatureBinding | None = None  # served with features looked up by entity key


@dataclass(frozen=True, slots=True)
class Deployment:
    name: str
    current: DeploymentRevision
    created_time: int
    updated_time: int
    description: str = ""

    @property
    def revision(self) -> int:
        return self.current.revision

    @property
    def features(self) -> FeatureBinding | None:
        """The current revision's feature binding (None: requests carry the model's input)."""
        return self.current.features


@dataclass(frozen=True, slots=True)
class Feedback:
    """A ground-truth label for one answered prediction, by request id."""

    deployment: str
    request_id: str
    label: object
    timestamp: int


class PagedList(list[T], Generic[T]):
    """A list of results plus the token for the next page (``None`` on the last page)."""

    def __init__(self, items: list[T], token: str | None = None) -> None:
        super().__init__(items)
        self.token = token


# -- pipelines ------------------------------------------------------------------------------------

PIPELINE_STATES = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED")
TASK_STATES = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "SKIPPED", "CACHED", "TIMED_OUT", "CANCELLED")
FINISHED_TASK_STATES = frozenset({"SUCCEEDED", "FAILED", "SKIPPED", "CACHED", "TIMED_OUT", "CANCELLED"})


@dataclass(slots=True)
class TaskRun:
    """One task of one pipeline run. ``key`` is unique in the run (``train``, ``train[2]``).

    ``error_kind`` tells a user's bug ("user") from a timeout ("timeout") or shipyard's own failure
    ("shipyard"); ``traceback`` is the user's traceback, without shipyard's frames.
    """

    run_id: str
    key: str
    task_name: str
    state: str = "PENDING"
    attempts: int = 0
    start_time: int | None = None
    end_time: int | None = None
    error: str | None = None
    error_kind: str | None = None
    traceback: str | None = None
    logs: str = ""
    cache_key: str | None = None
    output_uri: str | None = None
    tracking_run_id: str | None = None
    # The keys of the tasks this one waited for (its DAG edges), as the run's driver built them; empty
    # for a task without upstream tasks and for task runs recorded before migration 0011.
    upstream: list[str] = field(default_factory=list)

    @property
    def duration_ms(self) -> int | None:
        return None if self.start_time is None or self.end_time is None else self.end_time - self.start_time


@dataclass(slots=True)
class PipelineRun:
    """One run of a pipeline: its parameters, where it came from (manual, submit, schedule), its state."""

    run_id: str
    pipeline: str
    state: str
    params: dict[str, object]
    created_time: int
    trigger: str = "manual"
    logical_date: int | None = None
    start_time: int | None = None
    end_time: int | None = None
    cancel_requested: bool = False
    error: str | None = None
    task_runs: list[TaskRun] = field(default_factory=list)

    def task(self, key: str) -> TaskRun:
        for task_run in self.task_runs:
            if task_run.key == key:
                return task_run
        raise KeyError(f"pipeline run {self.run_id} has no task {key!r}")


@dataclass(slots=True)
class PipelineInfo:
    """A scheduled pipeline as the scheduler serving it announced it to the store, so the server (which
    never imports the pipelines' code) can show its schedule and next run and queue a run of it.

    ``schedule`` is the spec as written (``@daily``, ``every 15m``, a cron expression) in ``timezone``;
    ``parameters`` are the function's parameter names; ``seen_time`` is when a scheduler last
    announced it (ms), which says whether a queued run will be started soon.
    """

    name: str
    schedule: str
    timezone: str = "UTC"
    parameters: list[str] = field(default_factory=list)
    max_active_runs: int = 1
    description: str = ""
    owner: str = ""
    seen_time: int = 0


# -- monitoring -----------------------------------------------------------------------------------

ALERT_STATES = ("OPEN", "RESOLVED")


@dataclass(frozen=True, slots=True)
class Monitor:
    """A monitor of one deployment. ``spec`` is its configuration as JSON-able data (window,
    reference, checks, thresholds, channels, schedule), validated by ``shipyard.monitoring``."""

    name: str
    deployment: str
    spec: dict[str, Any]
    created_time: int = 0
    updated_time: int = 0
    description: str = ""


_CHECK_FIELDS = ("check", "metric", "value", "threshold", "op", "passed", "reason", "test", "statistic")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check of one monitor run on one model version.

    ``value`` is what ``metric`` measured (a drift share, a p-value, a distance, a metric from
    feedback, an error rate) and ``test`` the drift test that produced it (None for checks that are
    not tests). When ``value`` is a p-value, ``statistic`` holds the test's statistic. ``passed`` is
    True (``value`` on the good side of ``threshold``, the bound itself included), False (an alert)
    or None: the check could not decide (too few rows, no feedback, a test that cannot decide from
    what is stored, or a metric recorded without a threshold); ``reason`` says why. ``op`` is "min"
    (the value must be at least the threshold) or "max" (at most). ``detail`` holds what only some
    checks have (``drifted`` columns, the worst ``column``, per-column ``columns`` shares, a plotting
    ``histogram``, ``errors``). Stored as one flat JSON object: the fields, then ``detail``'s keys.
    """

    check: str
    metric: str
    value: float | None
    threshold: float | None = None
    op: str | None = None
    passed: bool | None = None
    reason: str | None = None
    test: str | None = None
    statistic: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in _CHECK_FIELDS}
        out.update(self.detail)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        """Reads what :meth:`to_dict` wrote, and the rows stored before this class (the same flat
        shape, where ``test``/``statistic`` sat among the extra keys of prediction drift only)."""
        known = {name: data.get(name) for name in _CHECK_FIELDS}
        statistic = known["statistic"]
        return cls(check=str(known["check"]), metric=str(known["metric"]),
                   value=None if known["value"] is None else float(known["value"]),
                   threshold=None if known["threshold"] is None else float(known["threshold"]),
                   op=known["op"], passed=known["passed"], reason=known["reason"], test=known["test"],
                   statistic=float(statistic) if isinstance(statistic, int | float) else None,
                   detail={k: v for k, v in data.items() if k not in _CHECK_FIELDS})


@dataclass(frozen=True, slots=True)
class MonitorResult:
    """What one run of a monitor found for one model version in one window.

    ``status`` is "ok", "alert" (a check crossed its threshold) or "no_data". ``checks`` holds one
    :class:`CheckResult` per check; ``features`` one drift row per feature (``column``, ``test``,
    ``statistic``, ``p_value``, ...).
    """

    monitor: str
    run_time: int
    model: str
    version: int
    status: str
    rows: int = 0
    labeled_rows: int = 0
    window_start: int | None = None
    window_end: int | None = None
    checks: list[CheckResult] = field(default_factory=list)
    features: list[dict[str, Any]] = field(default_factory=list)
    result_id: str = ""

    def check(self, name: str) -> CheckResult | None:
        """The result of check ``name`` (``"performance.accuracy"``), or None."""
        return next((c for c in self.checks if c.check == name), None)


@dataclass(frozen=True, slots=True)
class Alert:
    """One incident: opened when a check of a monitor crossed its threshold for a model version,
    resolved when it came back. ``deliveries`` records every notice sent for it, per channel."""

    alert_id: str
    monitor: str
    check: str
    model: str
    version: int
    state: str
    opened_time: int
    value: float | None = None
    threshold: float | None = None
    message: str = ""
    resolved_time: int | None = None
    resolved_message: str = ""
    deliveries: list[dict[str, Any]] = field(default_factory=list)


# -- automation -----------------------------------------------------------------------------------

ROLLOUT_STATES = ("RUNNING", "PROMOTED", "ROLLED_BACK")


@dataclass(frozen=True, slots=True)
class PolicyEvent:
    """One step of the automation, kept forever: what happened, why, with the numbers.

    ``kind``: triggered, training_started, training_finished, training_failed, gate_passed,
    gate_rejected, rollout_started, rollout_step, promoted, rolled_back, alias_moved, skipped,
    rollout_refused (a candidate that passed the gate while the deployment had a manual canary).
    """

    policy: str
    deployment: str
    kind: str
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    time: int = 0
    event_id: str = ""


@dataclass(frozen=True, slots=True)
class Rollout:
    """A progressive rollout of ``candidate_version`` of ``model`` on ``deployment``.

    ``steps`` are traffic percentages for the candidate (the last is 100); ``step`` is the index
    of the current one, entered at ``step_started_time``; after ``dwell_ms`` the canary is compared
    with the stable version on ``criteria`` and the rollout advances, promotes or rolls back. The
    row in the store is the rollout's owner: any scheduler resumes it after a restart.
    """

    rollout_id: str
    deployment: str
    model: str
    candidate_version: int
    stable_version: int | None
    steps: list[float]
    dwell_ms: int
    criteria: dict[str, Any]
    state: str = "RUNNING"
    step: int = 0
    policy: str | None = None
    started_time: int = 0
    step_started_time: int = 0
    updated_time: int = 0
    finished_time: int | None = None
    reason: str = ""

    @property
    def percent(self) -> float:
        return self.steps[self.step]


@dataclass(frozen=True, slots=True)
class FeatureDefinition:
    """One version of a feature-store definition (an entity, a feature view or an on-demand view).

    ``spec`` is the definition as JSON-able data; ``digest`` its SHA-256, so applying an unchanged
    definition again keeps its version."""

    kind: str
    name: str
    version: int
    spec: dict[str, Any]
    digest: str
    description: str
    created_time: int


@dataclass(frozen=True, slots=True)
class FeatureMaterialization:
    """One materialization of a feature view into an online store: rows whose knowledge time lies in
    (start_time, end_time], times in milliseconds."""

    materialization_id: str
    feature_view: str
    version: int
    online_store: str
    start_time: int
    end_time: int
    rows: int
    created_time: int
