"""The loop closed before any label arrives: an estimated accuracy drop retrains, gates and rolls out.

The data: four features; the label follows 3 x0 + 1.5 x2 (logistic). v1 is a legacy model that reads
x0 only -- its probability is P(y | x0), calibrated, and stays calibrated when x0's distribution
changes (x2 is independent of x0 and does not move): the assumption estimation needs.

The shift: x0 shrinks towards 0 (a fifth of its spread), where x0 alone cannot tell the classes
apart, so v1's accuracy falls from about 0.8 to about 0.6 -- and no label comes back. Why no other
check sees it: one feature of four drifts (feature_drift alerts from half of them, the default
``share`` 0.5); x0 stays inside the reference's range (data_quality); v1's predicted classes keep
their 50/50 shares because x0 shrinks symmetrically around v1's threshold (prediction_drift); and
performance has no labels to decide on. Only ``estimated_performance.accuracy`` alerts.

The retraining trains on freshly labeled rows of the new traffic (a labeling team's sample: they
do not come back as feedback) with all features; the gate compares on its held-out rows; the canary
has no labels either, so its analysis compares estimated accuracies (``estimate: True``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.anyio

NAMES = ["x0", "x1", "x2", "x3"]


def rows(rng: np.random.Generator, n: int, spread: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    X = rng.normal(size=(n, 4))
    X[:, 0] *= spread
    y = (rng.random(n) < 1 / (1 + np.exp(-(3 * X[:, 0] + 1.5 * X[:, 2])))).astype(int)
    return X, y


def legacy_model() -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(ColumnTransformer([("x0", "passthrough", [0])]), LogisticRegression())


def retrain(context: dict[str, Any]) -> int:
    """Train on 4,000 freshly labeled rows of the shifted traffic, hold out a quarter."""
    from sklearn.linear_model import LogisticRegression

    import shipyard
    import shipyard.sklearn
    from shipyard.automation import log_holdout

    X, y = rows(np.random.default_rng(7), 4000, spread=0.2)
    model = LogisticRegression().fit(X[:3000], y[:3000])
    with shipyard.start_run(run_name="retrain"):
        info = shipyard.sklearn.log_model(model, "model", registered_model_name="syn",
                                          input_example={n: X[:2, i].tolist() for i, n in enumerate(NAMES)},
                                          training_data={n: X[:3000, i] for i, n in enumerate(NAMES)})
        log_holdout(X[3000:], y[3000:], columns=NAMES)
    return info.registered_model_version


async def test_estimated_drop_retrains_gates_and_rolls_out_before_any_label(shipyard_home):
    from tests.conftest import Served

    import shipyard
    import shipyard.sklearn
    from shipyard import monitoring
    from shipyard.automation import Policy
    from shipyard.serving.app import create_app
    from shipyard.serving.predlog import PredictionLogger
    from shipyard.serving.settings import ServingSettings

    rng = np.random.default_rng(0)
    X, y = rows(rng, 6000)
    model = legacy_model().fit(X[:4000], y[:4000])
    with shipyard.start_run():
        info = shipyard.sklearn.log_model(model, "model", registered_model_name="syn",
                                          input_example={n: X[:2, i].tolist() for i, n in enumerate(NAMES)},
                                          training_data={n: X[:4000, i] for i, n in enumerate(NAMES)})
    client = shipyard.Client()
    client.set_registered_model_alias("syn", "champion", info.registered_model_version, reason="first")
    # at registration: the estimator of v1 from labeled rows it never saw
    est = monitoring.fit_version_estimator("syn", 1, {n: X[4000:, i] for i, n in enumerate(NAMES)}, y[4000:])
    assert est.reference_["accuracy"] > 0.75
    client.create_deployment("syn-api", routes=[{"model": "syn", "version": 1}])
    logger = PredictionLogger(f"{client.store.artifact_root}/prediction-logs", replica_id="test")
    app = create_app(client.store, deployments=["syn-api"], settings=ServingSettings(poll_interval_s=None),
                     prediction_logger=logger)
    served = Served(app, logger, "syn-api", NAMES)
    try:
        monitoring.create_monitor("syn", "syn-api", window=1000,
                                  checks={"estimated_performance": {"accuracy": 0.7}, "performance": {"accuracy": 0.7}})
        policy = Policy("syn-retrain", deployment="syn-api", model="syn", retrain=retrain,
                        triggers=[{"performance": {"monitor": "syn", "metric": "accuracy", "below": 0.7,
                                                   "estimated": True}}],
                        gate={"metric": "accuracy", "min_delta": 0.05},
                        rollout={"steps": [50, 100], "dwell": 0, "metric": "accuracy", "estimate": True,
                                 "min_rows": 100, "max_latency_ratio": 10})

        async def send(n: int, spread: float, size: int = 250) -> None:
            Xs, _ = rows(rng, n, spread)  # the labels exist in the world, but none comes back
            for s in range(0, n, size):  # a request goes to one version: small ones split the traffic
                await served.predict(Xs[s:s + size])
            served.flush()

        await send(1000, 1.0)  # as in training: nothing fires
        run = monitoring.run_monitor("syn")
        assert run.status == "ok", [c for c in run.results[0].checks if c.passed is False]
        assert policy.tick(client) is None

        await send(1000, 0.2)  # the shift: no label, and only the estimate sees it
        (result,) = monitoring.run_monitor("syn").results
        assert result.labeled_rows == 0
        failed = [c.check for c in result.checks if c.passed is False]
        assert failed == ["estimated_performance.accuracy"], failed
        estimated = result.check("estimated_performance.accuracy")
        assert estimated.value < 0.67 and estimated.detail["high"] < 0.7
        assert result.check("performance.accuracy").passed is None  # no labels to decide on
        assert result.check("feature_drift").passed is True and result.check("prediction_drift").passed is True
        drifted = [f["column"] for f in result.features if f.get("drifted")]
        assert drifted == ["x0"]

        outcome = policy.tick(client)
        assert outcome.state == "rolling_out" and outcome.candidate_version == 2, outcome
        assert outcome.gate.passed and outcome.gate.candidate["accuracy"] > outcome.gate.champion["accuracy"] + 0.05
        served.refresh()
        await send(1000, 0.2, size=20)  # half to the canary, still no labels
        outcome = policy.tick(client)
        assert outcome.state == "advanced" and outcome.rollout.percent == 100, outcome
        served.refresh()
        await send(600, 0.2, size=20)
        outcome = policy.tick(client)
        assert outcome.rollout.state == "PROMOTED", outcome.rollout.reason
        assert client.get_model_version_by_alias("syn", "champion").version == 2
        events = {e.kind: e for e in client.store.list_policy_events("syn-retrain")}
        assert "estimated accuracy" in events["triggered"].data["reason"]
        step = events["rollout_step"].data["analysis"]
        assert step["candidate"]["estimated"] and step["stable"]["estimated"]
        assert step["candidate"]["metric"] > step["stable"]["metric"] + 0.1 and step["candidate"]["labeled"] == 0
        # v2 has its estimator now (fitted from its held-out rows on first use), and estimates well
        served.refresh()
        await send(1000, 0.2)
        (result,) = monitoring.run_monitor("syn").results
        assert result.version == 2 and result.check("estimated_performance.accuracy").value > 0.75
    finally:
        app.close()
