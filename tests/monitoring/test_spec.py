"""Monitor settings: parsed once, defaults filled in, every mistake named."""

from __future__ import annotations

import datetime as dt

import pytest

from shipyard.errors import InvalidInput
from shipyard.monitoring import normalize_spec, parse_window


@pytest.mark.parametrize(("given", "expected"), [
    (1000, {"rows": 1000}), ("1000 rows", {"rows": 1000}), ("1h", {"seconds": 3600}), ("30m", {"seconds": 1800}),
    ("90s", {"seconds": 90}), ("2d", {"seconds": 172800}), (dt.timedelta(minutes=5), {"seconds": 300}),
    ({"rows": 5}, {"rows": 5}),
])
def test_windows(given, expected):
    assert parse_window(given) == expected


@pytest.mark.parametrize("bad", [0, -3, "soon", "1.5 rows", True, None, {"minutes": 3}])
def test_bad_windows(bad):
    with pytest.raises(InvalidInput, match="window"):
        parse_window(bad)


def test_defaults_and_overrides():
    spec = normalize_spec(window=500, checks={"performance": {"accuracy": 0.8, "mae": {"max": 3}},
                                              "service": {"p99_latency_ms": 50}, "data_quality": False})
    assert spec["checks"]["performance"] == {"accuracy": {"min": 0.8}, "mae": {"max": 3.0}}
    assert spec["checks"]["service"] == {"error_rate": 0.05, "p99_latency_ms": 50}
    assert spec["checks"]["data_quality"] is False and spec["checks"]["feature_drift"]["share"] == 0.5
    assert spec["channels"] == [{"type": "log"}] and spec["reference"] == "model"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"checks": {"drift": {}}}, "unknown check"),
    ({"checks": {"performance": {"auc": 0.7}}}, "unknown metric"),
    ({"checks": {"feature_drift": {"share": 2}}}, "share from 0 to 1"),
    ({"checks": {"feature_drift": {"colums": ["a"]}}}, "unknown setting"),
    ({"channels": [{"type": "webhook", "url": "ftp://x"}]}, "http"),
    ({"channels": [{"type": "command", "argv": "rm -rf /"}]}, "argv"),
    ({"channels": [{"type": "pager"}]}, "channel"),
    ({"reference": "training"}, "reference"),
    ({"task": "ranking"}, "task"),
    ({"min_labeled": 0}, "min_labeled"),
])
def test_mistakes_are_named(kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        normalize_spec(window=100, **kwargs)
