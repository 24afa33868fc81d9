"""The driver of one pipeline run: feed ready tasks to the executor, skip what a failure cuts off,
record everything in batches, honour cancel.

Recording is batched: task runs are kept in memory and written at most once a second and once at the
end (with the run's final state, in the same transaction), so a thousand 10-microsecond tasks cost a
few transactions instead of thousands.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

from shipyard.entities import PipelineRun, TaskRun
from shipyard.errors import Conflict
from shipyard.pipelines._capture import capturing
from shipyard.pipelines._execute import Outcome, RunSpec
from shipyard.pipelines._task import substitute

if TYPE_CHECKING:
    from shipyard.pipelines._executors import Executor
    from shipyard.pipelines._task import Node
    from shipyard.store.base import Store

__all__ = ["cancel_local", "end_run", "run_graph"]

logger = logging.getLogger(__name__)

_FLUSH_EVERY_S = 1.0
_POLL_S = 0.25
_PROGRESS_S = 5.0
_live: dict[str, threading.Event] = {}


def cancel_local(run_id: str) -> bool:
    """Cancel a run driven by this process at once (the store flag reaches other processes)."""
    event = _live.get(run_id)
    if event is not None:
        event.set()
    return event is not None


def end_run(store: Store, run_id: str, state: str, reason: str) -> PipelineRun:
    """End a run no driver will end (its process is gone): the run and its unfinished task runs
    get ``state`` (CANCELLED or FAILED) and ``reason``. A run that ends meanwhile keeps its own end."""
    from shipyard.entities import FINISHED_TASK_STATES

    run = store.get_pipeline_run(run_id)
    if run.state in ("PENDING", "RUNNING"):
        now = _ms()
        open_tasks = [t for t in run.task_runs if t.state not in FINISHED_TASK_STATES]
        for t in open_tasks:
            t.state, t.end_time, t.error = "CANCELLED", now, t.error or reason
        with contextlib.suppress(Conflict):  # its driver (or another canceller) ended it first: that end stands
            store.finish_pipeline_run(run_id, state, open_tasks, error=reason, end_time=now)
    return store.get_pipeline_run(run_id)


def _ms() -> int:
    return int(time.time() * 1000)


class _Recorder:
    def __init__(self, store: Store, run: PipelineRun, nodes: list[Node]) -> None:
        self.store, self.run = store, run
        keys = {n.index: n.key for n in nodes}
        # Each task run carries its upstream keys (the DAG's edges, drawn by the UI), and every task is
        # written at the first flush, PENDING ones included, so a running run shows its whole graph.
        self.records = {n.index: TaskRun(run.run_id, n.key, n.task.name, upstream=sorted(keys[u] for u in n.upstream))
                        for n in nodes}
        self.dirty: set[int] = set(self.records)
        self.last_flush = time.monotonic()
        self.last_poll = time.monotonic()

    def set(self, index: int, outcome: Outcome | None = None, **fields: Any) -> None:
        record = self.records[index]
        if outcome is not None:
            for name in ("state", "attempts", "start_time", "end_time", "error", "error_kind", "traceback", "logs",
                         "cache_key", "output_uri", "tracking_run_id"):
                setattr(record, name, getattr(outcome, name))
        for name, value in fields.items():
            setattr(record, name, value)
        self.dirty.add(index)

    def maybe_flush(self) -> None:
        if self.dirty and time.monotonic() - self.last_flush >= _FLUSH_EVERY_S:
            self.store.write_task_runs(self.run.run_id, [self.records[i] for i in self.dirty])
            self.dirty.clear()
            self.last_flush = time.monotonic()

    def cancel_requested(self, event: threading.Event) -> bool:
        if not event.is_set() and time.monotonic() - self.last_poll >= _POLL_S * 4:
            self.last_poll = time.monotonic()
            if self.store.get_pipeline_run(self.run.run_id).cancel_requested:
                event.set()
        return event.is_set()


def lease_s() -> float:
    """How long a pipeline run's lease lasts (``SHIPYARD_PIPELINE_LEASE_S``, 30 s by default): a run
    whose driver dies is marked FAILED by a scheduler that long after its last heartbeat, at most."""
    import os

    from shipyard.errors import InvalidInput

    raw = os.environ.get("SHIPYARD_PIPELINE_LEASE_S", "30")
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 3 <= value <= 86_400:
        raise InvalidInput(f"SHIPYARD_PIPELINE_LEASE_S must be a number of seconds from 3 to 86400, got {raw!r}")
    return value


def _heartbeat(store: Store, run_id: str, lease: float, done: threading.Event, cancel: threading.Event) -> None:
    """Renew the run's lease every third of it until ``done``; stop the run (as a cancel) when the
    store says it is not RUNNING any more (ended from outside, or expired after a long outage)."""
    while True:
        try:
            if not store.renew_pipeline_lease(run_id, lease):
                logger.warning("pipeline run %s is no longer RUNNING in the store; stopping it", run_id)
                cancel.set()
                return
        except Exception as exc:  # a store outage: keep running and try again; the lease says how long
            logger.warning("could not renew the lease of pipeline run %s: %s", run_id, exc)
        if done.wait(lease / 3):
            return


def run_graph(store: Store, run: PipelineRun, spec: RunSpec, nodes: list[Node], executor: Executor) -> PipelineRun:
    """Run ``nodes`` (in topological order) for the already-created ``run``; return the finished run."""
    try:
        lease = lease_s()
    except Exception as exc:  # a bad setting: the run ends now, not when its first lease runs out
        store.finish_pipeline_run(run.run_id, "FAILED", error=str(exc))
        raise
    recorder = _Recorder(store, run, nodes)
    cancel = _live[run.run_id] = threading.Event()
    done = threading.Event()
    threading.Thread(target=_heartbeat, args=(store, run.run_id, lease, done, cancel),
                     name=f"shipyard-lease-{run.run_id[:8]}", daemon=True).start()
    try:
        with capturing():
            if executor.remote_graph:
                _run_remote(recorder, spec, nodes, executor, cancel)
            else:
                _run_local(recorder, spec, nodes, executor, cancel)
    except Exception as exc:  # the executor broke (a lost Dask scheduler...): end the run now, saying why,
        # rather than leaving it RUNNING until its lease runs out
        try:
            store.finish_pipeline_run(run.run_id, "FAILED", [recorder.records[i] for i in recorder.dirty],
                                      error=f"the executor failed: {type(exc).__name__}: {exc}")
        except Exception:
            logger.exception("could not record the end of pipeline run %s", run.run_id)
        raise
    finally:
        done.set()
        _live.pop(run.run_id, None)
    records = list(recorder.records.values())
    failed = [r.key for r in records if r.state in ("FAILED", "TIMED_OUT")]
    if cancel.is_set():
        state, error = "CANCELLED", "cancelled"
    elif failed:
        state, error = "FAILED", f"{len(failed)} task(s) failed: {', '.join(failed[:10])}"
    else:
        state, error = "SUCCEEDED", None
    try:
        store.finish_pipeline_run(run.run_id, state, [recorder.records[i] for i in recorder.dirty], error=error)
    except Conflict:
        # Ended from outside while this driver still ran (``pipelines cancel --force``, or a
        # scheduler that took it for dead): the stored end stands; this driver's tasks are done anyway.
        ended = store.get_pipeline_run(run.run_id)
        logger.warning("pipeline run %s was ended as %s from outside while its driver ran; the driver's "
                       "outcome (%s) is not recorded", run.run_id, ended.state, state)
        return ended
    run.state, run.error, run.end_time, run.task_runs = state, error, _ms(), records
    return run


def _skip_downstream(recorder: _Recorder, children: dict[int, list[int]], index: int, why: str,
                     state: str = "SKIPPED") -> None:
    stack = list(children.get(index, ()))
    while stack:
        child = stack.pop()
        if recorder.records[child].state == "PENDING":
            recorder.set(child, state=state, error=why, end_time=_ms())
            stack.extend(children.get(child, ()))


def _run_local(recorder: _Recorder, spec: RunSpec, nodes: list[Node], executor: Executor,
               cancel: threading.Event) -> None:
    children: dict[int, list[int]] = {}
    waiting = {n.index: len(n.upstream) for n in nodes}
    for n in nodes:
        for up in n.upstream:
            children.setdefault(up, []).append(n.index)
    by_index = {n.index: n for n in nodes}
    values: dict[int, Any] = {}
    done: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
    running = 0

    def submit(node: Node) -> None:
        nonlocal running
        call = substitute((node.args, node.kwargs), values.__getitem__)
        recorder.set(node.index, state="RUNNING", start_time=_ms())
        future = executor.submit_task(spec, node.key, node.task, call)
        future.add_done_callback(lambda f, i=node.index: done.put((i, f)))
        running += 1

    for node in nodes:
        if waiting[node.index] == 0:
            submit(node)
    while running:
        try:
            index, future = done.get(timeout=_POLL_S)
        except queue.Empty:
            index = -1
        if index >= 0:
            running -= 1
            try:
                outcome: Outcome = future.result()
            except BaseException as exc:  # the executor itself failed (e.g. an unpicklable argument)
                outcome = Outcome(by_index[index].key, "FAILED", error=f"{type(exc).__name__}: {exc}",
                                  error_kind="shipyard", end_time=_ms())
            recorder.set(index, outcome)
            if outcome.ok:
                values[index] = outcome.value
                for child in children.get(index, ()):
                    waiting[child] -= 1
                    if waiting[child] == 0 and not cancel.is_set() and recorder.records[child].state == "PENDING":
                        submit(by_index[child])
            else:
                _skip_downstream(recorder, children, index, f"upstream task {outcome.key!r} {outcome.state}")
        if recorder.cancel_requested(cancel):
            for i, record in recorder.records.items():
                if record.state == "PENDING":
                    recorder.set(i, state="CANCELLED", end_time=_ms())
        recorder.maybe_flush()


def _run_remote(recorder: _Recorder, spec: RunSpec, nodes: list[Node], executor: Any,
               cancel: threading.Event) -> None:
    """The whole graph at once; values stay on the workers; records are fetched per worker, not per task."""
    from distributed import wait

    from shipyard.pipelines._dask import collect_records, dask_key, submit_graph

    client = executor.client
    for node in nodes:
        recorder.set(node.index, state="RUNNING")
    futures = submit_graph(client, spec, nodes)
    keys = {n.index: dask_key(spec, n) for n in nodes}
    recorded: set[int] = set()
    last_progress = time.monotonic()

    def record(indices: list[int], everything: bool = False) -> None:
        if not indices:
            return
        found = collect_records(client, spec, None if everything else [keys[i] for i in indices])
        for index in indices:
            outcome = found.get(keys[index])
            if outcome is not None:
                recorder.set(index, outcome)
                recorded.add(index)

    while True:
        try:
            wait(list(futures.values()), timeout=_POLL_S * 4)
            break
        except TimeoutError:  # a long run: record what has finished so far, and look for a cancel
            if recorder.cancel_requested(cancel):
                client.cancel([f for f in futures.values() if not f.done()])
                break
            if time.monotonic() - last_progress >= _PROGRESS_S:  # each look costs every worker a moment
                record([i for i, f in futures.items() if i not in recorded and f.status == "finished"])
                recorder.maybe_flush()
                last_progress = time.monotonic()
    record([i for i, f in futures.items() if i not in recorded and f.status == "finished"], everything=True)
    for index, future in futures.items():
        if index in recorded:
            continue
        if cancel.is_set() and future.status != "finished":
            recorder.set(index, state="CANCELLED", end_time=_ms(), error="cancelled")
        else:
            error = f"Dask: task {future.status}"
            if future.status == "error":
                exc = future.exception()
                error = f"{type(exc).__name__}: {exc}"
            recorder.set(index, state="FAILED", end_time=_ms(), error=error, error_kind="shipyard")
    for future in futures.values():  # the workers may drop the values now
        future.release()
