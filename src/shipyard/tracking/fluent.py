"""The fluent tracking API: ``with shipyard.start_run(): shipyard.log_metric(...)``, as in MLflow.

The active runs form a stack held in a context variable, so each thread (and each asyncio task) has
its own. Metrics are buffered and written in batches by a background thread (see
:mod:`shipyard.tracking.batcher`); ``end_run`` flushes before it records the end, and runs still open
at interpreter exit are ended as FINISHED after a flush. A ``with`` block that raises ends its run
as FAILED, one interrupted by Ctrl-C as KILLED; both keep everything logged before. A run whose
process dies without ending it (kill -9, a lost machine) holds a lease the process renews every
15 s: once it runs out (``SHIPYARD_RUN_LEASE_S``, default 300 s) the run is marked FAILED.
"""

from __future__ import annotations

import atexit
import contextvars
import functools
import getpass
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from shipyard.config import use_tracking_uri
from shipyard.entities import Metric, Param, Run, RunStatus, RunTag
from shipyard.errors import InvalidInput, NotFound
from shipyard.store import validation as v
from shipyard.store.sql.words import random_run_name
from shipyard.tracking.batcher import run_lease_s
from shipyard.tracking.client import DEFAULT_EXPERIMENT_NAME, TrackingClient, view_type

if TYPE_CHECKING:
    from shipyard.entities import Experiment, PagedList

__all__ = [
    "ActiveRun",
    "active_run",
    "end_run",
    "flush",
    "get_artifact_uri",
    "get_tracking_uri",
    "last_active_run",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_text",
    "search_runs",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]

logger = logging.getLogger(__name__)

RUN_NAME_TAG = "mlflow.runName"


class _Session:
    """What the fluent API remembers in a process: the chosen store and experiment."""

    def __init__(self) -> None:
        self.tracking_uri: str | None = None
        self.experiment_id: str | None = None
        self._client: TrackingClient | None = None
        self.last_run_id: str | None = None

    @property
    def client(self) -> TrackingClient:
        if self._client is None:
            self._client = TrackingClient(self.tracking_uri)
        return self._client

    def reset(self, tracking_uri: str | None) -> None:
        if self._client is not None:
            self._client.flush()
        self.tracking_uri, self.experiment_id, self._client = tracking_uri, None, None


_session = _Session()
_run_stack: contextvars.ContextVar[tuple[ActiveRun, ...]] = contextvars.ContextVar("shipyard_runs", default=())


def _now() -> int:
    return int(time.time() * 1000)


def set_tracking_uri(uri: str | None) -> None:
    """Use this store (``sqlite:///path``, ``postgresql://...``, ``http://server``) in this process:
    the fluent functions and everything that opens the configured store (``shipyard.Client()``,
    pipelines, monitors); None goes back to the environment and the defaults."""
    if _run_stack.get():
        raise InvalidInput("end the active run before changing the tracking URI")
    _session.reset(uri)
    use_tracking_uri(uri)


def get_tracking_uri() -> str:
    return _session.client.store.uri


def set_experiment(experiment_name: str | None = None, experiment_id: str | None = None) -> Experiment:
    """Make an experiment the active one, creating it by name if it does not exist."""
    client = _session.client
    if experiment_id is not None:
        experiment = client.get_experiment(experiment_id)
    elif experiment_name is not None:
        experiment = client.get_experiment(client.get_or_create_experiment(experiment_name))
    else:
        raise InvalidInput("set_experiment needs an experiment_name or an experiment_id")
    _session.experiment_id = experiment.experiment_id
    return experiment


