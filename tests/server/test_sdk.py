"""The SDK and the CLI against a server: ``SHIPYARD_TRACKING_URI=http://...`` and nothing else changes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import orjson
import pytest

import shipyard
from shipyard.errors import FilterSyntaxError, NotFound
from shipyard.store.sql import SqlStore

pytestmark = pytest.mark.integration


@pytest.fixture
def remote(live_server, monkeypatch: pytest.MonkeyPatch) -> str:
    url = live_server().url
    monkeypatch.setenv("SHIPYARD_TRACKING_URI", url)
    return url


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    return X, (X[:, 0] + 0.3 * X[:, 1] > 0).astype(int)


def test_fluent_run_model_registry_and_alias_over_http(remote: str, sql_store: SqlStore, shipyard_home: Path,
                                                       tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    import shipyard.sklearn

    X, y = _data()
    model = LogisticRegression().fit(X, y)
    shipyard.set_experiment("churn")
    with shipyard.start_run(run_name="lr") as run:
        shipyard.log_params({"C": 1.0, "solver": "lbfgs"})
        for step in range(5):
            shipyard.log_metric("loss", 1 / (step + 1), step=step)
        shipyard.log_metric("unstable", float("nan"))
        shipyard.log_dict({"features": ["a", "b", "c"]}, "config/features.json")
        info = shipyard.sklearn.log_model(model, "model", registered_model_name="churn", training_data=X)
    client = shipyard.Client()
    got = client.get_run(run.info.run_id)
    assert got.info.status == "FINISHED" and got.data.params == {"C": "1.0", "solver": "lbfgs"}
    assert got.data.metrics["loss"] == 0.2 and math.isnan(got.data.metrics["unstable"])
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")] == [0, 1, 2, 3, 4]
    assert got.info.artifact_uri.startswith(f"{remote}/api/v1/artifacts/")

    # the files are on the server's disk, none on the client's
    on_server = Path(sql_store.artifact_root) / got.info.experiment_id / run.info.run_id / "artifacts"
    assert (on_server / "model" / "MLmodel.yaml").is_file() and (on_server / "config" / "features.json").is_file()
    assert not (shipyard_home / "artifacts").exists()
    assert sorted(f.path for f in client.list_artifacts(run.info.run_id)) == ["config", "model"]
    local = client.download_artifacts(run.info.run_id, "config", tmp_path / "dl")
    assert orjson.loads((local / "features.json").read_bytes()) == {"features": ["a", "b", "c"]}

    version = info.registered_model_version
    again = client.register_model(f"runs:/{run.info.run_id}/model", "churn")
    assert again.version == version + 1
    assert sql_store.get_model_version("churn", again.version).run_id == run.info.run_id
    client.set_registered_model_alias("churn", "champion", version, reason="first")
    loaded = shipyard.load_model("models:/churn@champion")
    assert np.array_equal(loaded.predict(X[:20]), model.predict(X[:20]))
    assert np.array_equal(shipyard.load_model(f"models:/churn/{again.version}").predict(X[:5]), model.predict(X[:5]))
    assert [e.version for e in client.get_alias_history("churn", "champion")] == [version]
    assert client.get_model_version_lineage("churn", version)["run"]["params"]["C"] == "1.0"


def test_search_errors_and_deployments_over_http(remote: str, sql_store: SqlStore) -> None:
    client = shipyard.Client()
    eid = client.create_experiment("search")
    for acc in (0.7, 0.9):
        with shipyard.start_run(experiment_id=eid):
            shipyard.log_metric("acc", acc)
    assert [r.data.metrics["acc"] for r in client.search_runs(eid, "metrics.acc > 0.8")] == [0.9]
    with pytest.raises(FilterSyntaxError, match="position"):
        client.search_runs(eid, "metrics.acc >")
    with pytest.raises(NotFound):
        client.get_model_version("nope", 1)

    for _ in range(2):
        client.create_model_version("churn", "/m")
    client.set_registered_model_alias("churn", "champion", 1)
    client.create_deployment("api", routes=[{"model": "churn", "alias": "champion"}], reason="launch")
    client.update_deployment("api", routes=[{"model": "churn", "version": 2}], reason="v2")
    assert client.rollback_deployment("api", reason="v2 is slow").current.routes[0].version == 1
    assert [r.reason for r in sql_store.list_deployment_revisions("api")] == ["v2 is slow", "v2", "launch"]


def test_the_cli_works_through_a_server(remote: str, sql_store: SqlStore, capsys: pytest.CaptureFixture[str]) -> None:
    from shipyard.cli import main

    rid = sql_store.create_run(sql_store.create_experiment("Default")).info.run_id
    sql_store.create_model_version("churn", "/m")
    assert main(["--json", "runs", "list"]) == 0
    assert [r["run_id"] for r in orjson.loads(capsys.readouterr().out)] == [rid]
    assert main(["models", "alias", "set", "churn", "champion", "1", "--reason", "from the cli"]) == 0
    assert sql_store.get_model_version_by_alias("churn", "champion").version == 1
    assert main(["models", "alias", "set", "churn", "champion", "7"]) == 1  # NotFound, as an error message
    assert "version 7" in capsys.readouterr().err
