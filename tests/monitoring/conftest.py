"""Fixtures for monitoring tests: a served rainfall model whose traffic lands in a real prediction log."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def rainfall() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(X, y, feature names) of the whole rainfall data set (18,159 days in time order)."""
    from shipyard.datasets import RAINFALL_FEATURES, load_rainfall

    data = load_rainfall()
    return (np.column_stack([data[c] for c in RAINFALL_FEATURES]), np.asarray(data["rain"], dtype=int),
            list(RAINFALL_FEATURES))


class Served:
    """A deployment served in-process with the real prediction logger: ``predict(X)`` sends rows,
    ``feedback(ids, labels)`` sends labels, ``flush()`` makes everything visible to monitors."""

    def __init__(self, app: Any, logger: Any, deployment: str, names: list[str]) -> None:
        import httpx

        self.app, self.logger, self.deployment, self.names = app, logger, deployment, names
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")

    async def predict(self, X: np.ndarray) -> list[str]:
        body = {"columns": {n: X[:, i].tolist() for i, n in enumerate(self.names)}}
        response = await self.http.post(f"/v1/deployments/{self.deployment}/predict", json=body)
        assert response.status_code == 200, response.text
        time.sleep(0.003)  # the next request gets a later millisecond: windows never interleave
        return response.json()["request_ids"]

    async def feedback(self, ids: list[str], labels: Any) -> None:
        items = [{"request_id": i, "label": int(y)} for i, y in zip(ids, labels, strict=True)]
        response = await self.http.post(f"/v1/deployments/{self.deployment}/feedback", json={"feedback": items})
        assert response.status_code == 200, response.text

    def flush(self) -> None:
        self.logger.flush()


@pytest.fixture
def serve_rainfall(rainfall: tuple[np.ndarray, np.ndarray, list[str]], shipyard_home: Any,
                   ) -> Iterator[Callable[..., Served]]:
    """serve_rainfall(model=None, train=slice(0, 6000)) -> Served: trains the model on those rows,
    logs it with training_data (the monitor's reference), registers it as ``rain`` and serves it
    as deployment ``rain-api``."""
    import shipyard
    import shipyard.sklearn
    from shipyard.serving.app import create_app
    from shipyard.serving.predlog import PredictionLogger
    from shipyard.serving.settings import ServingSettings

    made: list[Served] = []

    def go(model: Any = None, train: slice = slice(0, 6000)) -> Served:
        X, y, names = rainfall
        if model is None:
            from sklearn.ensemble import HistGradientBoostingClassifier

            model = HistGradientBoostingClassifier(max_iter=100, random_state=0)
        model.fit(X[train], y[train])
        example = {n: X[:3, i].tolist() for i, n in enumerate(names)}
        with shipyard.start_run():
            info = shipyard.sklearn.log_model(model, "model", registered_model_name="rain", input_example=example,
                                              training_data={n: X[train, i] for i, n in enumerate(names)})
        client = shipyard.Client()
        version = info.registered_model_version.version
        client.create_deployment("rain-api", routes=[{"model": "rain", "version": version}])
        logger = PredictionLogger(f"{client.store.artifact_root}/prediction-logs", replica_id="test")
        app = create_app(client.store, deployments=["rain-api"], settings=ServingSettings(poll_interval_s=None),
                         prediction_logger=logger)
        served = Served(app, logger, "rain-api", names)
        made.append(served)
        return served

    yield go
    for served in made:
        served.app.close()
