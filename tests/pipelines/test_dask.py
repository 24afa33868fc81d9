"""The Dask executor on a LocalCluster, with pandas DataFrames passed between tasks."""

from __future__ import annotations

import pytest

from shipyard import pipeline, task

pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")

pytestmark = pytest.mark.integration


@task
def frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": range(n)})


@task
def double(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(y=df["x"] * 2)


@task
def fail(df: pd.DataFrame) -> None:
    raise RuntimeError("boom")


@task
def summed(frames: list[pd.DataFrame]) -> int:
    return int(sum(f["y"].sum() for f in frames))


@task
def never(_: object) -> None: ...


@pipeline
def frames(n: int = 10) -> None:
    dfs = [double(frame(n)), double(frame(n + 1))]
    summed(dfs)
    never(fail(dfs[0]))


def test_dask_local_cluster_runs_a_dataframe_pipeline() -> None:
    from shipyard.pipelines import DaskExecutor

    with DaskExecutor(n_workers=1, threads_per_worker=2) as executor:
        run = frames.run(executor=executor)
    states = {t.key: t.state for t in run.task_runs}
    assert states == {"frame": "SUCCEEDED", "frame[1]": "SUCCEEDED", "double": "SUCCEEDED",
                      "double[1]": "SUCCEEDED", "summed": "SUCCEEDED", "fail": "FAILED", "never": "SKIPPED"}
    assert run.task("fail").error == "RuntimeError: boom" and run.state == "FAILED"
