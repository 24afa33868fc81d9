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

from shipyard.pipelines._capture import RunContext, get_run_context
from shipyard.pipelines._executors import DaskExecutor, Executor, ProcessExecutor, ThreadExecutor
from shipyard.pipelines._pipeline import Pipeline, pipeline
from shipyard.pipelines._schedule import Schedule
from shipyard.pipelines._scheduler import Due, PipelineJob, Scheduler
from shipyard.pipelines._task import Task, task

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


def cancel(run_id: str) -> None:
    """Cancel a pipeline run: a queued one at once, a running one as soon as its driver notices (it
    starts no new task; tasks already running finish)."""
    from shipyard.pipelines._pipeline import _store
    from shipyard.pipelines._runner import cancel_local

    store, _ = _store()
    store.request_cancel(run_id)
    cancel_local(run_id)
