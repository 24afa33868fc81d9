"""Under steady concurrent load the batcher forms full batches; alone, a request goes at once."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

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


def _answered_log() -> tuple[list[tuple[list[Any], np.ndarray, np.ndarray]], Any]:
    calls: list[tuple[list[Any], np.ndarray, np.ndarray]] = []

    def on_answered(tags: list[Any], data: np.ndarray, preds: np.ndarray, proba: np.ndarray | None) -> None:
        calls.append((list(tags), np.array(data), np.array(preds)))

    return calls, on_answered


def test_on_answered_sees_each_batch_once_with_its_callers_tags_in_order() -> None:
    calls, on_answered = _answered_log()
    sizes: list[int] = []

    async def main() -> None:
        with ThreadPoolExecutor(2) as pool:
            batcher = Batcher(_slow_model(sizes), pool, max_batch_size=64, max_wait_ms=3, on_answered=on_answered)

            async def client(i: int) -> None:
                for j in range(10):
                    rows = 1 + (i + j) % 3  # requests of 1-3 rows
                    data = np.full((rows, 1), float(i * 100 + j))
                    answer = await batcher.submit(data, rows, tag=(i, j))
                    preds, proba = answer  # its own rows of the batch's arrays
                    assert preds.tolist() == [float(i * 100 + j)] * rows and proba is None
                    assert answer.lists() == ([float(i * 100 + j)] * rows, None)  # the same, as lists

            await asyncio.gather(*(client(i) for i in range(8)))

    asyncio.run(main())
    assert len(calls) == len(sizes) < 80  # one call per predict call, and requests were batched
    tags = [t for call in calls for t in call[0]]
    assert sorted(tags) == sorted((i, j) for i in range(8) for j in range(10))  # every request exactly once
    for call_tags, data, preds in calls:
        # the rows handed over are exactly those requests' rows, in the order of the tags
        expected = [float(i * 100 + j) for i, j in call_tags for _ in range(1 + (i + j) % 3)]
        assert data[:, 0].tolist() == expected and preds.tolist() == expected


def test_on_answered_skips_untagged_cancelled_and_failed_requests() -> None:
    calls, on_answered = _answered_log()

    def predict(data: np.ndarray) -> tuple[np.ndarray, None]:
        time.sleep(0.05)
        if (data < 0).any():
            raise ValueError("negative")
        return data[:, 0], None

    async def main() -> None:
        with ThreadPoolExecutor(1) as pool:
            batcher = Batcher(predict, pool, max_batch_size=64, max_wait_ms=5, on_answered=on_answered)
            first = asyncio.ensure_future(batcher.submit(np.array([[0.0]]), 1, tag="first"))
            await asyncio.sleep(0.005)  # the first runs alone; the next ones queue behind it
            good = asyncio.ensure_future(batcher.submit(np.array([[1.0]]), 1, tag="good"))
            bad = asyncio.ensure_future(batcher.submit(np.array([[-1.0]]), 1, tag="bad"))
            untagged = asyncio.ensure_future(batcher.submit(np.array([[2.0]]), 1))
            gone = asyncio.ensure_future(batcher.submit(np.array([[3.0]]), 1, tag="gone"))
            await asyncio.sleep(0.07)  # the batch of four is running now (or its retries)
            gone.cancel()
            assert (await first).predictions.tolist() == [0.0] and (await good).predictions.tolist() == [1.0]
            assert (await untagged).predictions.tolist() == [2.0]
            with pytest.raises(ValueError, match="negative"):
                await bad
            with pytest.raises(asyncio.CancelledError):
                await gone

    asyncio.run(main())
    # the batch failed on "bad", so each was retried alone: only answered, tagged, waiting callers count
    assert [c[0] for c in calls] == [["first"], ["good"]]


def test_on_answered_errors_are_logged_and_never_reach_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("log store exploded")

    async def main() -> list[float]:
        with ThreadPoolExecutor(1) as pool:
            batcher = Batcher(lambda d: (d[:, 0], None), pool, on_answered=broken)
            return (await batcher.submit(np.array([[4.0]]), 1, tag="t")).predictions.tolist()

    assert asyncio.run(main()) == [4.0]
    assert "on_answered failed" in caplog.text


def _fast_model(sizes: list[int]):
    def predict(data: np.ndarray):
        sizes.append(len(data))
        time.sleep(0.001)
        return data[:, 0], None

    return predict


def test_after_a_burst_a_lone_request_is_not_held_by_the_timer() -> None:
    """After heavy load the batcher expects company; once the load stops, a request goes at once."""
    sizes: list[int] = []

    async def main() -> list[float]:
        with ThreadPoolExecutor(1) as pool:
            batcher = Batcher(_fast_model(sizes), pool, max_batch_size=64, max_wait_ms=300)

            async def client(i: int) -> None:
                for _ in range(10):
                    await batcher.submit(np.array([[float(i)]]), 1)

            await asyncio.gather(*(client(i) for i in range(8)))  # batches of about 8
            await asyncio.sleep(0.35)  # the load stops
            waits = []
            for _ in range(5):
                start = time.perf_counter()
                await batcher.submit(np.array([[1.0]]), 1)
                waits.append(time.perf_counter() - start)
                await asyncio.sleep(0.35)
            return waits

    waits = asyncio.run(main())
    # each lone request costs its predict call (1 ms) plus scheduling, never the 300 ms timer
    assert max(waits) < 0.15, waits


def test_a_steady_closed_loop_does_not_wait_for_the_timer_each_round() -> None:
    """8 clients, each sending its next request when answered: once the batches hold 8, a batch
    leaves when its 8 members are queued, not when the 100 ms timer runs out."""
    sizes: list[int] = []

    async def main() -> float:
        with ThreadPoolExecutor(1) as pool:
            batcher = Batcher(_fast_model(sizes), pool, max_batch_size=64, max_wait_ms=100)

            async def client(i: int) -> None:
                for _ in range(30):
                    await batcher.submit(np.array([[float(i)]]), 1)

            start = time.perf_counter()
            await asyncio.gather(*(client(i) for i in range(8)))
            return time.perf_counter() - start

    elapsed = asyncio.run(main())
    assert sum(sizes) == 240 and np.mean(sizes) >= 6, sizes
    # waiting for the timer each round would take about 30 x 100 ms
    assert elapsed < 1.5, (elapsed, sizes)


@pytest.mark.anyio
async def test_a_lone_request_through_the_app_costs_its_predict_not_the_window(client, register, make_app, rain,
                                                                               pred_log) -> None:
    """One request at a time against an idle app (prediction log on), the batching window 50 ms:
    each request costs what it costs with the window at 0 (where the batcher cannot wait) and what
    the model's own predict costs plus the trip to a worker thread, never the window. Requests to
    both deployments and direct predicts are interleaved, so the load of the machine weighs on
    all alike, and medians of 200 ignore the odd descheduled one."""
    from sklearn.ensemble import RandomForestClassifier
    from tests.serving.conftest import http

    register("forest", RandomForestClassifier(n_estimators=30, random_state=0))
    client.create_deployment("windowed", routes=[{"model": "forest", "version": 1}], batching={"max_wait_ms": 50})
    client.create_deployment("eager", routes=[{"model": "forest", "version": 1}], batching={"max_wait_ms": 0})
    app = make_app(["windowed", "eager"], prediction_logger=pred_log)
    local = client.load_model("models:/forest/1")
    X, _, names = rain
    times: dict[str, list[float]] = {"windowed": [], "eager": [], "predict": []}
    async with http(app) as c:
        for row in (dict(zip(names, r, strict=True)) for r in X[:200].tolist()):
            for name in ("windowed", "eager"):
                start = time.perf_counter()
                answer = await c.post(f"/v1/deployments/{name}/predict", json={"records": [row]})
                times[name].append(time.perf_counter() - start)
                assert answer.status_code == 200
            start = time.perf_counter()
            local.predict_proba([row])
            times["predict"].append(time.perf_counter() - start)
    median = {k: float(np.median(v)) for k, v in times.items()}
    # a 50 ms timer would add >= 50 ms to each of these medians
    assert median["windowed"] - median["eager"] < 0.005, median
    assert median["windowed"] - median["predict"] < 0.025, median
    assert np.mean(np.array(times["windowed"]) > 0.050) < 0.1, median  # nearly none waited out the window
    assert len(pred_log.records) == 400


def test_two_half_batches_taking_turns_merge_into_full_ones() -> None:
    """64 closed-loop clients that start as two groups of 32 (the state a forest used to settle in at
    c=64, at half its throughput): each group's requests queue while the other group's call runs,
    so by the time the model is free they have waited longer than the window. The batcher counts
    its wait from the moment the model is free and waits for the callers it just answered, so the
    groups merge into full batches."""
    sizes: list[int] = []

    def predict(data: np.ndarray):
        sizes.append(len(data))
        time.sleep(0.010)  # a forest: the call costs about the same for 32 rows as for 64
        return data[:, 0], None

    async def main() -> None:
        with ThreadPoolExecutor(1) as pool:
            batcher = Batcher(predict, pool, max_batch_size=64, max_wait_ms=3)

            async def client(i: int) -> None:
                if i >= 32:
                    await asyncio.sleep(0.005)  # the second group, half a call behind
                for _ in range(20):
                    await batcher.submit(np.array([[float(i)]]), 1)
                    await asyncio.sleep((i % 32) * 0.00002)  # answers go out one after another

            await asyncio.gather(*(client(i) for i in range(64)))

    asyncio.run(main())
    assert sum(sizes) == 64 * 20
    assert np.mean(sizes[-10:]) >= 48, sizes  # two groups taking turns would stay at 32
