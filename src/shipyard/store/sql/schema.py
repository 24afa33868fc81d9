"""The SQL schema, written once in SQLAlchemy Core for SQLite and PostgreSQL.

Migrations (``migrations/versions``) create exactly these tables; a test compares the two. The layout
is chosen for size and speed:

- Metric points live in ``metrics`` keyed by an integer ``series_id`` (one series = one run + one
  key, in ``metric_series``), so a point costs a few integers and a float instead of two 32-character
  strings and a wide six-column primary key (MLflow: 237.5 bytes a point, 73 % of it indexes).
- ``metric_series`` also holds the latest value of each series, which is what run listings and
  ``metrics.x > y`` filters read; it is updated once per batch, not once per point.
- NaN is stored as NULL (SQLite turns NaN into NULL anyway); ±inf are stored as such.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(32)
KEY = String(250)
NAME = String(256)

experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", ID, primary_key=True),
    Column("name", NAME, nullable=False, unique=True),
    Column("artifact_location", Text, nullable=False),
    Column("lifecycle_stage", String(16), nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
)

experiment_tags = Table(
    "experiment_tags",
    metadata,
    Column("experiment_id", ID, ForeignKey("experiments.experiment_id", ondelete="CASCADE"), nullable=False),
    Column("key", KEY, nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("experiment_id", "key"),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", ID, primary_key=True),
    Column("experiment_id", ID, ForeignKey("experiments.experiment_id"), nullable=False),
    Column("name", NAME, nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=True),
    Column("artifact_uri", Text, nullable=False),
    Column("lifecycle_stage", String(16), nullable=False),
    Column("user_id", NAME, nullable=False),
    Column("parent_run_id", ID, nullable=True),
    # When the run's client last promised a heartbeat by (migration 0008): a RUNNING run whose lease
    # passed is marked FAILED by the reaper; NULL for runs that hold no lease (and after end_run).
    Column("lease_expires", BigInteger, nullable=True),
    Index(None, "experiment_id", "start_time"),
    Index(None, "status", "lease_expires"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", ID, ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("key", KEY, nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("run_id", "key"),
    Index(None, "key", "value"),
)

run_tags = Table(
    "run_tags",
    metadata,
    Column("run_id", ID, ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("key", KEY, nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("run_id", "key"),
)

metric_series = Table(
    "metric_series",
    metadata,
    Column("series_id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", ID, ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("key", KEY, nullable=False),
    # The latest point (largest step, then largest timestamp): what listings and filters read.
    Column("value", Float, nullable=True),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    UniqueConstraint("run_id", "key"),
    Index(None, "key", "value"),
)

metrics = Table(
    "metrics",
    metadata,
    Column("series_id", Integer, ForeignKey("metric_series.series_id", ondelete="CASCADE"), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("value", Float, nullable=True),
    Index(None, "series_id", "step"),
)

datasets = Table(
    "datasets",
    metadata,
    Column("dataset_id", ID, primary_key=True),
    Column("experiment_id", ID, ForeignKey("experiments.experiment_id"), nullable=False),
    Column("name", NAME, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("source", Text, nullable=False),
    Column("num_rows", BigInteger, nullable=False),
    Column("schema", Text, nullable=False),
    Column("profile", Text, nullable=True),
    UniqueConstraint("experiment_id", "name", "digest"),
)

run_inputs = Table(
    "run_inputs",
    metadata,
    Column("run_id", ID, ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("dataset_id", ID, ForeignKey("datasets.dataset_id"), nullable=False),
    Column("context", String(64), nullable=False),
    Column("targets", Text, nullable=True),
    PrimaryKeyConstraint("run_id", "dataset_id", "context"),
)

registered_models = Table(
    "registered_models",
    metadata,
    Column("name", NAME, primary_key=True),
    Column("description", Text, nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
)

registered_model_tags = Table(
    "registered_model_tags",
    metadata,
    Column("name", NAME, ForeignKey("registered_models.name", ondelete="CASCADE"), nullable=False),
    Column("key", KEY, nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("name", "key"),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("name", NAME, ForeignKey("registered_models.name", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("source", Text, nullable=False),
    Column("run_id", ID, nullable=True),
    Column("description", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("archived", Boolean, nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    # SHA-256 of the model's manifest, written once at registration and never updated: what loading
    # the version checks the files against (a tag could be rewritten by whoever swaps the files).
    Column("digest", String(64), nullable=True),
    PrimaryKeyConstraint("name", "version"),
    Index(None, "run_id"),
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("name", NAME, nullable=False),
    Column("version", Integer, nullable=False),
    Column("key", KEY, nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("name", "version", "key"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("name", NAME, ForeignKey("registered_models.name", ondelete="CASCADE"), nullable=False),
    Column("alias", NAME, nullable=False),
    Column("version", Integer, nullable=False),
    PrimaryKeyConstraint("name", "alias"),
)

# Every move of an alias, so "which version was champion last Tuesday, and who moved it" has an
# answer (MLflow keeps none).
alias_history = Table(
    "alias_history",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("name", NAME, nullable=False),
    Column("alias", NAME, nullable=False),
    Column("version", Integer, nullable=True),  # NULL: the alias was deleted
    Column("previous_version", Integer, nullable=True),
    Column("timestamp", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Index(None, "name", "alias"),
)

# -- deployments (migration 0002)

deployments = Table(
    "deployments",
    metadata,
    Column("name", NAME, primary_key=True),
    Column("description", Text, nullable=False),
    Column("current_revision", Integer, nullable=False),
    Column("created_time", BigInteger, nullable=False),
    Column("updated_time", BigInteger, nullable=False),
)

deployment_revisions = Table(
    "deployment_revisions",
    metadata,
    Column("name", NAME, ForeignKey("deployments.name", ondelete="CASCADE"), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("routes", Text, nullable=False),  # JSON list of routes
    Column("shadow", Text, nullable=False),  # JSON list of routes
    Column("batching", Text, nullable=False),  # JSON object
    Column("created_time", BigInteger, nullable=False),
    Column("created_by", NAME, nullable=False),
    Column("reason", Text, nullable=False),
    Column("rollback_of", Integer, nullable=True),
    PrimaryKeyConstraint("name", "revision"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("deployment", NAME, nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("label", Text, nullable=False),  # JSON value
    Column("timestamp", BigInteger, nullable=False),
    PrimaryKeyConstraint("deployment", "request_id"),
    Index(None, "deployment", "timestamp"),
)

# -- pipelines (migration 0003)

pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("run_id", ID, primary_key=True),
    Column("pipeline", NAME, nullable=False),
    Column("state", String(20), nullable=False),
    Column("params", Text, nullable=False),  # JSON object
    Column("trigger", String(20), nullable=False),
    Column("logical_date", BigInteger, nullable=True),
    Column("created_time", BigInteger, nullable=False),
    Column("start_time", BigInteger, nullable=True),
    Column("end_time", BigInteger, nullable=True),
    Column("cancel_requested", Boolean, nullable=False),
    Column("error", Text, nullable=True),
    # migration 0010: until when the run's driver holds it (ms), renewed by its heartbeat; NULL for a
    # run started before 0010 (never expired; `pipelines cancel --force` ends one left behind).
    Column("lease_expires", BigInteger, nullable=True),
    Index(None, "pipeline", "created_time"),
    Index(None, "state"),
    Index(None, "state", "lease_expires"),
)

task_runs = Table(
    "task_runs",
    metadata,
    Column("run_id", ID, ForeignKey("pipeline_runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("key", NAME, nullable=False),
    Column("task_name", NAME, nullable=False),
    Column("state", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("start_time", BigInteger, nullable=True),
    Column("end_time", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
    Column("error_kind", String(20), nullable=True),
    Column("traceback", Text, nullable=True),
    Column("logs", Text, nullable=False),
    Column("cache_key", String(64), nullable=True),
    Column("output_uri", Text, nullable=True),
    Column("tracking_run_id", ID, nullable=True),
    # migration 0011: JSON list of the keys of the tasks this one waited for (the DAG's edges); NULL
    # for task runs recorded before it.
    Column("upstream", Text, nullable=True),
    PrimaryKeyConstraint("run_id", "key"),
    Index(None, "cache_key"),
)

# migration 0011: the scheduled pipelines a scheduler serves, announced by it at start and every
# minute, so the server (which never imports pipeline code) shows their next run and queues runs.
pipelines = Table(
    "pipelines",
    metadata,
    Column("name", NAME, primary_key=True),
    Column("schedule", String(200), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("parameters", Text, nullable=False),  # JSON list of names
    Column("max_active_runs", Integer, nullable=False),
    Column("description", Text, nullable=False),
    Column("owner", NAME, nullable=False),
    Column("seen_time", BigInteger, nullable=False),
)

# One row per claimed tick of anything due on a schedule (a pipeline, a monitor, a policy): the
# primary key is what makes two schedulers on one store start a tick once.
schedule_ticks = Table(
    "schedule_ticks",
    metadata,
    Column("name", NAME, nullable=False),
    Column("tick_time", BigInteger, nullable=False),
    Column("claimed_time", BigInteger, nullable=False),
    Column("owner", NAME, nullable=False),
    PrimaryKeyConstraint("name", "tick_time"),
)

# -- monitoring (migration 0004)

monitors = Table(
    "monitors",
    metadata,
    Column("name", NAME, primary_key=True),
    Column("deployment", NAME, nullable=False),  # no foreign key: a monitor and its log outlive a deployment
    Column("spec", Text, nullable=False),  # JSON object
    Column("description", Text, nullable=False),
    Column("created_time", BigInteger, nullable=False),
    Column("updated_time", BigInteger, nullable=False),
)

monitor_results = Table(
    "monitor_results",
    metadata,
    Column("result_id", ID, primary_key=True),
    Column("monitor", NAME, ForeignKey("monitors.name", ondelete="CASCADE"), nullable=False),
    Column("run_time", BigInteger, nullable=False),
    Column("model", NAME, nullable=False),
    Column("version", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("labeled_rows", BigInteger, nullable=False),
    Column("window_start", BigInteger, nullable=True),
    Column("window_end", BigInteger, nullable=True),
    Column("checks", Text, nullable=False),  # JSON list
    Column("features", Text, nullable=False),  # JSON list
    Index(None, "monitor", "run_time"),
)

# ``open_key`` is set while an alert is OPEN and NULL once resolved: the unique constraint on it is
# what keeps one open incident per (monitor, check, model, version) across processes.
alerts = Table(
    "alerts",
    metadata,
    Column("alert_id", ID, primary_key=True),
    Column("monitor", NAME, ForeignKey("monitors.name", ondelete="CASCADE"), nullable=False),
    Column("check_name", NAME, nullable=False),
    Column("model", NAME, nullable=False),
    Column("version", Integer, nullable=False),
    Column("state", String(20), nullable=False),
    Column("open_key", Text, nullable=True, unique=True),
    Column("opened_time", BigInteger, nullable=False),
    Column("resolved_time", BigInteger, nullable=True),
    Column("value", Float, nullable=True),
    Column("threshold", Float, nullable=True),
    Column("message", Text, nullable=False),
    Column("resolved_message", Text, nullable=False),
    Column("deliveries", Text, nullable=False),  # JSON list
    Index(None, "monitor", "opened_time"),
)

# -- server auth (migration 0005)

# API tokens of the server: only the SHA-256 of a token is stored, never the token.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("name", NAME, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("created_time", BigInteger, nullable=False),
    Column("last_used_time", BigInteger, nullable=True),
)

# -- automation (migration 0006)

policy_events = Table(
    "policy_events",
    metadata,
    Column("event_id", ID, primary_key=True),
    Column("seq", BigInteger, nullable=False),  # insertion order: events of one millisecond stay in order
    Column("policy", NAME, nullable=False),
    Column("deployment", NAME, nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("message", Text, nullable=False),
    Column("data", Text, nullable=False),  # JSON object
    Index(None, "policy", "time"),
    Index(None, "deployment", "time"),
)

# ``active_key`` holds the deployment while a rollout RUNS and NULL afterwards: its unique
# constraint is what allows one running rollout per deployment across processes.
rollouts = Table(
    "rollouts",
    metadata,
    Column("rollout_id", ID, primary_key=True),
    Column("deployment", NAME, nullable=False),
    Column("policy", NAME, nullable=True),
    Column("model", NAME, nullable=False),
    Column("candidate_version", Integer, nullable=False),
    Column("stable_version", Integer, nullable=True),
    Column("steps", Text, nullable=False),  # JSON list of percentages
    Column("dwell_ms", BigInteger, nullable=False),
    Column("criteria", Text, nullable=False),  # JSON object
    Column("state", String(20), nullable=False),
    Column("step", Integer, nullable=False),
    Column("active_key", NAME, nullable=True, unique=True),
    Column("started_time", BigInteger, nullable=False),
    Column("step_started_time", BigInteger, nullable=False),
    Column("updated_time", BigInteger, nullable=False),
    Column("finished_time", BigInteger, nullable=True),
    Column("reason", Text, nullable=False),
    Index(None, "deployment", "started_time"),
)

# -- client resilience (migration 0008)

# Batch ids of applied log_batch / end_run calls, written in the batch's own transaction: a client
# that resends a batch whose answer it never saw gets success and no second copy. Pruned after a day.
applied_batches = Table(
    "applied_batches",
    metadata,
    Column("batch_id", String(64), primary_key=True),
    Column("run_id", ID, nullable=False),
    Column("applied_time", BigInteger, nullable=False),
    Index(None, "applied_time"),
)

# -- feature store (migration 0009)

# Versioned definitions: applying a changed spec adds version n+1, an unchanged one keeps n.
feature_definitions = Table(
    "feature_definitions",
    metadata,
    Column("kind", String(40), nullable=False),
    Column("name", NAME, nullable=False),
    Column("version", Integer, nullable=False),
    Column("spec", Text, nullable=False),  # JSON object
    Column("digest", String(64), nullable=False),
    Column("description", Text, nullable=False),
    Column("created_time", BigInteger, nullable=False),
    PrimaryKeyConstraint("kind", "name", "version"),
)

# What was written to which online store: the incremental watermark and the views' freshness.
feature_materializations = Table(
    "feature_materializations",
    metadata,
    Column("materialization_id", ID, primary_key=True),
    Column("feature_view", NAME, nullable=False),
    Column("version", Integer, nullable=False),
    Column("online_store", String(512), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("created_time", BigInteger, nullable=False),
    Index(None, "feature_view", "online_store", "end_time"),
)