def _experiment_id() -> str:
    if _session.experiment_id is None:
        name = os.environ.get("SHIPYARD_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT_NAME
        _session.experiment_id = _session.client.get_or_create_experiment(name)
    return _session.experiment_id


class ActiveRun:
    """The run a ``with start_run()`` block logs to; ``.info`` and ``.data`` as when it started."""

    def __init__(self, run: Run, client: TrackingClient) -> None:
        self._run = run
        self._client = client

    @property
    def info(self):  # type: ignore[no-untyped-def]
        return self._run.info

    @property
    def data(self):  # type: ignore[no-untyped-def]
        return self._run.data

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc_type is None:
            status = RunStatus.FINISHED
        elif issubclass(exc_type, KeyboardInterrupt):
            status = RunStatus.KILLED
        else:
            status = RunStatus.FAILED
        if any(r is self for r in _run_stack.get()):
            end_run(status, _run=self)

    def __repr__(self) -> str:
        return f"<ActiveRun run_id={self.info.run_id} name={self.info.run_name!r}>"


def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    tags: dict[str, Any] | None = None,
    description: str | None = None,
    *,
    parent_run_id: str | None = None,
    log_system_metrics: bool | None = None,
) -> ActiveRun:
    """Start a run (or resume ``run_id``) and make it active; use it as a context manager.

    ``parent_run_id`` (MLflow's) makes it the child of that run, which must be the active run when
    one is; ``log_system_metrics`` is accepted and unused.
    """
    stack = _run_stack.get()
    if parent_run_id is not None and stack and stack[-1].info.run_id != parent_run_id:
        raise InvalidInput(f"parent_run_id {parent_run_id!r} is not the active run {stack[-1].info.run_id}")
    if stack and not nested and parent_run_id is None:
        raise InvalidInput(
            f"run {stack[-1].info.run_id} is already active: end it first, or pass nested=True for a child run"
        )
    client = _session.client
    if run_id is not None:
        run = client.get_run(run_id)
        if run.info.lifecycle_stage != "active":
            raise InvalidInput(f"run {run_id!r} is deleted: restore it before resuming it")
        client.resume_run(run_id, lease_s=run_lease_s())
    else:
        parent = stack[-1].info.run_id if stack else parent_run_id
        # MLflow takes the name from an ``mlflow.runName`` tag when none is given; the name is made
        # here, not by the store, so the tag MLflow code searches by holds it from the start.
        name = run_name or (tags or {}).get(RUN_NAME_TAG) or random_run_name()
        all_tags: dict[str, Any] = {**system_tags(parent), RUN_NAME_TAG: name, **(tags or {})}
        all_tags[RUN_NAME_TAG] = name
        if description is not None:
            all_tags["shipyard.note.content"] = description
            all_tags["mlflow.note.content"] = description
        run = client.create_run(experiment_id or _experiment_id(), run_name=name, tags=all_tags,
                                parent_run_id=parent, user_id=_user(), lease_s=run_lease_s())
    active = ActiveRun(run, client)
    _run_stack.set((*stack, active))
    return active


@functools.cache
def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def system_tags(parent_run_id: str | None) -> dict[str, str]:
    """The tags MLflow writes on every run (``mlflow.user``, ``mlflow.source.*``, ``mlflow.parentRunId``),
    so MLflow code that searches by them finds shipyard's runs, and shipyard's own equivalents."""
    script = sys.argv[0] if sys.argv and sys.argv[0] and sys.argv[0] != "-c" else ""
    tags = {
        "mlflow.user": _user(),
        "mlflow.source.name": script or "<interactive>",
        "mlflow.source.type": "LOCAL",
        "shipyard.source.name": Path(script).name if script else "<interactive>",
    }
    commit = git_commit(str(Path(script).absolute().parent) if script else os.getcwd())
    if commit:
        tags["mlflow.source.git.commit"] = commit
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
        tags["shipyard.parentRunId"] = parent_run_id
    return tags


