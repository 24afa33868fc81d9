"""Triggers read the monitors' stored results; the policy's cool-down and incident memory gate them."""

from __future__ import annotations

import pytest

from shipyard.automation._triggers import parse_trigger
from shipyard.entities import Alert, CheckResult, MonitorResult, PolicyEvent, Route
from shipyard.errors import InvalidInput


class _Policy:
    name, model, created_ms = "p", "rain", 0


@pytest.fixture
def store():
    import shipyard

    client = shipyard.Client()
    client.store.create_model_version("rain", "/m")
    client.store.create_deployment("rain-api", [Route("rain", 1, 100)])
    client.store.create_monitor("rain", "rain-api", {"window": {"rows": 10}, "checks": {}, "channels": []})
    return client.store


def _result(store, t: int, auc: float, drifted=()):
    checks = [CheckResult("performance.roc_auc", "roc_auc", auc, 0.7, "min", auc >= 0.7)]
    features = [{"column": c, "drifted": c in drifted} for c in ("dew point", "visibility", "temperature")]
    store.log_monitor_results([MonitorResult("rain", t, "rain", 1, "ok", 100, 100, checks=checks,
                                             features=features)])


def test_monitor_performance_and_drift_triggers(store):
    monitor = parse_trigger({"monitor": "rain", "checks": ["performance.roc_auc"]})
    perf = parse_trigger({"performance": {"monitor": "rain", "metric": "roc_auc", "below": 0.6}})
    drift = parse_trigger({"drift": {"monitor": "rain", "columns": ["dew point"]}})
    share = parse_trigger({"drift": {"monitor": "rain", "share": 0.5}})
    assert [t.check(store, _Policy, 0) for t in (monitor, perf, drift, share)] == [None] * 4  # no results yet
    _result(store, 1, 0.65, drifted=["visibility"])
    fired = monitor.check(store, _Policy, 1)
    assert fired["trigger"] == "monitor" and fired["checks"] == {"performance.roc_auc": 0.65}
    assert perf.check(store, _Policy, 1) is None  # 0.65 is not below 0.6
    assert drift.check(store, _Policy, 1) is None and share.check(store, _Policy, 1) is None  # harmless drift
    store.open_alert(Alert("", "rain", "performance.roc_auc", "rain", 1, "OPEN", 2, value=0.5))
    _result(store, 2, 0.5, drifted=["dew point", "visibility"])
    assert perf.check(store, _Policy, 2)["reason"] == "roc_auc = 0.5 < 0.6"
    assert drift.check(store, _Policy, 2)["drifted"] == ["dew point"]
    assert share.check(store, _Policy, 2)["drift_share"] == pytest.approx(2 / 3)
    assert len(monitor.check(store, _Policy, 2)["incident"]) == 1  # the open alert behind it


def test_schedule_trigger_fires_once_per_tick(store):
    trigger = parse_trigger({"schedule": "every 1h"})
    hour = 3_600_000
    fired = trigger.check(store, _Policy, 5 * hour + 10)
    assert fired["tick"] == 5 * hour
    store.add_policy_event(PolicyEvent("p", "rain-api", "triggered", data=fired))
    assert trigger.check(store, _Policy, 5 * hour + 20) is None  # this tick was taken
    assert trigger.check(store, _Policy, 6 * hour + 1)["tick"] == 6 * hour


def test_new_data_trigger_and_bad_triggers(store):
    seen = []
    trigger = parse_trigger({"new_data": lambda st, policy: seen.append(policy.name) or {"rows": 500}})
    assert trigger.check(store, _Policy, 0) == {"trigger": "new_data", "reason": "new data", "rows": 500}
    assert seen == ["p"]
    for bad in ({}, {"monitor": "rain", "extra": 1}, {"performance": {"monitor": "rain", "metric": "auc"}},
                {"schedule": "sometimes"}, {"weather": "rain"}, "monitor"):
        with pytest.raises(InvalidInput):
            parse_trigger(bad)
