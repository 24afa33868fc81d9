"""An example pipeline for the compose deployment: replace with your project's pipelines."""

from __future__ import annotations

import shipyard
from shipyard import pipeline, task


@task
def measure(day: str) -> int:
    shipyard.log_metric("rows", 0)  # tracked on the server, from whichever Dask worker runs it
    return 0


@pipeline(schedule="@daily", params={"day": "{{ ds }}"})
def daily(day: str) -> None:
    measure(day)