@functools.cache
def git_commit(folder: str) -> str | None:
    """The commit checked out in the git work tree holding ``folder`` (read from .git, no git process)."""
    here = Path(folder)
    for candidate in (here, *here.parents):
        dot_git = candidate / ".git"
        if dot_git.exists():
            break
    else:
        return None
    try:
        if dot_git.is_file():  # a worktree or submodule: "gitdir: <path>"
            dot_git = (candidate / dot_git.read_text().split(":", 1)[1].strip()).resolve()
        head = (dot_git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head or None
        ref = head.split(":", 1)[1].strip()
        common = dot_git
        if (dot_git / "commondir").is_file():
            common = (dot_git / (dot_git / "commondir").read_text().strip()).resolve()
        for base in (dot_git, common):
            if (base / ref).is_file():
                return (base / ref).read_text().strip() or None
        packed = common / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split(" ", 1)[0]
    except (OSError, IndexError):
        return None
    return None


def active_run() -> ActiveRun | None:
    stack = _run_stack.get()
    return stack[-1] if stack else None


def last_active_run() -> Run | None:
    """The active run, or else the last run this process ended (fetched fresh from the store)."""
    current = active_run()
    run_id = current.info.run_id if current else _session.last_run_id
    return None if run_id is None else _session.client.get_run(run_id)


def end_run(status: str | RunStatus = RunStatus.FINISHED, *, _run: ActiveRun | None = None) -> None:
    """End the active run (and any nested runs still open above it)."""
    stack = _run_stack.get()
    if not stack:
        return
    target = _run or stack[-1]
    index = next(i for i, r in enumerate(stack) if r is target)
    for run in reversed(stack[index:]):
        _run_stack.set(_run_stack.get()[:-1])
        run._client.set_terminated(run.info.run_id, status)
        _session.last_run_id = run.info.run_id


def _current(what: str) -> ActiveRun:
    """The active run; like MLflow, logging outside a run starts one (ended at exit or by end_run)."""
    run = active_run()
    if run is None:
        run = start_run()
        logger.info("%s outside a run: started run %s", what, run.info.run_id)
    return run


def log_metric(key: str, value: float, step: int | None = None, timestamp: int | None = None,
               synchronous: bool = False) -> None:
    """Buffer one metric point (written in batches; durable after ``end_run`` or ``flush``)."""
    run = _current("log_metric")
    v.check_key(key, "metric key")
    v.check_metric_value(key, value)
    run._client.batcher.add(run.info.run_id, [Metric(key, value, timestamp or _now(), step or 0)])
    if synchronous:
        run._client.flush(run.info.run_id)


def log_metrics(metrics: dict[str, float], step: int | None = None, timestamp: int | None = None,
                synchronous: bool = False) -> None:
    run = _current("log_metrics")
    ts = timestamp or _now()
    points = []
    for key, value in metrics.items():
        v.check_key(key, "metric key")
        v.check_metric_value(key, value)
        points.append(Metric(key, value, ts, step or 0))
    run._client.batcher.add(run.info.run_id, points)
    if synchronous:
        run._client.flush(run.info.run_id)


def log_param(key: str, value: Any) -> Any:
    run = _current("log_param")
    return run._client.log_param(run.info.run_id, key, value)


def log_params(params: dict[str, Any]) -> None:
    run = _current("log_params")
    run._client.log_batch(run.info.run_id, params=[Param(k, v if isinstance(v, str) else str(v))
                                                   for k, v in params.items()])


def set_tag(key: str, value: Any) -> None:
    run = _current("set_tag")
    run._client.set_tag(run.info.run_id, key, value)


def set_tags(tags: dict[str, Any]) -> None:
    run = _current("set_tags")
    run._client.log_batch(run.info.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])


def log_input(data: Any, name: str | None = None, *, targets: Any = None, context: str | None = None,
              source: str = "", profile: bool = True, tags: dict[str, str] | None = None,
              model: Any = None) -> None:
    """Record a dataset the run used: content digest, schema, row count and a drift profile.

    ``data`` is a table (DataFrame, dict of arrays, 2-D array) with ``name`` (default "dataset"),
    or a :mod:`shipyard.data` dataset object as MLflow's ``log_input(dataset, context="training")``
    takes it (then the second argument is the context). MLflow's ``tags`` and ``model`` are accepted.
    """
    from shipyard.tracking.datasets import Dataset, dataset_input

    run = _current("log_input")
    if isinstance(data, Dataset):
        dataset = data.to_input(context=context or name or "", profile=profile)
    else:
        dataset = dataset_input(data, name or "dataset", targets=targets,
                                context="training" if context is None else context, source=source, profile=profile)
    run._client.log_inputs(run.info.run_id, [dataset])


def log_artifact(local_path: str | Path, artifact_path: str | None = None) -> None:
    run = _current("log_artifact")
    run._client.log_artifact(run.info.run_id, local_path, artifact_path)


def log_artifacts(local_dir: str | Path, artifact_path: str | None = None) -> None:
    run = _current("log_artifacts")
    if not Path(local_dir).is_dir():
        raise NotFound(f"no directory at {str(local_dir)!r}")
    run._client.log_artifact(run.info.run_id, local_dir, artifact_path)


def log_text(text: str, artifact_file: str) -> None:
    run = _current("log_text")
    run._client.log_bytes(run.info.run_id, text.encode("utf-8"), artifact_file)


