"""The Dask side of a run: the whole DAG goes to the scheduler as one graph, results stay on workers.

Each node becomes one Dask task whose dependencies are its upstream nodes' keys, so a value moves
from worker to worker and never through the driver. A task returns its :class:`Outcome` (record and
value); when the graph is done the driver asks each worker once (``client.run``) for the records of
the run's keys with the values left out, and writes them to the store in one batch.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from shipyard.pipelines._capture import capturing
from shipyard.pipelines._execute import Outcome, Ref, RunSpec, execute
from shipyard.pipelines._task import substitute

if TYPE_CHECKING:
    from shipyard.pipelines._task import Node, Task

__all__ = ["collect_records", "execute_remote", "submit_graph"]


class RemoteRun:
    """What every task of a run shares; one graph node, so it is sent to each worker once, not per task.

    The tasks travel as bytes pickled in the submitting process with the project's modules by value
    (:mod:`shipyard.pipelines._ship`); a worker unpickles them at its first task of the run, where a
    missing module fails the task with a message naming it.
    """

    __slots__ = ("_tasks", "blob", "shipped", "spec")

    def __init__(self, spec: RunSpec, blob: bytes, shipped: tuple[str, ...] = ()) -> None:
        self.spec, self.blob, self.shipped = spec, blob, shipped
        self._tasks: tuple[Task, ...] | None = None

    @classmethod
    def of(cls, spec: RunSpec, tasks: tuple[Task, ...]) -> RemoteRun:
        from shipyard.pipelines._ship import dumps_tasks

        return cls(spec, *dumps_tasks(tasks))

    def tasks(self, where: str) -> tuple[Task, ...]:
        if self._tasks is None:
            from shipyard.pipelines._ship import loads_tasks

            self._tasks = loads_tasks(self.blob, self.spec.pipeline, where)
        return self._tasks

    def __reduce__(self) -> Any:
        return (RemoteRun, (self.spec, self.blob, self.shipped))

    def __dask_tokenize__(self) -> Any:
        return (RemoteRun.__name__, self.spec.run_id)


class RemoteCall:
    """One node's call, opaque to Dask's graph parser (so no argument is mistaken for a key or a task)."""

    __slots__ = ("call", "key", "task", "upstream")

    def __init__(self, key: str, task: int, call: tuple[tuple[Any, ...], dict[str, Any]],
                 upstream: tuple[int, ...]) -> None:
        self.key, self.task, self.call, self.upstream = key, task, call, upstream

    def __reduce__(self) -> Any:
        return (RemoteCall, (self.key, self.task, self.call, self.upstream))

    def __dask_tokenize__(self) -> Any:  # the Dask key names the call already; no need to pickle it to hash it
        return (RemoteCall.__name__, id(self))


def execute_remote(run: RemoteRun, job: RemoteCall, upstream: list[Outcome]) -> Outcome:
    """Run on a worker: the upstream outcomes arrive as Dask resolved them (from this or another worker)."""
    from shipyard.pipelines._ship import MissingCode

    try:
        tasks = run.tasks(_worker_address())
    except MissingCode as exc:
        now = int(time.time() * 1000)
        return Outcome(job.key, "FAILED", attempts=0, start_time=now, end_time=now, error=str(exc),
                       error_kind="shipyard")
    with capturing():
        return execute(run.spec, job.key, tasks[job.task], job.call, dict(zip(job.upstream, upstream, strict=True)))


def _worker_address() -> str:
    try:
        from distributed import get_worker

        worker = get_worker()
        return f"{worker.name} ({worker.address})"
    except (ImportError, ValueError):
        return "(not in a worker)"


def dask_key(spec: RunSpec, node: Node) -> tuple[str, int]:
    """``(task name-run id, node index)``: Dask groups a task's calls by the name (as it does ``client.map``),
    which keeps its per-group bookkeeping small."""
    return (f"{node.task.name}-{spec.run_id}", node.index)


def submit_graph(client: Any, spec: RunSpec, nodes: list[Node]) -> dict[int, Any]:
    """Send every node to the scheduler in one message; return the futures by node index."""
    tasks: dict[int, int] = {}
    for node in nodes:
        tasks.setdefault(id(node.task), len(tasks))
    shared = f"shipyard-run-{spec.run_id}"
    keys = {n.index: dask_key(spec, n) for n in nodes}
    graph: dict[Any, Any] = {shared: RemoteRun.of(spec, tuple({id(n.task): n.task for n in nodes}.values()))}
    for node in nodes:
        upstream = tuple(sorted(node.upstream))
        job = RemoteCall(node.key, tasks[id(node.task)], substitute((node.args, node.kwargs), Ref), upstream)
        graph[keys[node.index]] = (execute_remote, shared, job, [keys[i] for i in upstream])
    futures = client.get(graph, [keys[n.index] for n in nodes], sync=False, optimize_graph=False)
    return {n.index: f for n, f in zip(nodes, futures, strict=True)}


def _records_here(suffix: str, keys: list[Any] | None = None, dask_worker: Any = None) -> dict[Any, Outcome]:
    data = dask_worker.data
    found: dict[Any, Outcome] = {}
    for key in keys if keys is not None else list(data.keys()):
        if isinstance(key, tuple) and isinstance(key[0], str) and key[0].endswith(suffix) and key in data:
            outcome = data[key]
            if isinstance(outcome, Outcome):
                found[key] = dataclasses.replace(outcome, value=None)
    return found


def collect_records(client: Any, spec: RunSpec, keys: list[Any] | None = None) -> dict[Any, Outcome]:
    """The outcomes (without values) of this run's finished tasks, one request per worker; ``keys``
    narrows the search, else every key of the run a worker holds is looked at."""
    found: dict[Any, Outcome] = {}
    for records in client.run(_records_here, f"-{spec.run_id}", keys).values():
        found.update(records)
    return found
