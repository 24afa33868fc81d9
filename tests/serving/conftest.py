"""Fixtures for serving tests: real models on real data, registered in the test's own store, and
in-process ASGI clients (httpx.ASGITransport), closed at teardown so no warning leaks."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def client() -> Any:
    import shipyard

    return shipyard.Client()


@pytest.fixture(scope="session")
def rain() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(X, y, feature names): the first 2,000 rows of the rainfall data set."""
    from shipyard.datasets import RAINFALL_FEATURES, load_rainfall

    data = load_rainfall()
    X = np.column_stack([data[c][:2000] for c in RAINFALL_FEATURES])
    return X, np.asarray(data["rain"][:2000]), list(RAINFALL_FEATURES)


@pytest.fixture
def register(rain: tuple[np.ndarray, np.ndarray, list[str]]) -> Callable[..., int]:
    """register(name, model=None, as_frame=False) -> version: fit (default LogisticRegression)
    on the rainfall rows and register it with an input example."""
    import shipyard
    import shipyard.sklearn

    X, y, names = rain

    def go(name: str, model: Any = None, *, as_frame: bool = False, fit: bool = True) -> int:
        if model is None:
            from sklearn.linear_model import LogisticRegression

            model = LogisticRegression(max_iter=500)
        if as_frame:
            import pandas as pd

            train: Any = pd.DataFrame(X, columns=names)
            example: Any = train.head(3)
        else:
            train, example = X, {n: X[:3, i].tolist() for i, n in enumerate(names)}
        if fit:
            model.fit(train, y)
        with shipyard.start_run():
            info = shipyard.sklearn.log_model(model, "model", registered_model_name=name, input_example=example)
        return int(info.registered_model_version)

    return go


class RecordingLogger:
    """A prediction logger that keeps what it is given (thread-safe, like the real one)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.closed = False
        self._lock = threading.Lock()

    def append(self, deployment: str, records: Any) -> None:
        rows = records.records() if hasattr(records, "records") else records  # a RecordBlock, or dicts
        with self._lock:
            self.records.extend(rows)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def pred_log() -> RecordingLogger:
    return RecordingLogger()


@pytest.fixture
def make_app(client: Any) -> Iterator[Callable[..., Any]]:
    """make_app(deployments=None, **kwargs) -> a serving app over the test store, closed at teardown."""
    from shipyard.serving.app import create_app
    from shipyard.serving.settings import ServingSettings

    apps: list[Any] = []

    def go(deployments: list[str] | None = None, **kwargs: Any) -> Any:
        kwargs.setdefault("settings", ServingSettings(poll_interval_s=None))
        app = create_app(client.store, deployments=deployments, **kwargs)
        apps.append(app)
        return app

    yield go
    for app in apps:
        app.close()


def http(app: Any) -> Any:
    """An httpx.AsyncClient talking to ``app`` in-process (use as ``async with``)."""
    import httpx

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
