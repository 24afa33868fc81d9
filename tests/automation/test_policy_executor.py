"""A policy's retraining pipeline runs where the scheduler runs pipelines (``--executor``), unless the
pipeline names its own executor."""

from __future__ import annotations

from typing import Any

import shipyard
from shipyard import pipeline, task
from shipyard.automation import JobList, Policy
from shipyard.pipelines import ThreadExecutor


class Counting(ThreadExecutor):
    def __init__(self) -> None:
        super().__init__(1)
        self.calls: list[str] = []

    def submit_task(self, spec: Any, key: str, task: Any, call: Any) -> Any:
        self.calls.append(key)
        return super().submit_task(spec, key, task, call)


@task
def fit() -> None:
    raise RuntimeError("no data today")


@pipeline
def retrain() -> None:
    fit()


def test_the_retraining_pipeline_runs_on_the_schedulers_executor() -> None:
    client = shipyard.Client()
    policy = Policy("p", deployment="api", model="m", retrain=retrain)
    counting = Counting()
    try:
        jobs = JobList(client.store, policies=[policy], executor=counting)
        assert jobs.policies[0].executor is counting
        outcome = policy.trigger(client, executor=counting)
    finally:
        counting.close()
    assert counting.calls == ["fit"]
    assert outcome.state == "failed" and "1 task(s) failed: fit" in outcome.message


def test_a_pipeline_that_names_its_executor_keeps_it() -> None:
    import pytest

    from shipyard.errors import InvalidInput
    from shipyard.pipelines import Pipeline

    own = Pipeline(retrain.fn, name="own", executor="dask://scheduler.internal:8786")
    assert own.executor == "dask://scheduler.internal:8786"
    with pytest.raises(InvalidInput, match="dask://host:port"):
        Pipeline(retrain.fn, name="typo", executor="dask:/scheduler:8786")

