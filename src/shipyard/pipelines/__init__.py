"""Pipelines: tasks, a DAG built from data dependencies, executors, cache, and the scheduler.

::

    from shipyard import task, pipeline

    @task(retries=3, retry_delay=5, backoff=2.0, timeout=600, cache=True)
    def extract(day: str) -> pd.DataFrame: ...

    @task
    def train(df: pd.DataFrame) -> str: ...   # logging a metric or a model opens a linked tracking run

    @pipeline(schedule="@daily", params={"day": "{{ ds }}"})
    def ml_pipeline(day: str):
        train(extract(day))

    run = ml_pipeline.run(day="2026-01-01")          # threads; executor="processes" | "dask" | "dask://h:8786"
    run.state, [(t.task_name, t.state, t.attempts) for t in run.task_runs]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.pipelines._capture import RunContext, get_run_context
from shipyard.pipelines._executors import DaskExecutor, Executor, ProcessExecutor, ThreadExecutor
from shipyard.pipelines._pipeline import Pipeline, pipeline
from shipyard.pipelines._schedule import Schedule
from shipyard.pipelines._scheduler import Due, PipelineJob, Scheduler
from shipyard.pipelines._task import Task, task

if TYPE_CHECKING:
    from shipyard.entities import PipelineRun

__all__ = [
    "DaskExecutor",
    "Due",
    "Executor",
    "Pipeline",
    "PipelineJob",
    "ProcessExecutor",
    "RunContext",
    "Schedule",
    "Scheduler",
    "Task",
    "ThreadExecutor",
    "cancel",
    "get_run_context",
    "pipeline",
    "task",
]


def cancel(run_id: str, *, force: bool = False, wait_s: float = 0.0) -> PipelineRun:
    """Cancel a pipeline run, whatever process runs it; returns the run as the store has it after.

    A run whose lease ran out (its driver was killed) is marked FAILED at once, saying so (a
    scheduler would do the same within seconds). A queued (PENDING) run is CANCELLED at once. A
    RUNNING one is flagged: its driver starts no new task and ends it CANCELLED once the tasks
    already running finish; ``wait_s`` waits that long for it to do so. ``force=True`` ends a
    RUNNING run CANCELLED at once, without its driver: for a run whose process is gone and whose
    lease has not run out yet, or one started before leases existed (schema revision 0010). A
    finished run is a :class:`~shipyard.errors.Conflict`.
    """
    import time

    from shipyard.pipelines._pipeline import _store
    from shipyard.pipelines._runner import cancel_local, end_run

    store, _ = _store()
    if run_id in store.expire_pipeline_runs():
        return store.get_pipeline_run(run_id)  # its driver was gone: FAILED now, with the reason
    run = store.request_cancel(run_id)
    local = cancel_local(run_id)
    if run.state != "RUNNING":
        return run  # it was queued: CANCELLED already
    if force:
        return end_run(store, run_id, "CANCELLED", "cancelled with --force: ended without its driver")
    if local:
        return run  # driven by this process, told at once (a task cancelling its own run must not wait)
    deadline = time.monotonic() + max(0.0, wait_s)
    while run.state == "RUNNING" and time.monotonic() < deadline:
        time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))
        run = store.get_pipeline_run(run_id)
    return run
