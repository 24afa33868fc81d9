"""Every test gets its own shipyard home (store + artifacts) and a clean fluent session; served-model fixtures."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

POSTGRES_URL = os.environ.get("SHIPYARD_TEST_POSTGRES_URL")


@pytest.fixture(autouse=True)
def _shipyard_environment_restored() -> Iterator[None]:
    """Whatever a test's in-process CLI call put in os.environ (``--tracking-uri`` is exported for the
    worker processes a command starts) is gone after it, so no later test talks to another store."""
    before = {k: v for k, v in os.environ.items() if k.startswith("SHIPYARD_")}
    yield
    for key in [k for k in os.environ if k.startswith("SHIPYARD_") and k not in before]:
        del os.environ[key]
    os.environ.update(before)


@contextmanager
def throwaway_postgres(prefix: str) -> Iterator[str]:
    """A fresh database on the test server (dropped afterwards); skips when none is configured."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need SHIPYARD_TEST_POSTGRES_URL (set by .ci/run)")
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        from shipyard.tracking.client import _stores

        for key in [k for k in _stores if k[0].endswith("/" + name)]:
            _stores.pop(key).close()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(autouse=True)
def shipyard_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "shipyard-home"
    for var in ("SHIPYARD_TRACKING_URI", "SHIPYARD_STORE_URI", "SHIPYARD_ARTIFACT_URI", "SHIPYARD_EXPERIMENT_NAME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SHIPYARD_HOME", str(home))
    from shipyard.tracking import fluent

    while fluent.active_run() is not None:
        fluent.end_run()
    fluent.set_tracking_uri(None)
    yield home
    while fluent.active_run() is not None:
        fluent.end_run()
    fluent.set_tracking_uri(None)


# -- a served rainfall model whose traffic lands in a real prediction log (monitoring, automation) ---


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

    async def predict_allowing_errors(self, X: np.ndarray) -> list[str] | None:
        """Like predict, but a failed request (the model raised) gives None instead of failing the test."""
        body = {"columns": {n: X[:, i].tolist() for i, n in enumerate(self.names)}}
        response = await self.http.post(f"/v1/deployments/{self.deployment}/predict", json=body)
        time.sleep(0.003)
        if response.status_code == 500:
            return None
        assert response.status_code == 200, response.text
        return response.json()["request_ids"]

    async def feedback(self, ids: list[str], labels: Any) -> None:
        items = [{"request_id": i, "label": int(y)} for i, y in zip(ids, labels, strict=True)]
        response = await self.http.post(f"/v1/deployments/{self.deployment}/feedback", json={"feedback": items})
        assert response.status_code == 200, response.text

    def flush(self) -> None:
        self.logger.flush()

    def refresh(self) -> None:
        """Pick up a new revision of the deployment now (the app polls the store otherwise)."""
        self.app.runtime.refresh()


@pytest.fixture
def serve_rainfall(rainfall: tuple[np.ndarray, np.ndarray, list[str]], shipyard_home: Any,
                   ) -> Iterator[Callable[..., Served]]:
    """serve_rainfall(model=None, train=slice(0, 6000)) -> Served: trains the model on those rows,
    logs it with training_data (the monitor's reference), registers it as ``rain`` (alias
    ``champion``) and serves it as deployment ``rain-api``."""
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
        version = info.registered_model_version
        client.set_registered_model_alias("rain", "champion", version, reason="first model")
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
