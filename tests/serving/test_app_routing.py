"""Traffic split, routing-key stickiness, shadows, and revision changes under load."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from tests.serving.conftest import http

from shipyard.entities import Route
from shipyard.serving.router import Router, key_point

pytestmark = pytest.mark.anyio


def test_router_split_within_3_percent_and_keys_stick():
    router = Router([Route("m", 1, 90.0), Route("m", 2, 10.0)], seed=7)
    counts = Counter(router.pick() for _ in range(5000))
    assert abs(counts[1] / 5000 - 0.10) < 0.03
    keyed = Counter(router.pick(f"user-{i}") for i in range(5000))
    assert abs(keyed[1] / 5000 - 0.10) < 0.03
    for i in range(200):
        assert len({router.pick(f"user-{i}") for _ in range(5)}) == 1
    # stable across processes: a fixed key hashes to a fixed point (BLAKE2b, not salted hash())
    assert key_point("user-1") == pytest.approx(key_point("user-1")) and 0 <= key_point("user-1") < 1
    assert Router([Route("m", 1, 0.0), Route("m", 2, 5.0)]).pick("x") == 1


def _row(rain: Any, i: int = 0) -> dict[str, float]:
    X, _, names = rain
    return dict(zip(names, X[i].tolist(), strict=True))


async def test_canary_split_and_sticky_key_in_app(client, register, make_app, rain):
    register("rain")
    register("rain")
    client.create_deployment("api", routes=[{"model": "rain", "version": 1, "weight": 70},
                                            {"model": "rain", "version": 2, "weight": 30}])
    app = make_app(["api"])
    body = {"records": [_row(rain)]}
    async with http(app) as c:
        versions = Counter()
        for _ in range(600):
            versions[(await c.post("/v1/deployments/api/predict", json=body)).json()["version"]] += 1
        assert abs(versions[2] / 600 - 0.30) < 0.07
        for key in ("alice", "bob", "carol"):
            by_header = {(await c.post("/v1/deployments/api/predict", json=body,
                                       headers={"X-Routing-Key": key})).json()["version"] for _ in range(10)}
            by_field = {(await c.post("/v1/deployments/api/predict",
                                      json={**body, "routing_key": key})).json()["version"] for _ in range(10)}
            assert len(by_header) == 1 and by_header == by_field


async def test_shadow_sees_every_request_and_never_answers(client, register, make_app, rain, pred_log):
    from sklearn.ensemble import RandomForestClassifier

    register("rain")
    register("shadow", RandomForestClassifier(n_estimators=5, random_state=0))
    client.create_deployment("api", routes=[{"model": "rain", "version": 1}],
                             shadow=[{"model": "shadow", "version": 1}])
    app = make_app(["api"], prediction_logger=pred_log)
    async with http(app) as c:
        answers = await asyncio.gather(*[
            c.post("/v1/deployments/api/predict", json={"records": [_row(rain, i)]}) for i in range(40)])
        await asyncio.wait(list(app._shadow_tasks) or [asyncio.sleep(0)])
    assert all(a.json()["model"] == "rain" for a in answers)
    primary = {r["request_id"] for r in pred_log.records if not r["shadow"]}
    shadow = {r["request_id"] for r in pred_log.records if r["shadow"]}
    assert len(primary) == 40 and shadow == primary
    assert {r["model"] for r in pred_log.records if r["shadow"]} == {"shadow"}


async def test_shadow_that_fails_never_affects_the_answer(client, register, make_app, rain):
    from sklearn.linear_model import LogisticRegression

    register("rain")
    broken = LogisticRegression(max_iter=500)
    register("broken", broken)
    client.create_deployment("api", routes=[{"model": "rain", "version": 1}],
                             shadow=[{"model": "broken", "version": 1}])
    app = make_app(["api"])
    shadow = app.runtime.get("api").shadows[0]
    shadow.pyfunc.raw_model.coef_ = None  # breaks predict after loading and warming
    async with http(app) as c:
        for i in range(5):
            assert (await c.post("/v1/deployments/api/predict", json={"records": [_row(rain, i)]})).status_code == 200
        await asyncio.wait(list(app._shadow_tasks) or [asyncio.sleep(0)])
        assert "shipyard_serving_shadow_errors_total" in (await c.get("/metrics")).text


async def test_revision_change_under_load_has_zero_failures(client, register, make_app, rain):
    register("rain")
    register("rain")
    client.create_deployment("api", routes=[{"model": "rain", "version": 1}])
    app = make_app(["api"])
    body = {"records": [_row(rain)]}
    seen: list[int] = []
    failures: list[Any] = []
    stop = asyncio.Event()

    async def load(c: Any) -> None:
        while not stop.is_set():
            r = await c.post("/v1/deployments/api/predict", json=body)
            if r.status_code != 200:
                failures.append(r.text)
            else:
                seen.append(r.json()["version"])

    async with http(app) as c:
        workers = [asyncio.create_task(load(c)) for _ in range(8)]
        await asyncio.sleep(0.2)
        client.update_deployment("api", routes=[{"model": "rain", "version": 2}])
        assert await app.runtime.arefresh() == ["api"]
        await asyncio.sleep(0.2)
        client.rollback_deployment("api")
        assert await app.runtime.arefresh() == ["api"]
        await asyncio.sleep(0.2)
        stop.set()
        await asyncio.gather(*workers)
        final = (await c.post("/v1/deployments/api/predict", json=body)).json()
    assert failures == [] and len(seen) > 50
    assert 2 in seen and seen[-1] == 1 and final["revision"] == 3 and final["version"] == 1
    assert app.runtime.refresh() == []


async def test_polling_picks_up_a_new_revision(client, register, make_app, rain):
    from shipyard.serving.settings import ServingSettings

    register("rain")
    register("rain")
    client.create_deployment("api", routes=[{"model": "rain", "version": 1}])
    app = make_app(["api"], settings=ServingSettings(poll_interval_s=0.05))
    await app.start()
    client.update_deployment("api", routes=[{"model": "rain", "version": 2}])
    for _ in range(100):
        if app.runtime.get("api").revision == 2:
            break
        await asyncio.sleep(0.05)
    assert app.runtime.get("api").routes[0].version == 2
    await app.aclose()
