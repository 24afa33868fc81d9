"""An executor that breaks mid-run (a lost Dask scheduler) ends the run FAILED at once, saying why,
instead of leaving it RUNNING until its lease runs out."""

from __future__ import annotations

from typing import Any

import pytest

import shipyard
from shipyard import pipeline, task
from shipyard.pipelines import ThreadExecutor


class Broken(ThreadExecutor):
    def submit_task(self, spec: Any, key: str, task: Any, call: Any) -> Any:
        raise ConnectionError("the Dask scheduler went away")


@task
def fine() -> int:
    return 1


@pipeline
def one_task() -> None:
    fine()


def test_a_broken_executor_ends_the_run_failed_at_once() -> None:
    broken = Broken(1)
    try:
        with pytest.raises(ConnectionError):
            one_task.run(executor=broken)
    finally:
        broken.close()
    run = shipyard.Client().store.list_pipeline_runs("one_task", max_results=1)[0]
    assert run.state == "FAILED" and run.error == "the executor failed: ConnectionError: the Dask scheduler went away"
