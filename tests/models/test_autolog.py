"""shipyard.autolog(): what a fit logs, under MLflow's names, and grid-search children with mlflow.parentRunId."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import shipyard
from shipyard.models import read_manifest

sklearn = pytest.importorskip("sklearn")
from sklearn.linear_model import LinearRegression, LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


@pytest.fixture(autouse=True)
def _autolog_off_afterwards() -> Iterator[None]:
    yield
    shipyard.autolog(disable=True)


@pytest.fixture
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    return X, (X.a + 0.3 * X.b > 0).astype(int).to_numpy()


def _children(parent_id: str) -> list[shipyard.entities.Run]:
    client = shipyard.Client()
    parent = client.get_run(parent_id)
    runs = client.store.search_runs([parent.info.experiment_id])
    return [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent_id]


def test_a_fit_logs_params_training_metrics_and_the_model(data: tuple[pd.DataFrame, np.ndarray],
                                                          tmp_path: Path) -> None:
    X, y = data
    shipyard.sklearn.autolog()
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5)).fit(X, y)
    run = shipyard.Client().get_run(shipyard.last_active_run().info.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["logisticregression__C"] == "0.5"
    assert run.data.tags["estimator_name"] == "Pipeline"
    assert {"training_score", "training_accuracy_score", "training_precision_score", "training_recall_score",
            "training_f1_score", "training_log_loss", "training_roc_auc"} <= set(run.data.metrics)
    assert run.data.metrics["training_accuracy_score"] == pytest.approx(model.score(X, y))
    # The model with its signature (the frame's columns) and the training data's reference profile.
    loaded = shipyard.load_model(f"runs:/{run.info.run_id}/model")
    assert list(loaded.predict(X.head(3))) == list(model.predict(X.head(3)))
    local = shipyard.Client().download_artifacts(run.info.run_id, "model", tmp_path / "dl")
    manifest = read_manifest(local)
    assert manifest.signature is not None and manifest.signature.input_names == ["a", "b"]
    assert shipyard.models.load_reference_profile(local) is not None
    # Only the outer fit logged: the pipeline's steps made no runs of their own.
    assert _children(run.info.run_id) == []


def test_regressors_get_mlflows_regression_metrics_in_the_active_run(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, _ = data
    shipyard.autolog(log_models=False)
    with shipyard.start_run() as run:
        LinearRegression().fit(X, X.a * 2 + 1)
    metrics = shipyard.Client().get_run(run.info.run_id).data.metrics
    assert set(metrics) == {"training_score", "training_mean_squared_error", "training_root_mean_squared_error",
                            "training_mean_absolute_error", "training_r2_score"}
    assert metrics["training_r2_score"] == pytest.approx(1.0)


def test_grid_search_logs_best_and_one_child_per_top_candidate(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    shipyard.autolog(max_tuning_runs=3)
    search = GridSearchCV(LogisticRegression(), {"C": [0.01, 0.1, 1.0, 10.0]}, cv=3).fit(X, y)
    parent = shipyard.Client().get_run(shipyard.last_active_run().info.run_id)
    assert parent.data.params["best_C"] == str(search.best_params_["C"])
    assert parent.data.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert {f.path for f in shipyard.Client().list_artifacts(parent.info.run_id)} == {"model", "best_estimator"}
    children = _children(parent.info.run_id)
    assert len(children) == 3
    assert all(c.info.parent_run_id == parent.info.run_id for c in children)
    by_c = {c.data.params["C"]: c.data.metrics for c in children}
    for i, params in enumerate(search.cv_results_["params"]):
        if str(params["C"]) in by_c:
            assert by_c[str(params["C"])]["mean_test_score"] == pytest.approx(search.cv_results_["mean_test_score"][i])
            assert by_c[str(params["C"])]["rank_test_score"] <= 3


def test_disable_and_a_failing_fit(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    shipyard.autolog()
    with pytest.raises(ValueError):
        LogisticRegression(C=-1.0).fit(X, y)
    assert shipyard.Client().get_run(shipyard.last_active_run().info.run_id).info.status == "FAILED"
    shipyard.autolog(disable=True)
    before = shipyard.last_active_run().info.run_id
    LogisticRegression().fit(X, y)
    assert shipyard.active_run() is None and shipyard.last_active_run().info.run_id == before
