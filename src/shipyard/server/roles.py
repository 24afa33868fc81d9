"""Who may do what over the API, by the *effect* of each operation: the one table of roles.

Each route declares the role it needs (:data:`~shipyard.server.auth.READ` / ``WRITE`` / ``ADMIN``);
``tests/server/test_security_roles.py`` checks every route of the OpenAPI spec against this table
(and calls each one, with the role below and with its own, against a real server), and
``docs/server.md`` carries :func:`markdown_table` verbatim. A change of role therefore changes three
places or fails the tests.

The rule: reading is a reader's; recording what happened (runs, metrics, models, feedback, monitor
and pipeline bookkeeping) is a writer's; anything that deletes, changes what a deployment serves, or
steers the platform's own automation is an admin's. Effects beyond the store are never a role's
choice at all: what an alert command runs and which hosts a webhook reaches come only from the
operator's configuration (:mod:`shipyard.server_config`), and the code a scheduler runs only from
the modules its operator gave it (``--module``, ``shipyard.yaml``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MLFLOW_OPERATIONS", "OPERATIONS", "ROLES", "Operation", "markdown_table", "role_of"]

ROLES = ("anyone", "reader", "writer", "admin")  # "anyone": no token needed, even with auth on


@dataclass(frozen=True, slots=True)
class Operation:
    """One API operation, the least role that may call it, and what calling it does."""

    method: str
    path: str
    role: str
    effect: str


_N, _R, _W, _A = "anyone", "reader", "writer", "admin"
_P = "/api/v1"

OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/health", _N, "reads whether the store answers (for load balancers)"),
    Operation("GET", f"{_P}/server-info", _R, "reads the server's version and artifact settings"),
    Operation("GET", "/metrics", _R, "reads request counters and monitor gauges"),
    Operation("POST", f"{_P}/experiments", _W, "creates an experiment (reserved `shipyard.` tags: admins)"),
    Operation("GET", f"{_P}/experiments", _R, "reads experiments"),
    Operation("GET", f"{_P}/experiments/by-name", _R, "reads an experiment"),
    Operation("GET", f"{_P}/experiments/{{experiment_id}}", _R, "reads an experiment"),
    Operation("PATCH", f"{_P}/experiments/{{experiment_id}}", _W, "renames an experiment"),
    Operation("DELETE", f"{_P}/experiments/{{experiment_id}}", _A, "deletes an experiment and hides its runs"),
    Operation("POST", f"{_P}/experiments/{{experiment_id}}/restore", _A, "restores a deleted experiment"),
    Operation("POST", f"{_P}/experiments/{{experiment_id}}/tags", _W,
              "sets an experiment tag (reserved `shipyard.` tags: admins)"),
    Operation("POST", f"{_P}/runs", _W, "creates a run (of the `shipyard.` tags only the informational ones)"),
    Operation("POST", f"{_P}/runs/search", _R, "reads runs"),
    Operation("GET", f"{_P}/runs/{{run_id}}", _R, "reads a run"),
    Operation("PATCH", f"{_P}/runs/{{run_id}}", _W, "changes a run's status, end time or name"),
    Operation("DELETE", f"{_P}/runs/{{run_id}}", _A, "deletes a run"),
    Operation("POST", f"{_P}/runs/{{run_id}}/restore", _A, "restores a deleted run"),
    Operation("POST", f"{_P}/runs/{{run_id}}/log-batch", _W,
              "records metrics, params and tags; the logged-model history only grows"),
    Operation("POST", f"{_P}/runs/{{run_id}}/end", _W, "ends a run (same tag rules as log-batch)"),
    Operation("POST", f"{_P}/runs/{{run_id}}/lease", _W,
              "renews a running run's lease (the client's heartbeat; an expired lease fails the run)"),
    Operation("DELETE", f"{_P}/runs/{{run_id}}/tags", _W, "deletes a run tag (reserved `shipyard.` tags: admins)"),
    Operation("GET", f"{_P}/runs/{{run_id}}/metrics", _R, "reads a metric's history"),
    Operation("POST", f"{_P}/runs/{{run_id}}/inputs", _W, "records the datasets a run used"),
    Operation("POST", f"{_P}/registered-models", _W, "creates a registered model"),
    Operation("GET", f"{_P}/registered-models", _R, "reads registered models"),
    Operation("GET", f"{_P}/registered-models/{{name}}", _R, "reads a registered model"),
    Operation("PATCH", f"{_P}/registered-models/{{name}}", _W, "changes a model's description"),
    Operation("DELETE", f"{_P}/registered-models/{{name}}", _A, "deletes a model and its versions"),
    Operation("POST", f"{_P}/registered-models/{{name}}/rename", _A,
              "renames a model (what `models:/` URIs, monitors and policies name)"),
    Operation("POST", f"{_P}/registered-models/{{name}}/tags", _W,
              "sets a model tag (reserved `shipyard.` tags: admins)"),
    Operation("DELETE", f"{_P}/registered-models/{{name}}/tags", _W,
              "deletes a model tag (reserved `shipyard.` tags: admins)"),
    Operation("POST", f"{_P}/registered-models/{{name}}/versions", _W,
              "registers a version; its manifest digest is recorded once, in a column no call changes"),
    Operation("GET", f"{_P}/registered-models/{{name}}/versions/{{version}}", _R, "reads a version"),
    Operation("PATCH", f"{_P}/registered-models/{{name}}/versions/{{version}}", _W,
              "changes a version's description or archives it"),
    Operation("DELETE", f"{_P}/registered-models/{{name}}/versions/{{version}}", _A, "deletes a version"),
    Operation("GET", f"{_P}/model-versions", _R, "reads versions"),
    Operation("POST", f"{_P}/registered-models/{{name}}/versions/{{version}}/tags", _W,
              "sets a version tag (reserved `shipyard.` tags: admins; the digest: nobody)"),
    Operation("DELETE", f"{_P}/registered-models/{{name}}/versions/{{version}}/tags", _W,
              "deletes a version tag (reserved `shipyard.` tags: admins)"),
    Operation("PUT", f"{_P}/registered-models/{{name}}/aliases/{{alias}}", _W,
              "moves an alias (what `models:/name@alias` loads; deployments resolve aliases only when an "
              "admin writes a revision)"),
    Operation("DELETE", f"{_P}/registered-models/{{name}}/aliases/{{alias}}", _W, "removes an alias"),
    Operation("GET", f"{_P}/registered-models/{{name}}/aliases/{{alias}}", _R, "reads an alias"),
    Operation("GET", f"{_P}/registered-models/{{name}}/alias-history", _R, "reads alias moves"),
    Operation("POST", f"{_P}/deployments", _A, "creates a deployment: routes traffic"),
    Operation("GET", f"{_P}/deployments", _R, "reads deployments"),
    Operation("GET", f"{_P}/deployments/{{name}}", _R, "reads a deployment"),
    Operation("PATCH", f"{_P}/deployments/{{name}}", _A, "writes a revision: moves traffic"),
    Operation("POST", f"{_P}/deployments/{{name}}/rollback", _A, "rolls back: moves traffic"),
    Operation("GET", f"{_P}/deployments/{{name}}/revisions", _R, "reads revisions"),
    Operation("DELETE", f"{_P}/deployments/{{name}}", _A, "deletes a deployment: stops its traffic"),
    Operation("POST", f"{_P}/deployments/{{name}}/feedback", _W,
              "records ground-truth labels (monitors and rollout analysis read them)"),
    Operation("POST", f"{_P}/deployments/{{name}}/feedback/query", _R, "reads labels"),
    Operation("PUT", f"{_P}/deployments/{{name}}/prediction-log/segments/{{segment_id}}", _W,
              "records a segment of answered predictions (what serving replicas send; a retry writes nothing)"),
    Operation("GET", f"{_P}/deployments/{{name}}/prediction-log", _R, "reads prediction-log rows and their labels"),
    Operation("POST", f"{_P}/deployments/{{name}}/prediction-log/lookup", _R,
              "reads which request ids the prediction log holds"),
    Operation("POST", f"{_P}/pipeline-runs", _W,
              "queues a run of a pipeline the operator registered (its code comes from the scheduler's modules)"),
    Operation("GET", f"{_P}/pipeline-runs", _R, "reads pipeline runs"),
    Operation("POST", f"{_P}/pipeline-runs/claim", _W, "claims a queued run for the caller's own executor"),
    Operation("GET", f"{_P}/pipeline-runs/{{run_id}}", _R, "reads a pipeline run"),
    Operation("POST", f"{_P}/pipeline-runs/{{run_id}}/task-runs", _W,
              "records task runs (a cached output loads only from the admin-written, hashed task cache)"),
    Operation("POST", f"{_P}/pipeline-runs/{{run_id}}/finish", _W, "records a pipeline run's end"),
    Operation("POST", f"{_P}/pipeline-runs/{{run_id}}/cancel", _W, "cancels a pipeline run"),
    Operation("GET", f"{_P}/task-runs/cached", _R, "reads a cached task run"),
    Operation("POST", f"{_P}/schedule-ticks/claim", _W, "claims a schedule tick (no two schedulers run it twice)"),
    Operation("GET", f"{_P}/schedule-ticks/last", _R, "reads the last tick"),
    Operation("POST", f"{_P}/pipeline-runs/{{run_id}}/lease", _W,
              "renews a pipeline run's lease (its driver's heartbeat)"),
    Operation("POST", f"{_P}/pipeline-runs/expire", _W, "marks pipeline runs whose lease ran out FAILED"),
    Operation("POST", f"{_P}/schedule-ticks/prune", _W, "prunes old claimed ticks (a scheduler's housekeeping)"),
    Operation("GET", f"{_P}/pipelines", _R, "reads the scheduled pipelines schedulers announced"),
    Operation("POST", f"{_P}/pipelines", _W,
              "announces the scheduled pipelines a scheduler serves (names and schedules; no code)"),
    Operation("POST", f"{_P}/pipelines/{{name}}/runs", _W,
              "queues a run now of an announced pipeline with its defaults; its scheduler runs the operator's code"),
    Operation("POST", f"{_P}/monitors", _W,
              "creates a monitor; command and webhook channels only as the operator configured them"),
    Operation("GET", f"{_P}/monitors", _R, "reads monitors"),
    Operation("GET", f"{_P}/monitors/{{name}}", _R, "reads a monitor"),
    Operation("PATCH", f"{_P}/monitors/{{name}}", _W, "changes a monitor (same channel rule as creating one)"),
    Operation("DELETE", f"{_P}/monitors/{{name}}", _A, "deletes a monitor and its history"),
    Operation("POST", f"{_P}/monitor-results", _W, "records a monitor run's results"),
    Operation("GET", f"{_P}/monitors/{{name}}/results", _R, "reads monitor results"),
    Operation("POST", f"{_P}/alerts", _W, "opens an incident"),
    Operation("POST", f"{_P}/alerts/{{alert_id}}/resolve", _W, "resolves an incident"),
    Operation("POST", f"{_P}/alerts/{{alert_id}}/deliveries", _W, "records a notice's delivery"),
    Operation("GET", f"{_P}/alerts", _R, "reads incidents"),
    Operation("POST", f"{_P}/policy-events", _A, "records a policy step (policies read them: cool-downs, incidents)"),
    Operation("GET", f"{_P}/policy-events", _R, "reads policy history"),
    Operation("POST", f"{_P}/rollouts", _A, "starts a progressive rollout: moves traffic"),
    Operation("GET", f"{_P}/rollouts", _R, "reads rollouts"),
    Operation("GET", f"{_P}/rollouts/{{rollout_id}}", _R, "reads a rollout"),
    Operation("POST", f"{_P}/rollouts/{{rollout_id}}/update", _A,
              "advances, promotes or aborts a rollout: moves traffic"),
    Operation("GET", f"{_P}/deployments/{{name}}/active-rollout", _R, "reads the running rollout"),
    Operation("GET", f"{_P}/features/definitions", _R, "reads feature definitions (entities, views, schedules)"),
    Operation("POST", f"{_P}/features/definitions", _W,
              "records a feature definition (a new version where changed); reads no source. A view over a "
              "database table is an admin's: the server's materializations would read that database"),
    Operation("GET", f"{_P}/features/materializations", _R, "reads the record of materializations"),
    Operation("GET", f"{_P}/features/views", _R, "reads feature views, their freshness and the models using them"),
    Operation("GET", f"{_P}/features/views/{{name}}", _R, "reads a feature view, its versions and materializations"),
    Operation("PUT", f"{_P}/features/views/{{name}}/schedule", _A,
              "schedules a view's materialization: steers the server's scheduler"),
    Operation("POST", f"{_P}/features/online", _R,
              "reads feature values from the server's online store (and, asked, which rows it has: serving replicas)"),
    Operation("POST", f"{_P}/features/materialize", _A,
              "materializes views: reads their sources on the server's file system, writes its online store"),
    Operation("GET", f"{_P}/artifacts", _R, "lists artifacts"),
    Operation("GET", f"{_P}/artifacts/{{path}}", _R, "downloads an artifact"),
    Operation("PUT", f"{_P}/artifacts/{{path}}", _W,
              "uploads an artifact; a logged model's files and the task cache: admins only"),
)


_M = "/api/2.0/mlflow"
_MR = f"{_M}/registered-models"
_MV = f"{_M}/model-versions"
_ML = f"{_M}/logged-models"

#: MLflow's REST API (:mod:`shipyard.server.mlflow`): the same roles for the same effects.
MLFLOW_OPERATIONS: tuple[Operation, ...] = (
    Operation("POST", f"{_M}/experiments/create", _W,
              "MLflow: creates an experiment (reserved `shipyard.` tags: admins)"),
    Operation("GET", f"{_M}/experiments/get", _R, "MLflow: reads an experiment (`0`: the Default experiment)"),
    Operation("GET", f"{_M}/experiments/get-by-name", _R, "MLflow: reads an experiment"),
    Operation("POST", f"{_M}/experiments/search", _R, "MLflow: reads experiments"),
    Operation("GET", f"{_M}/experiments/search", _R, "MLflow: reads experiments"),
    Operation("POST", f"{_M}/experiments/update", _W, "MLflow: renames an experiment"),
    Operation("POST", f"{_M}/experiments/delete", _A, "MLflow: deletes an experiment and hides its runs"),
    Operation("POST", f"{_M}/experiments/restore", _A, "MLflow: restores a deleted experiment"),
    Operation("POST", f"{_M}/experiments/set-experiment-tag", _W,
              "MLflow: sets an experiment tag (reserved `shipyard.` tags: admins)"),
    Operation("POST", f"{_M}/runs/create", _W, "MLflow: creates a run (MLflow's system tags are kept as tags)"),
    Operation("GET", f"{_M}/runs/get", _R, "MLflow: reads a run"),
    Operation("POST", f"{_M}/runs/update", _W, "MLflow: changes a run's status, end time or name"),
    Operation("POST", f"{_M}/runs/delete", _A, "MLflow: deletes a run"),
    Operation("POST", f"{_M}/runs/restore", _A, "MLflow: restores a deleted run"),
    Operation("POST", f"{_M}/runs/log-metric", _W, "MLflow: records a metric point"),
    Operation("POST", f"{_M}/runs/log-parameter", _W, "MLflow: records a param (write-once)"),
    Operation("POST", f"{_M}/runs/set-tag", _W, "MLflow: sets a run tag (same tag rules as log-batch)"),
    Operation("POST", f"{_M}/runs/delete-tag", _W, "MLflow: deletes a run tag (reserved `shipyard.` tags: admins)"),
    Operation("POST", f"{_M}/runs/log-batch", _W, "MLflow: records metrics, params and tags"),
    Operation("POST", f"{_M}/runs/log-inputs", _W, "MLflow: records the datasets a run used"),
    Operation("POST", f"{_M}/runs/search", _R, "MLflow: reads runs"),
    Operation("GET", f"{_M}/metrics/get-history", _R, "MLflow: reads a metric's history"),
    Operation("POST", f"{_M}/runs/log-model", _W, "MLflow 2: records a logged model in the run's history tag"),
    Operation("POST", f"{_M}/runs/outputs", _W, "MLflow: links logged models to a run (checks they exist)"),
    Operation("POST", _ML, _W, "MLflow 3: starts a logged model (a folder of its run's artifacts)"),
    Operation("GET", f"{_ML}/{{model_id}}", _R, "MLflow 3: reads a logged model"),
    Operation("PATCH", f"{_ML}/{{model_id}}", _W,
              "MLflow 3: finalizes a logged model; once READY its files are read-only to writers"),
    Operation("DELETE", f"{_ML}/{{model_id}}", _A, "MLflow 3: deletes a logged model's record"),
    Operation("PATCH", f"{_ML}/{{model_id}}/tags", _W, "MLflow 3: sets logged-model tags"),
    Operation("DELETE", f"{_ML}/{{model_id}}/tags/{{tag_key}}", _W, "MLflow 3: deletes a logged-model tag"),
    Operation("POST", f"{_ML}/search", _R, "MLflow 3: reads logged models"),
    Operation("POST", f"{_MR}/create", _W, "MLflow: creates a registered model"),
    Operation("GET", f"{_MR}/get", _R, "MLflow: reads a registered model"),
    Operation("PATCH", f"{_MR}/update", _W, "MLflow: changes a model's description"),
    Operation("DELETE", f"{_MR}/delete", _A, "MLflow: deletes a model and its versions"),
    Operation("GET", f"{_MR}/search", _R, "MLflow: reads registered models"),
    Operation("POST", f"{_MR}/set-tag", _W, "MLflow: sets a model tag (reserved `shipyard.` tags: admins)"),
    Operation("DELETE", f"{_MR}/delete-tag", _W, "MLflow: deletes a model tag (reserved `shipyard.` tags: admins)"),
    Operation("POST", f"{_MR}/alias", _W, "MLflow: moves an alias (as `PUT .../aliases/{alias}`)"),
    Operation("DELETE", f"{_MR}/alias", _W, "MLflow: removes an alias"),
    Operation("GET", f"{_MR}/alias", _R, "MLflow: reads an alias"),
    Operation("POST", f"{_MR}/get-latest-versions", _R, "MLflow: reads the latest version per stage"),
    Operation("GET", f"{_MR}/get-latest-versions", _R, "MLflow: reads the latest version per stage"),
    Operation("POST", f"{_MV}/create", _W, "MLflow: registers a version (of a logged model: its run's folder)"),
    Operation("GET", f"{_MV}/get", _R, "MLflow: reads a version"),
    Operation("PATCH", f"{_MV}/update", _W, "MLflow: changes a version's description"),
    Operation("DELETE", f"{_MV}/delete", _A, "MLflow: deletes a version"),
    Operation("GET", f"{_MV}/search", _R, "MLflow: reads versions"),
    Operation("GET", f"{_MV}/get-download-uri", _R, "MLflow: reads where a version's files are"),
    Operation("POST", f"{_MV}/transition-stage", _W,
              "MLflow (deprecated stages): records a version's stage; no deployment reads stages"),
    Operation("POST", f"{_MV}/set-tag", _W, "MLflow: sets a version tag (reserved `shipyard.` tags: admins)"),
    Operation("DELETE", f"{_MV}/delete-tag", _W, "MLflow: deletes a version tag (reserved `shipyard.` tags: admins)"),
    Operation("GET", "/api/2.0/mlflow-artifacts/artifacts", _R, "MLflow: lists artifacts"),
    Operation("GET", "/api/2.0/mlflow-artifacts/artifacts/{path}", _R, "MLflow: downloads an artifact"),
    Operation("PUT", "/api/2.0/mlflow-artifacts/artifacts/{path}", _W,
              "MLflow: uploads an artifact (the same read-only rules as `PUT /api/v1/artifacts`)"),
)

OPERATIONS = OPERATIONS + MLFLOW_OPERATIONS


def role_of(method: str, path: str) -> str:
    """The least role for an operation of the table (KeyError for one it does not list)."""
    for op in OPERATIONS:
        if op.method == method and op.path == path:
            return op.role
    raise KeyError(f"{method} {path}")


def markdown_table() -> str:
    """The table as docs/server.md shows it."""
    lines = ["| operation | least role | effect |", "| --- | --- | --- |"]
    lines += [f"| `{op.method} {op.path}` | {op.role} | {op.effect} |" for op in OPERATIONS]
    return "\n".join(lines)
