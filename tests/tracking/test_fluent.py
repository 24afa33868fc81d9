"""The fluent API a user ports from MLflow: runs, nesting, statuses, buffered metrics, search."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import shipyard
from shipyard.errors import FilterSyntaxError, InvalidInput, NotFound


def test_mlflow_style_run(tmp_path: Path) -> None:
    shipyard.set_experiment("churn")
    (tmp_path / "confusion.txt").write_text("tp fp\nfn tn\n")
    with shipyard.start_run(run_name="rf-1") as run:
        shipyard.log_params({"n_estimators": 100, "max_depth": 8})
        for step, loss in enumerate([0.9, 0.5, 0.3]):
            shipyard.log_metric("loss", loss, step=step)
        shipyard.log_metrics({"acc": 0.91, "f1": 0.88})
        shipyard.set_tag("team", "growth")
        shipyard.log_artifact(tmp_path / "confusion.txt")
        shipyard.log_dict({"lr": 0.1}, "config.json")
        shipyard.log_text("hello", "notes/readme.txt")
        assert shipyard.active_run().info.run_id == run.info.run_id
    assert shipyard.active_run() is None
    got = shipyard.Client().get_run(run.info.run_id)
    assert got.info.status == "FINISHED" and got.info.end_time is not None
    assert got.data.params == {"n_estimators": "100", "max_depth": "8"}
    assert got.data.metrics == {"loss": 0.3, "acc": 0.91, "f1": 0.88}
    assert got.data.tags["team"] == "growth"
    client = shipyard.Client()
    assert [m.value for m in client.get_metric_history(run.info.run_id, "loss")] == [0.9, 0.5, 0.3]
    names = sorted(f.path for f in client.list_artifacts(run.info.run_id))
    assert names == ["config.json", "confusion.txt", "notes"]
    assert json.loads((Path(got.info.artifact_uri) / "config.json").read_text()) == {"lr": 0.1}


def test_run_that_raises_is_failed_and_keeps_its_metrics() -> None:
    with pytest.raises(ZeroDivisionError), shipyard.start_run() as run:
        for i in range(1000):
            shipyard.log_metric("loss", 1.0 / (i + 1), step=i)
        shipyard.log_param("lr", 0.1)
        1 / 0  # noqa: B018
    got = shipyard.Client().get_run(run.info.run_id)
    assert got.info.status == "FAILED"
    assert len(shipyard.Client().get_metric_history(run.info.run_id, "loss")) == 1000
    assert got.data.params == {"lr": "0.1"}


def test_ctrl_c_marks_the_run_killed() -> None:
    with pytest.raises(KeyboardInterrupt), shipyard.start_run() as run:
        shipyard.log_metric("x", 1.0)
        raise KeyboardInterrupt
    got = shipyard.Client().get_run(run.info.run_id)
    assert got.info.status == "KILLED" and got.data.metrics == {"x": 1.0}


def test_nested_runs_and_end_run_status() -> None:
    with shipyard.start_run(run_name="parent") as parent:
        with pytest.raises(InvalidInput, match="nested=True"):
            shipyard.start_run()
        with shipyard.start_run(run_name="child", nested=True) as child:
            shipyard.log_metric("c", 1.0)
        assert shipyard.active_run().info.run_id == parent.info.run_id
        grandchild = shipyard.start_run(nested=True)
        shipyard.end_run(status="KILLED")
        assert shipyard.active_run().info.run_id == parent.info.run_id
    client = shipyard.Client()
    child_run = client.get_run(child.info.run_id)
    assert child_run.info.parent_run_id == parent.info.run_id
    assert child_run.data.tags["shipyard.parentRunId"] == parent.info.run_id
    assert client.get_run(grandchild.info.run_id).info.status == "KILLED"
    children = client.search_runs(parent.info.experiment_id, f"attributes.parent_run_id = '{parent.info.run_id}'")
    assert {r.info.run_name for r in children} == {"child", grandchild.info.run_name}


def test_nan_and_inf_through_the_fluent_api() -> None:
    with shipyard.start_run() as run:
        shipyard.log_metric("a", float("nan"))
        shipyard.log_metric("b", float("-inf"))
        shipyard.log_metric("c", np.float32(0.5))
    metrics = shipyard.Client().get_run(run.info.run_id).data.metrics
    assert math.isnan(metrics["a"]) and metrics["b"] == float("-inf") and metrics["c"] == 0.5


def test_bad_input_is_refused_before_anything_is_buffered() -> None:
    with shipyard.start_run() as run:
        with pytest.raises(InvalidInput):
            shipyard.log_metric("../escape", 1.0)
        with pytest.raises(InvalidInput, match="not a number"):
            shipyard.log_metric("m", "high")  # type: ignore[arg-type]
        shipyard.log_param("lr", 0.1)
        with pytest.raises(InvalidInput, match="write-once"):
            shipyard.log_param("lr", 0.2)
        with pytest.raises(InvalidInput, match=r"\.\."):
            shipyard.log_text("x", "../../outside.txt")
    got = shipyard.Client().get_run(run.info.run_id)
    assert got.info.status == "FINISHED" and got.data.params == {"lr": "0.1"} and got.data.metrics == {}


def test_resume_a_run_and_unknown_run() -> None:
    with shipyard.start_run() as run:
        shipyard.log_metric("a", 1.0)
    with shipyard.start_run(run_id=run.info.run_id):
        shipyard.log_metric("b", 2.0)
    assert shipyard.Client().get_run(run.info.run_id).data.metrics == {"a": 1.0, "b": 2.0}
    with pytest.raises(NotFound):
        shipyard.start_run(run_id="f" * 32)


def test_search_runs_entities_and_pandas() -> None:
    shipyard.set_experiment("search")
    for i, model in enumerate(["rf", "lr", "rf"]):
        with shipyard.start_run(run_name=f"r{i}"):
            shipyard.log_param("model", model)
            shipyard.log_metric("acc", 0.8 + i * 0.05)
    runs = shipyard.search_runs(experiment_names=["search"], filter_string="params.model = 'rf'",
                                order_by=["metrics.acc DESC"], output_format="list")
    assert [r.info.run_name for r in runs] == ["r2", "r0"]
    df = shipyard.search_runs(experiment_names=["search"], order_by=["metrics.acc"])  # a DataFrame, as MLflow
    assert list(df["tags.shipyard.source.name"].notna()) == [True] * 3
    assert df["metrics.acc"].round(2).tolist() == [0.8, 0.85, 0.9]
    assert set(df.columns) >= {"run_id", "status", "start_time", "params.model"}
    with pytest.raises(FilterSyntaxError, match="position 13"):
        shipyard.search_runs(experiment_names=["search"], filter_string="metrics.acc >> 1")
    with pytest.raises(NotFound):
        shipyard.search_runs(experiment_names=["nope"])


def test_log_input_records_digest_schema_and_profile() -> None:
    from shipyard.datasets import RAINFALL_FEATURES, load_rainfall

    data = load_rainfall()
    X = {k: data[k][:2000] for k in RAINFALL_FEATURES}
    with shipyard.start_run() as run:
        shipyard.log_input(X, name="train", targets=data["rain"][:2000])
        shipyard.log_input(X, name="train", targets=data["rain"][:2000])  # same data: stored once
    (ds,) = shipyard.Client().get_run(run.info.run_id).inputs.datasets
    assert ds.num_rows == 2000 and ds.targets == "target" and len(ds.digest) == 32
    assert [c["name"] for c in ds.schema][:2] == ["temperature", "dew point"]
    assert ds.profile is not None and "dew point" in json.dumps(ds.profile)


def test_points_logged_without_end_run_are_written_at_exit(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import os
        os.environ["SHIPYARD_HOME"] = {str(tmp_path / "home")!r}
        import shipyard
        run = shipyard.start_run()
        for i in range(5000):
            shipyard.log_metric("m", float(i), step=i)
        print(run.info.run_id)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    run_id = out.stdout.strip()
    client = shipyard.Client(f"sqlite:///{tmp_path / 'home' / 'shipyard.db'}")
    assert len(client.get_metric_history(run_id, "m")) == 5000
    assert client.get_run(run_id).info.status == "FINISHED"
