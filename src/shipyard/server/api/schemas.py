"""The entities as pydantic models: what the API's OpenAPI spec says every body and answer looks like.

They mirror :mod:`shipyard.entities` field for field, in the encoding of :mod:`shipyard.store._wire`
(non-finite floats as ``"NaN"``, ``"Infinity"``, ``"-Infinity"``). Request bodies are validated
against them (unknown fields refused); answers are encoded by ``_wire`` and documented by them, and
the schemathesis tests check that the two agree.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Alert",
    "AliasEvent",
    "CheckResult",
    "DatasetInput",
    "Deployment",
    "DeploymentRevision",
    "ErrorBody",
    "Experiment",
    "FeatureBinding",
    "Feedback",
    "FileInfo",
    "Int32",
    "Int64",
    "MaxResults",
    "Metric",
    "ModelVersion",
    "Monitor",
    "MonitorResult",
    "Param",
    "PipelineInfo",
    "PipelineRun",
    "PolicyEvent",
    "RegisteredModel",
    "Rollout",
    "Route",
    "Run",
    "RunData",
    "RunInfo",
    "RunInputs",
    "RunTag",
    "TaskRun",
    "Wire",
    "WireFloat",
]

Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
WireFloat = float | Literal["NaN", "Infinity", "-Infinity"]
#: How many results a listing may ask for (each store also applies its own, stricter limits).
MaxResults = Annotated[int, Field(ge=0, le=1_000_000)]


class Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(Wire):
    """Every error answer: a stable code (the same as the exception's) and a message for people."""

    error_code: str = Field(examples=["RESOURCE_DOES_NOT_EXIST"])
    message: str


# -- tracking


class Metric(Wire):
    key: str
    value: WireFloat
    timestamp: Int64
    step: Int64 = 0


class Param(Wire):
    key: str
    value: str


class RunTag(Wire):
    key: str
    value: str


class Experiment(Wire):
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str = "active"
    tags: dict[str, str] = {}
    creation_time: Int64 = 0
    last_update_time: Int64 = 0


class RunInfo(Wire):
    run_id: str
    experiment_id: str
    run_name: str
    status: str
    start_time: Int64
    end_time: Int64 | None
    artifact_uri: str
    lifecycle_stage: str = "active"
    user_id: str = ""
    parent_run_id: str | None = None


class RunData(Wire):
    metrics: dict[str, WireFloat] = {}
    params: dict[str, str] = {}
    tags: dict[str, str] = {}


class DatasetInput(Wire):
    name: str
    digest: str
    context: str = ""
    source: str = ""
    num_rows: Int64 = 0
    schema_: list[dict[str, Any]] = Field(default=[], alias="schema")
    profile: dict[str, Any] | None = None
    targets: str | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RunInputs(Wire):
    datasets: list[DatasetInput] = []


class Run(Wire):
    info: RunInfo
    data: RunData
    inputs: RunInputs = RunInputs()


# -- registry


class ModelVersion(Wire):
    name: str
    version: Int32
    source: str
    run_id: str | None
    creation_timestamp: Int64
    last_updated_timestamp: Int64
    description: str = ""
    status: str = "READY"
    tags: dict[str, str] = {}
    aliases: list[str] = []
    archived: bool = False
    digest: str | None = None


class RegisteredModel(Wire):
    name: str
    creation_timestamp: Int64
    last_updated_timestamp: Int64
    description: str = ""
    tags: dict[str, str] = {}
    aliases: dict[str, Int32] = {}
    latest_versions: list[ModelVersion] = []


class AliasEvent(Wire):
    name: str
    alias: str
    version: Int32 | None
    previous_version: Int32 | None
    timestamp: Int64
    reason: str = ""


# -- deployments


class Route(Wire):
    model: str
    version: Int32
    weight: WireFloat = 100.0
    alias: str | None = None


class FeatureBinding(Wire):
    features: list[str]
    entity_keys: list[str] = []
    on_missing: Literal["error", "default"] = "error"
    defaults: dict[str, WireFloat] = {}
    online_store: str | None = None


class DeploymentRevision(Wire):
    deployment: str
    revision: Int32
    routes: list[Route]
    shadow: list[Route] = []
    batching: dict[str, Int64] = {}
    created_time: Int64 = 0
    created_by: str = ""
    reason: str = ""
    rollback_of: Int32 | None = None
    features: FeatureBinding | None = None


class Deployment(Wire):
    name: str
    current: DeploymentRevision
    created_time: Int64
    updated_time: Int64
    description: str = ""


class Feedback(Wire):
    deployment: str
    request_id: str
    label: Any
    timestamp: Int64


# -- pipelines


class TaskRun(Wire):
    run_id: str
    key: str
    task_name: str
    state: str = "PENDING"
    attempts: Int32 = 0
    start_time: Int64 | None = None
    end_time: Int64 | None = None
    error: str | None = None
    error_kind: str | None = None
    traceback: str | None = None
    logs: str = ""
    cache_key: str | None = None
    output_uri: str | None = None
    tracking_run_id: str | None = None
    upstream: list[str] = []


class PipelineInfo(Wire):
    name: str
    schedule: str
    timezone: str = "UTC"
    parameters: list[str] = []
    max_active_runs: Int32 = 1
    description: str = ""
    owner: str = ""
    seen_time: Int64 = 0


class PipelineRun(Wire):
    run_id: str
    pipeline: str
    state: str
    params: dict[str, Any]
    created_time: Int64
    trigger: str = "manual"
    logical_date: Int64 | None = None
    start_time: Int64 | None = None
    end_time: Int64 | None = None
    cancel_requested: bool = False
    error: str | None = None
    task_runs: list[TaskRun] = []


# -- monitoring


class Monitor(Wire):
    name: str
    deployment: str
    spec: dict[str, Any]
    created_time: Int64 = 0
    updated_time: Int64 = 0
    description: str = ""


class CheckResult(Wire):
    check: str
    metric: str
    value: WireFloat | None
    threshold: WireFloat | None = None
    op: Literal["min", "max"] | None = None
    passed: bool | None = None
    reason: str | None = None
    test: str | None = None
    statistic: WireFloat | None = None
    detail: dict[str, Any] = {}


class MonitorResult(Wire):
    monitor: str
    run_time: Int64
    model: str
    version: Int32
    status: str
    rows: Int64 = 0
    labeled_rows: Int64 = 0
    window_start: Int64 | None = None
    window_end: Int64 | None = None
    checks: list[CheckResult] = []
    features: list[dict[str, Any]] = []
    result_id: str = ""


class Alert(Wire):
    alert_id: str
    monitor: str
    check: str
    model: str
    version: Int32
    state: str
    opened_time: Int64
    value: WireFloat | None = None
    threshold: WireFloat | None = None
    message: str = ""
    resolved_time: Int64 | None = None
    resolved_message: str = ""
    deliveries: list[dict[str, Any]] = []


# -- automation


class PolicyEvent(Wire):
    policy: str
    deployment: str
    kind: str
    message: str = ""
    data: dict[str, Any] = {}
    time: Int64 = 0
    event_id: str = ""


class Rollout(Wire):
    rollout_id: str
    deployment: str
    model: str
    candidate_version: Int32
    stable_version: Int32 | None
    steps: list[WireFloat]
    dwell_ms: Int64
    criteria: dict[str, Any]
    state: str = "RUNNING"
    step: Int32 = 0
    policy: str | None = None
    started_time: Int64 = 0
    step_started_time: Int64 = 0
    updated_time: Int64 = 0
    finished_time: Int64 | None = None
    reason: str = ""


# -- artifacts


class FileInfo(Wire):
    path: str
    is_dir: bool
    size: Int64 | None = None
