"""MLflow code runs under ``import shipyard as mlflow``: a short script in MLflow's style, call for call.

Each block is what an MLflow user writes (the calls and their arguments are MLflow 3's); the asserts
are what MLflow returns for them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import shipyard as mlflow
from shipyard import MlflowClient
from shipyard.entities import ViewType


def test_the_mlflow_client_is_where_mlflow_has_it() -> None:
    from shipyard.client import MlflowClient as from_client
    from shipyard.tracking import MlflowClient as from_tracking

    assert from_client is MlflowClient and from_tracking is MlflowClient
    assert isinstance(MlflowClient(), mlflow.Client)


def test_tracking_nested_runs_and_search_by_system_tags() -> None:
    mlflow.set_experiment("parity")
    with mlflow.start_run(run_name="parent", description="a sweep") as parent:
        mlflow.log_params({"lr": 0.1, "depth": 3})
        for step in range(3):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        for i in range(2):
            with mlflow.start_run(run_name=f"child-{i}", nested=True):
                mlflow.log_metric("acc", 0.8 + i / 10)
        mlflow.set_tag("team", "risk")
    run = mlflow.get_run(parent.info.run_id)
    tags = run.data.tags
    assert tags["mlflow.runName"] == "parent" and tags["mlflow.note.content"] == "a sweep"
    assert tags["mlflow.source.type"] == "LOCAL" and "mlflow.user" in tags and "mlflow.source.name" in tags
    assert run.data.params == {"lr": "0.1", "depth": "3"} and run.data.metrics["loss"] == pytest.approx(1 / 3)

    # MLflow's hyper-parameter-search idiom: children by their parent's id, as a DataFrame
    children = mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
                                  order_by=["metrics.acc DESC"])
    assert isinstance(children, pd.DataFrame)
    assert children["tags.mlflow.runName"].tolist() == ["child-1", "child-0"]
    assert children["metrics.acc"].tolist() == pytest.approx([0.9, 0.8])
    assert {"run_id", "experiment_id", "status", "start_time", "end_time", "artifact_uri"} <= set(children.columns)
    by_name = mlflow.search_runs(filter_string="tags.mlflow.runName = 'child-0'", output_format="list")
    assert [r.info.run_name for r in by_name] == ["child-0"]
    assert mlflow.get_parent_run(by_name[0].info.run_id).info.run_id == parent.info.run_id
    assert mlflow.search_runs(filter_string="tags.mlflow.runName = 'nope'").empty
    with mlflow.start_run(parent_run_id=parent.info.run_id, log_system_metrics=False) as late:
        pass  # MLflow 2.x+: a child of a run that is not active
    assert mlflow.get_run(late.info.run_id).info.parent_run_id == parent.info.run_id
    everything = mlflow.search_runs(search_all_experiments=True, run_view_type=ViewType.ALL)
    assert len(everything) == 4


def test_client_runs_take_name_and_parent_from_mlflow_tags() -> None:
    client = MlflowClient()
    experiment_id = client.create_experiment("client-runs")
    parent = client.create_run(experiment_id, tags={"mlflow.runName": "outer"})
    child = client.create_run(experiment_id, tags={"mlflow.parentRunId": parent.info.run_id})
    assert parent.info.run_name == "outer"
    assert client.get_run(child.info.run_id).info.parent_run_id == parent.info.run_id
    assert client.get_run(child.info.run_id).data.tags["mlflow.runName"] == child.info.run_name
    client.update_run(parent.info.run_id, name="renamed")
    assert client.get_run(parent.info.run_id).data.tags["mlflow.runName"] == "renamed"


def test_experiments_module_functions() -> None:
    experiment_id = mlflow.create_experiment("exp-a", tags={"team": "risk"})
    mlflow.create_experiment("exp-b")
    assert mlflow.get_experiment(experiment_id).name == "exp-a"
    assert mlflow.get_experiment_by_name("exp-a").experiment_id == experiment_id
    assert mlflow.get_experiment_by_name("nope") is None
    found = mlflow.search_experiments(filter_string="tags.team = 'risk'")
    assert [e.name for e in found] == ["exp-a"]
    assert [e.name for e in mlflow.search_experiments(filter_string="name LIKE 'exp-%'", order_by=["name"])] == [
        "exp-a", "exp-b"]
    client = MlflowClient()
    assert [e.name for e in client.search_experiments(ViewType.ACTIVE_ONLY, 1)] == ["exp-b"]  # MLflow's positions
    mlflow.delete_experiment(experiment_id)
    assert mlflow.get_experiment(experiment_id).lifecycle_stage == "deleted"


def test_artifacts_tables_images_and_download(tmp_path: Path) -> None:
    with mlflow.start_run() as run:
        mlflow.log_text("hello", "notes/hello.txt")
        mlflow.log_dict({"a": 1}, "config.json")
        mlflow.log_table({"x": [1, 2], "y": ["a", "b"]}, "eval/table.json")
        mlflow.log_image(np.zeros((4, 5, 3), dtype=np.uint8), "img/black.png")
        mlflow.log_image(np.full((2, 2), 0.5), key="grey", step=3)
        if importlib.util.find_spec("matplotlib") is not None:  # not a dependency of shipyard
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            figure, ax = plt.subplots()
            ax.plot([0, 1], [1, 0])
            mlflow.log_figure(figure, "plots/line.png")
            plt.close(figure)
    run_id = run.info.run_id
    table = mlflow.load_table("eval/table.json", run_ids=[run_id], extra_columns=["run_id"])
    assert table.to_dict("list") == {"x": [1, 2], "y": ["a", "b"], "run_id": [run_id, run_id]}
    local = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="img", dst_path=str(tmp_path)))
    png = (local / "black.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png[16:24] == (5).to_bytes(4, "big") + (4).to_bytes(4, "big")
    whole = Path(mlflow.artifacts.download_artifacts(f"runs:/{run_id}/notes/hello.txt"))
    assert whole.read_text() == "hello"
    files = {f.path for f in MlflowClient().list_artifacts(run_id)}
    assert {"notes", "config.json", "eval", "img", "images"} <= files


class AddN(mlflow.pyfunc.PythonModel):
    """MLflow's custom model: predict(context, model_input, params) and context.artifacts."""

    def load_context(self, context):  # type: ignore[no-untyped-def]
        self.n = float(Path(context.artifacts["n"]).read_text())

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return model_input["a"] + self.n + (params or {}).get("extra", 0)


