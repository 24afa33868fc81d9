"""An unmodified MLflow client's flow against ``shipyard server`` (run with MLflow's own virtual
environment by ``test_mlflow_client.py``; MLFLOW_TRACKING_URI and, with auth, MLFLOW_TRACKING_TOKEN
come from the environment). It writes what it logged and what it read back to the JSON file named by
its argument; the test compares that with what shipyard's own client reads.

Nothing here imports shipyard: it is the code an MLflow user already has.
"""

import json
import os
import sys
import tempfile
import time

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LogisticRegression

out: dict = {"mlflow_version": mlflow.__version__}
client = MlflowClient()

# -- experiments: created explicitly, and by set_experiment on an unknown name (404 -> create)
exp_id = client.create_experiment("mlflow-face", tags={"team": "a"})
auto = mlflow.set_experiment("mlflow-face-auto")
mlflow.set_experiment("mlflow-face")
out["experiment_id"], out["auto_experiment_id"] = exp_id, auto.experiment_id
try:
    client.create_experiment("mlflow-face")
except MlflowException as exc:
    out["duplicate_experiment_error"] = exc.error_code

X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [4.0, 1.0], [5.0, 0.0]])
y = np.array([0, 0, 0, 1, 1, 1])

# -- a run: params, metrics with steps, batches, tags, artifacts, a dataset, nested runs, a model
with mlflow.start_run(run_name="parent", tags={"k": "v"}) as run:
    rid = run.info.run_id
    mlflow.log_param("lr", 0.01)
    mlflow.log_params({"model": "logreg", "depth": 3})
    for step in range(5):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    mlflow.log_metrics({"acc": 0.8, "f1": 0.7}, step=4)
    client.log_batch(rid, metrics=[Metric("loss", 0.1, int(time.time() * 1000), 5)], params=[Param("opt", "adam")],
                     tags=[RunTag("phase", "train")])
    mlflow.set_tag("stage", "dev")
    folder = tempfile.mkdtemp()
    with open(os.path.join(folder, "notes.txt"), "w") as fh:
        fh.write("hello")
    mlflow.log_artifact(os.path.join(folder, "notes.txt"))
    mlflow.log_dict({"a": 1}, "cfg/config.json")
    frame = pd.DataFrame({"x0": X[:, 0], "x1": X[:, 1], "y": y})
    mlflow.log_input(mlflow.data.from_pandas(frame, name="toy", targets="y"), context="training")
    children = []
    for i in range(3):
        with mlflow.start_run(run_name=f"child-{i}", nested=True) as child:
            mlflow.log_param("i", i)
            mlflow.log_metric("child_m", float(i))
            children.append(child.info.run_id)
    model = LogisticRegression().fit(X, y)
    info = mlflow.sklearn.log_model(model, name="model", input_example=X[:2])

out.update(run_id=rid, children=sorted(children), model_uri=info.model_uri, model_id=info.model_id)
got = client.get_run(rid)
out["params"], out["metrics"] = got.data.params, got.data.metrics
out["tags"] = {k: v for k, v in got.data.tags.items()}
out["status"], out["run_name"] = got.info.status, got.info.run_name
out["dataset"] = [(d.dataset.name, d.dataset.digest, [t.value for t in d.tags]) for d in got.inputs.dataset_inputs]
out["loss_history"] = [(m.step, m.value) for m in client.get_metric_history(rid, "loss")]

# -- search: filters on system tags, pagination with page tokens, the DataFrame of mlflow.search_runs
flt = f"tags.mlflow.parentRunId = '{rid}'"
first = client.search_runs([exp_id], flt, max_results=2, order_by=["attributes.start_time ASC"])
second = client.search_runs([exp_id], flt, max_results=2, order_by=["attributes.start_time ASC"],
                            page_token=first.token)
out["pages"] = [[r.info.run_name for r in first], [r.info.run_name for r in second], second.token]
frame = mlflow.search_runs(experiment_ids=[exp_id], filter_string="metrics.acc > 0.5 and params.model = 'logreg'")
out["search_frame"] = {"rows": len(frame), "run_id": list(frame["run_id"]), "acc": list(frame["metrics.acc"])}
out["by_run_name"] = len(client.search_runs([exp_id], "tags.mlflow.runName = 'child-1'"))

# -- artifacts: list and download through the mlflow-artifacts proxy
out["artifacts"] = sorted(f.path for f in client.list_artifacts(rid))
out["cfg_artifacts"] = sorted(f.path for f in client.list_artifacts(rid, "cfg"))
downloaded = mlflow.artifacts.download_artifacts(run_id=rid, artifact_path="notes.txt", dst_path=tempfile.mkdtemp())
with open(downloaded) as fh:
    out["notes"] = fh.read()

# -- registry: register the logged model, alias, tags, load by alias, stages for old clients
name = "face-model"
mv = mlflow.register_model(info.model_uri, name)
try:
    client.create_registered_model(name)
except MlflowException as exc:
    out["duplicate_model_error"] = exc.error_code
client.set_registered_model_alias(name, "champion", mv.version)
client.set_model_version_tag(name, mv.version, "validated", "true")
client.set_registered_model_tag(name, "owner", "team-a")
out["version"] = mv.version
out["by_alias"] = client.get_model_version_by_alias(name, "champion").version
loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
out["predictions"] = [int(p) for p in loaded.predict(X)]
out["expected_predictions"] = [int(p) for p in model.predict(X)]
out["runs_uri_predictions"] = [int(p) for p in mlflow.pyfunc.load_model(f"runs:/{rid}/model").predict(X)]
out["logged_model"] = mlflow.get_logged_model(info.model_id).name
out["logged_models"] = [m.model_id for m in mlflow.search_logged_models(experiment_ids=[exp_id], output_format="list")]
mv2 = mlflow.register_model(f"runs:/{rid}/model", name)
out["version2"] = mv2.version
client.transition_model_version_stage(name, mv.version, "Staging")
client.transition_model_version_stage(name, mv2.version, "Production")
out["latest_staging"] = [v.version for v in client.get_latest_versions(name, stages=["Staging"])]
out["stage_predictions"] = [int(p) for p in mlflow.pyfunc.load_model(f"models:/{name}/Production").predict(X)]
out["versions_found"] = sorted(int(v.version) for v in client.search_model_versions(f"name='{name}'"))
out["models_found"] = [m.name for m in client.search_registered_models(filter_string=f"name='{name}'")]
try:
    client.get_model_version_by_alias(name, "nope")
except MlflowException as exc:
    out["missing_alias_error"] = exc.error_code

with open(sys.argv[1], "w") as fh:
    json.dump(out, fh)
print("flow done")
