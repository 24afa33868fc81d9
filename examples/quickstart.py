"""Quickstart: track a training run on real data, register the model, promote it, load it back.

    python examples/quickstart.py

Uses the rainfall data shipped with shipyard (NOAA daily weather, drift injected from row 12,000;
see src/shipyard/_data/ATTRIBUTION.md). Everything lands in ./.shipyard (or $SHIPYARD_HOME):
browse it afterwards with `shipyard runs list` and `shipyard models show rainfall`.
"""

from __future__ import annotations

import time

from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, roc_auc_score

import shipyard
from shipyard.datasets import RAINFALL_FEATURES, load_rainfall


def main() -> None:
    data = load_rainfall(as_frame=True)
    X, y = data[RAINFALL_FEATURES], data["rain"]
    train, valid = slice(0, 6000), slice(6000, 8000)
    params = {"max_iter": 150, "learning_rate": 0.05, "max_depth": 6, "early_stopping": True,
              "validation_fraction": 0.15, "n_iter_no_change": 20, "random_state": 0}

    shipyard.set_experiment("rainfall")
    started = time.perf_counter()
    with shipyard.start_run(run_name="hgb-rows-0-6000") as run:
        shipyard.log_params(params)
        shipyard.log_input(X.iloc[train], name="rainfall-0-6000", targets=y.iloc[train], source="shipyard.datasets")
        model = HistGradientBoostingClassifier(**params).fit(X.iloc[train], y.iloc[train])
        for step, (fit_loss, val_loss) in enumerate(zip(model.train_score_, model.validation_score_, strict=True)):
            shipyard.log_metrics({"train_log_loss": -fit_loss, "holdout_log_loss": -val_loss}, step=step)
        proba = model.predict_proba(X.iloc[valid])[:, 1]
        shipyard.log_metrics({"val_auc": roc_auc_score(y.iloc[valid], proba),
                              "val_accuracy": accuracy_score(y.iloc[valid], proba > 0.5)})
        info = shipyard.sklearn.log_model(model, "model", input_example=X.iloc[:5], training_data=X.iloc[train],
                                          registered_model_name="rainfall")
    client = shipyard.Client()
    version = info.registered_model_version  # an int, as in MLflow
    client.set_registered_model_alias("rainfall", "champion", version, reason="quickstart: first model")
    champion = shipyard.load_model("models:/rainfall@champion")  # hashes verified before loading

    print(f"run {run.info.run_id} tracked and model registered as rainfall v{version} "
          f"(champion) in {time.perf_counter() - started:.1f} s")
    print(f"store: {shipyard.get_tracking_uri()}")
    print("\nthe champion on later windows (drift was injected from row 12,000):")
    print(f"{'rows':>15}  {'ROC AUC':>7}  {'accuracy':>8}")
    for start in range(8000, 18000, 2000):
        window = slice(start, start + 2000)
        proba = champion.predict_proba(X.iloc[window])[:, 1]
        auc = roc_auc_score(y.iloc[window], proba)
        acc = accuracy_score(y.iloc[window], proba > 0.5)
        print(f"{start:>7,}-{start + 2000:<7,}  {auc:>7.2f}  {acc:>8.2f}")
    print("\nnext: `shipyard runs list --experiment rainfall`, `shipyard models show rainfall`")


if __name__ == "__main__":
    main()