def log_dict(dictionary: dict[str, Any], artifact_file: str) -> None:
    """Save a dict as JSON, or as YAML when the file name ends in .yaml or .yml."""
    run = _current("log_dict")
    if artifact_file.endswith((".yaml", ".yml")):
        import yaml

        data = yaml.safe_dump(dictionary, sort_keys=False).encode()
    else:
        data = orjson.dumps(dictionary, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    run._client.log_bytes(run.info.run_id, data, artifact_file)


def log_figure(figure: Any, artifact_file: str) -> None:
    """Save a matplotlib figure (any object with ``savefig``) under ``artifact_file``."""
    run = _current("log_figure")
    suffix = Path(artifact_file).suffix or ".png"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"figure{suffix}"
        figure.savefig(path)
        run._client.log_bytes(run.info.run_id, path.read_bytes(), artifact_file)


def get_artifact_uri(artifact_path: str | None = None) -> str:
    from shipyard.artifacts import safe_relpath

    run = _current("get_artifact_uri")
    base = run.info.artifact_uri.rstrip("/")
    rel = safe_relpath(artifact_path)
    return f"{base}/{rel}" if rel else base


def flush() -> None:
    """Block until every buffered metric point is in the store."""
    _session.client.flush()


def search_runs(
    experiment_ids: Sequence[str] | str | None = None,
    filter_string: str | None = None,
    run_view_type: str | int = "active",
    max_results: int = 1000,
    order_by: Sequence[str] | None = None,
    output_format: str = "pandas",
    search_all_experiments: bool = False,
    experiment_names: Sequence[str] | None = None,
    page_token: str | None = None,
) -> PagedList[Run] | Any:
    """Search runs, as MLflow: a pandas DataFrame by default (one row per run, columns ``run_id``,
    ``experiment_id``, ``status``, ``start_time``, ..., ``metrics.<key>``, ``params.<key>``,
    ``tags.<key>``); ``output_format="list"`` returns the :class:`~shipyard.entities.Run` objects
    (with ``.token`` for the next page). Without experiments, the active one (every experiment with
    ``search_all_experiments=True``)."""
    client = _session.client
    ids = [experiment_ids] if isinstance(experiment_ids, str) else list(experiment_ids or [])
    for name in experiment_names or []:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise NotFound(f"experiment {name!r} not found")
        ids.append(experiment.experiment_id)
    if not ids and search_all_experiments:
        ids = [e.experiment_id for e in client.search_experiments("all", max_results=50_000)]
    elif not ids:
        ids = [_experiment_id()]
    if output_format not in ("list", "pandas"):
        raise InvalidInput(f"output_format must be 'list' or 'pandas', got {output_format!r}")
    runs = client.search_runs(ids, filter_string, view_type(run_view_type), max_results, order_by, page_token)
    return runs if output_format == "list" else runs_to_pandas(runs)


def runs_to_pandas(runs: Sequence[Run]) -> Any:
    import pandas as pd

    if not runs:  # MLflow's columns even for no runs, so df["run_id"] works on an empty result
        return pd.DataFrame(columns=["run_id", "experiment_id", "run_name", "status", "artifact_uri",
                                     "start_time", "end_time"])
    records = []
    for run in runs:
        row: dict[str, Any] = {
            "run_id": run.info.run_id, "experiment_id": run.info.experiment_id, "run_name": run.info.run_name,
            "status": run.info.status, "artifact_uri": run.info.artifact_uri,
            "start_time": pd.to_datetime(run.info.start_time, unit="ms", utc=True),
            "end_time": (pd.to_datetime(run.info.end_time, unit="ms", utc=True)
                         if run.info.end_time is not None else pd.NaT),
        }
        row.update({f"metrics.{k}": val for k, val in run.data.metrics.items()})
        row.update({f"params.{k}": val for k, val in run.data.params.items()})
        row.update({f"tags.{k}": val for k, val in run.data.tags.items()})
        records.append(row)
    return pd.DataFrame.from_records(records)


@atexit.register
def _end_runs_at_exit() -> None:
    try:
        while _run_stack.get():
            end_run(RunStatus.FINISHED)
    except Exception as exc:  # at exit there is nobody to raise to
        logger.error("could not end the active run at exit: %s", exc)