def test_registry_pyfunc_stages_aliases_and_filters(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    (tmp_path / "n.txt").write_text("10")
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]})
    with mlflow.start_run() as run:
        sk = mlflow.sklearn.log_model(LogisticRegression().fit(X, [0, 0, 1, 1]), name="clf",
                                      registered_model_name="clf", input_example=X.head(2))
        old = mlflow.sklearn.log_model(sk_model=LogisticRegression().fit(X, [1, 1, 0, 0]), artifact_path="clf2",
                                       conda_env={"dependencies": []})
        custom = mlflow.pyfunc.log_model(name="adder", python_model=AddN(), artifacts={"n": str(tmp_path / "n.txt")},
                                         registered_model_name="adder")
    assert sk.registered_model_version == 1 and custom.registered_model_version == 1
    assert old.model_uri == f"runs:/{run.info.run_id}/clf2"
    v2 = mlflow.register_model(old.model_uri, "clf", 300)  # MLflow's await_registration_for, positionally
    assert MlflowClient().get_model_version_download_uri("clf", 2).endswith(f"{run.info.run_id}/artifacts/clf2")
    client = MlflowClient()

    # filters as MLflow spells them (shipyard used to read "name='clf'" as a model name)
    assert [v.version for v in client.search_model_versions("name='clf'")] == [2, 1]
    assert [v.name for v in mlflow.search_model_versions(f"run_id = '{run.info.run_id}' AND name LIKE 'ad%'")] == [
        "adder"]
    assert [m.name for m in mlflow.search_registered_models("name LIKE 'cl%'")] == ["clf"]

    # stages for older MLflow code, aliases for newer
    client.transition_model_version_stage("clf", 1, "Production")
    client.transition_model_version_stage("clf", v2.version, "production", archive_existing_versions=True)
    assert client.get_model_version("clf", 1).current_stage == "Archived"
    assert [v.version for v in client.get_latest_versions("clf", stages=["Production"])] == [2]
    assert mlflow.pyfunc.load_model("models:/clf/Production").predict(X).tolist() == [1, 1, 0, 0]
    client.set_registered_model_alias("clf", "champion", 1)
    assert client.get_model_version_by_alias("clf", "champion").version == 1
    copy = client.copy_model_version("models:/clf@champion", "clf-backup")
    assert (copy.name, copy.version, copy.source) == ("clf-backup", 1, client.get_model_version("clf", 1).source)
    assert mlflow.pyfunc.load_model("models:/clf-backup/1").predict(X).tolist() == [0, 0, 1, 1]

    adder = mlflow.pyfunc.load_model("models:/adder/1")
    assert isinstance(adder.unwrap_python_model(), AddN)
    assert adder.predict(pd.DataFrame({"a": [1.0]})).tolist() == [11.0]
    assert adder.predict(pd.DataFrame({"a": [1.0]}), params={"extra": 5}).tolist() == [16.0]


def test_datasets_and_evaluate() -> None:
    from sklearn.linear_model import LinearRegression, LogisticRegression

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x1": rng.normal(size=200), "x2": rng.normal(size=200)})
    df["label"] = (df.x1 + 0.3 * rng.normal(size=200) > 0).astype(int)
    df["y"] = 2 * df.x1 - df.x2 + 0.1 * rng.normal(size=200)
    dataset = mlflow.data.from_pandas(df, source="s3://bucket/train.csv", targets="label", name="train")
    with mlflow.start_run() as run:
        mlflow.log_input(dataset, context="training")
        clf = LogisticRegression().fit(df[["x1", "x2"]], df.label)
        info = mlflow.sklearn.log_model(clf, name="clf")
        result = mlflow.evaluate(info.model_uri, df[["x1", "x2", "label"]], targets="label", model_type="classifier")
        reg = LinearRegression().fit(df[["x1", "x2"]], df.y)
        reg_result = mlflow.evaluate(reg, df[["x1", "x2", "y"]], targets="y", model_type="regressor")
    [logged] = mlflow.get_run(run.info.run_id).inputs.datasets
    assert (logged.name, logged.context, logged.source, logged.num_rows) == ("train", "training",
                                                                          "s3://bucket/train.csv", 200)
    assert logged.digest == dataset.digest and logged.targets == "label"
    expected = (clf.predict(df[["x1", "x2"]]) == df.label).mean()
    assert result.metrics["accuracy_score"] == pytest.approx(expected)
    assert {"precision_score", "recall_score", "f1_score", "log_loss", "roc_auc", "true_positives"} <= set(
        result.metrics)
    assert reg_result.metrics["r2_score"] > 0.95
    assert reg_result.metrics["root_mean_squared_error"] == pytest.approx(
        np.sqrt(reg_result.metrics["mean_squared_error"]))
    metrics = mlflow.get_run(run.info.run_id).data.metrics
    assert metrics["accuracy_score"] == pytest.approx(expected) and "r2_score" in metrics
