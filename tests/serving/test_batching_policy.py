"""Under steady concurrent load the batcher forms full batches; alone, a request goes at once."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from shipyard.datasets import RAINFALL_FEATURES, load_rainfall
from shipyard.serving.batcher import Batcher
from shipyard.serving.runtime import _argmax_classes


def _slow_model(sizes: list[int]):
    def predict(data: np.ndarray):
        sizes.append(len(data))
        time.sleep(0.01)  # a forest: about the same cost for 1 row as for 8
        return data[:, 0], None

    return predict


def test_closed_loop_clients_get_full_batches_not_1_7_1_7() -> None:
    sizes: list[int] = []

    async def main() -> None:
        with ThreadPoolExecutor(2) as pool:
            batcher = Batcher(_slow_model(sizes), pool, max_batch_size=64, max_wait_ms=3)

            async def client(i: int) -> None:
                for _ in range(25):
                    row = np.array([[float(i)]])
                    preds, _ = await batcher.submit(row, 1)
                    assert preds.tolist() == [float(i)]  # each caller gets its own answer

            await asyncio.gather(*(client(i) for i in range(8)))

    asyncio.run(main())
    assert sum(sizes) == 200
    assert np.mean(sizes) >= 6, sizes  # alternating 1, 7 would average 4


def test_a_lone_request_is_not_delayed() -> None:
    sizes: list[int] = []

    async def main() -> float:
        with ThreadPoolExecutor(1) as pool:
            batcher = Batcher(_slow_model(sizes), pool, max_batch_size=64, max_wait_ms=200)
            start = time.perf_counter()
            for _ in range(5):
                await batcher.submit(np.array([[1.0]]), 1)
            return (time.perf_counter() - start) / 5

    per_call = asyncio.run(main())
    assert sizes == [1] * 5
    assert per_call < 0.1  # far below the 200 ms max wait: sequential requests never wait for company


@pytest.mark.parametrize("kind", ["forest", "hgb", "logistic"])
def test_predictions_from_probabilities_equal_predict(kind: str) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    data = load_rainfall()
    X = np.column_stack([data[c][:3000] for c in RAINFALL_FEATURES])
    y = data["rain"][:3000]
    model = {"forest": RandomForestClassifier(n_estimators=20, random_state=0),
             "hgb": HistGradientBoostingClassifier(max_iter=30),
             "logistic": LogisticRegression(max_iter=300)}[kind].fit(X, y)
    classes = _argmax_classes(model)
    if kind == "logistic":
        assert classes is None  # not on the list: predict() is called as it is
        return
    assert classes is not None
    assert np.array_equal(classes[np.argmax(model.predict_proba(X), axis=1)], model.predict(X))
