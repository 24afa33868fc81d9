"""A monitor's configuration: parsed and checked once, stored as plain JSON in the store.

    {
      "window": {"rows": 1000} | {"seconds": 3600},
      "reference": "model" | {"dataset": {"run_id": "...", "name": "train"}},
      "task": null | "classification" | "regression",
      "min_rows": 30, "min_labeled": 30,
      "checks": {
        "feature_drift":    {"share": 0.5, "columns": null, "test": null, "thresholds": {}, "correction": null},
        "prediction_drift": {"test": null, "threshold": null, "min_effect": 0.1},
        "performance":      {"accuracy": 0.75, "mae": {"max": 30}, "relative_drop": 0.1},
        "data_quality":     {"missing_share": 0.1, "out_of_range_share": 0.1, "new_category_share": 0.1},
        "service":          {"error_rate": 0.05, "p99_latency_ms": null},
        "estimated_performance": {"roc_auc": 0.75, "relative_drop": 0.1, "misses": 3},  # off unless given
        "feature_skew": {"max_mismatch_share": 0.01, "features": null | ["view:feature"],  # off unless given
                         "entity_keys": null | ["station_id"], "tolerance": 1e-6, "sample": 1000}
      },
      "channels": [{"type": "log"}, {"type": "webhook", "url": "...", "format": "json" | "slack"},
                   {"type": "command", "argv": ["notify-send", "shipyard"]}],
      "schedule": null | "every 10m" | "*/5 * * * *"
    }

Every check is on unless set to ``false``, but ``estimated_performance`` (off unless given: it
fits an estimator per version, see ``_estimator_store``) and ``feature_skew`` (off unless given: it
recomputes features offline; its ``features`` and ``entity_keys`` default to the deployment's feature
binding, see ``_skew``); a check's thresholds default as in
``DEFAULT_CHECKS``. ``estimated_performance`` takes thresholds and ``relative_drop`` like
``performance`` (on the estimated metrics: accuracy, precision, recall, F1, ROC AUC; MAE, RMSE,
MAPE), and ``misses``: after that many labeled windows in a row whose realized metric fell outside
the estimate's band, the check reports that the estimate's assumptions no longer hold.
Performance is always measured when feedback exists. It alerts on the metrics given thresholds
and, for every other metric that the served version's training run logged (its validation
numbers, see ``_baseline``), when the window is worse than that number by more than
``relative_drop`` of it (default 0.1: an accuracy logged as 0.90 alerts below 0.81; ``null``
turns this off). ``prediction_drift.test`` null means chi-square on the class counts for binary
and categorical predictions and the automatic choice of ``shipyard.drift`` for numbers.

The stored JSON is what :func:`normalize_spec` returns; code reads it as a :class:`MonitorSpec`.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from shipyard.errors import InvalidInput
from shipyard.monitoring._metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS, parse_threshold

__all__ = ["CHECKS", "DEFAULT_CHECKS", "DEFAULT_RELATIVE_DROP", "MonitorSpec", "normalize_spec", "parse_window"]

DEFAULT_RELATIVE_DROP = 0.1

DEFAULT_CHECKS: dict[str, dict[str, Any]] = {
    "feature_drift": {"share": 0.5, "columns": None, "test": None, "thresholds": {}, "correction": None},
    "prediction_drift": {"test": None, "threshold": None, "min_effect": 0.1},
    "performance": {},
    "data_quality": {"missing_share": 0.1, "out_of_range_share": 0.1, "new_category_share": 0.1},
    "service": {"error_rate": 0.05, "p99_latency_ms": None},
    "estimated_performance": {"misses": 3},
    "feature_skew": {"max_mismatch_share": 0.01, "features": None, "entity_keys": None, "tolerance": 1e-6,
                     "sample": 1000},
}
OFF_UNLESS_GIVEN = frozenset({"estimated_performance", "feature_skew"})
ESTIMATED_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "mae", "rmse", "mape")
CHECKS = tuple(DEFAULT_CHECKS)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_WINDOW = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(rows?|s|sec|m|min|h|d)\s*$")
_CHANNELS = ("log", "webhook", "command")


def parse_window(window: Any) -> dict[str, int]:
    """``1000`` or ``"1000 rows"`` -> {"rows": 1000}; ``"1h"``, ``"30m"``, ``"90s"``, a timedelta -> seconds."""
    import datetime as dt

    if isinstance(window, dict) and len(window) == 1 and next(iter(window)) in ("rows", "seconds"):
        kind, amount = next(iter(window.items()))
    elif isinstance(window, dt.timedelta):
        kind, amount = "seconds", window.total_seconds()
    elif isinstance(window, int) and not isinstance(window, bool):
        kind, amount = "rows", window
    elif isinstance(window, str) and (m := _WINDOW.match(window)):
        unit = m.group(2)
        kind = "rows" if unit.startswith("row") else "seconds"
        amount = float(m.group(1)) * (1 if kind == "rows" else _UNITS[unit])
    else:
        raise InvalidInput(f"window must be a row count (1000, '1000 rows') or a time span ('1h', '30m'), "
                           f"got {window!r}")
    if isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 1 or amount != int(amount):
        raise InvalidInput(f"window {kind} must be a whole number >= 1, got {amount!r}")
    return {kind: int(amount)}


def _share(check: str, key: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InvalidInput(f"checks.{check}.{key} must be a share from 0 to 1 (or null), got {value!r}")
    return float(value)


def _check(name: str, given: Any) -> dict[str, Any] | bool:
    if given is False:
        return False
    if given is None or given is True:
        given = {}
    if not isinstance(given, dict):
        raise InvalidInput(f"checks.{name} must be an object of settings, true or false, got {given!r}")
    if name in ("performance", "estimated_performance"):
        out: dict[str, Any] = {}
        known = CLASSIFICATION_METRICS + REGRESSION_METRICS if name == "performance" else ESTIMATED_METRICS
        if name == "estimated_performance":
            misses = given.get("misses", 3)
            if isinstance(misses, bool) or not isinstance(misses, int) or misses < 1:
                raise InvalidInput(f"checks.estimated_performance.misses must be an integer >= 1, got {misses!r}")
            out["misses"] = misses
        if "relative_drop" in given:
            drop = given["relative_drop"]
            if drop is not None and (isinstance(drop, bool) or not isinstance(drop, int | float) or not 0 < drop < 1):
                raise InvalidInput(f"checks.{name}.relative_drop must be a share between 0 and 1 (or null), "
                                   f"got {drop!r}")
            out["relative_drop"] = None if drop is None else float(drop)
        for metric, spec in given.items():
            if metric in ("relative_drop", "misses"):
                continue
            if metric not in known:
                raise InvalidInput(f"checks.{name}: unknown metric {metric!r} (known: {', '.join(known)})")
            op, bound = parse_threshold(metric, spec)
            out[metric] = {op: bound}
        return out
    defaults = DEFAULT_CHECKS[name]
    unknown = set(given) - set(defaults)
    if unknown:
        raise InvalidInput(f"checks.{name}: unknown setting(s) {', '.join(sorted(unknown))} "
                           f"(known: {', '.join(defaults)})")
    out = {**copy.deepcopy(defaults), **given}
    if name == "feature_drift":
        out["share"] = _share(name, "share", out["share"])
        if out["columns"] is not None and not (isinstance(out["columns"], list)
                                               and all(isinstance(c, str) for c in out["columns"])):
            raise InvalidInput("checks.feature_drift.columns must be a list of column names or null")
        if not isinstance(out["thresholds"], dict):
            raise InvalidInput("checks.feature_drift.thresholds must map column names to thresholds")
        if out["correction"] not in (None, "bh"):
            raise InvalidInput("checks.feature_drift.correction must be null or 'bh' (Benjamini-Hochberg)")
    elif name == "prediction_drift":
        effect = out["min_effect"]
        if isinstance(effect, bool) or not isinstance(effect, int | float) or effect < 0:
            raise InvalidInput(f"checks.prediction_drift.min_effect must be a number >= 0 (Cohen's w), got {effect!r}")
    elif name == "data_quality":
        out = {k: _share(name, k, v) for k, v in out.items()}
    elif name == "feature_skew":
        out = _feature_skew(out)
    elif name == "service":
        out["error_rate"] = _share(name, "error_rate", out["error_rate"])
        p99 = out["p99_latency_ms"]
        if p99 is not None and (isinstance(p99, bool) or not isinstance(p99, int | float) or p99 <= 0):
            raise InvalidInput(f"checks.service.p99_latency_ms must be a positive number of ms, got {p99!r}")
    return out


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def _feature_skew(out: dict[str, Any]) -> dict[str, Any]:
    out["max_mismatch_share"] = _share("feature_skew", "max_mismatch_share", out["max_mismatch_share"])
    features, keys = out["features"], out["entity_keys"]
    # null: taken from the deployment's feature binding (checked when the monitor is created, see _runner)
    if features is not None:
        if not (isinstance(features, list) and features and all(
                isinstance(f, str) and f.count(":") == 1 and all(_IDENTIFIER.match(p) for p in f.split(":"))
                for f in features)):
            raise InvalidInput("checks.feature_skew.features must be a non-empty list of 'view:feature' references "
                               f"(or left out: the deployment's feature binding), got {features!r}")
        names = [f.split(":")[1] for f in features]
        if len(set(names)) != len(names):
            raise InvalidInput("checks.feature_skew.features: two references name the same feature; the prediction "
                               "log holds one column per feature name")
    if keys is not None and not (isinstance(keys, list) and keys and all(
            isinstance(k, str) and _IDENTIFIER.match(k) for k in keys)):
        raise InvalidInput("checks.feature_skew.entity_keys must be a non-empty list of join-key names (or left "
                           f"out: the deployment's feature binding), got {keys!r}")
    tolerance = out["tolerance"]
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not 0 <= tolerance < float("inf"):
        raise InvalidInput(f"checks.feature_skew.tolerance must be a number >= 0, got {tolerance!r}")
    out["tolerance"] = float(tolerance)
    sample = out["sample"]
    if sample is not None and (isinstance(sample, bool) or not isinstance(sample, int) or sample < 1):
        raise InvalidInput(f"checks.feature_skew.sample must be an integer >= 1 (or null: every row), got {sample!r}")
    return out


def _channel(given: Any) -> dict[str, Any]:
    if isinstance(given, str) and given in ("log",):
        given = {"type": given}
    if not isinstance(given, dict) or given.get("type") not in _CHANNELS:
        raise InvalidInput(f"a channel is {{'type': one of {', '.join(_CHANNELS)}, ...}}, got {given!r}")
    out = dict(given)
    if out["type"] == "webhook":
        url = out.get("url")
        if not isinstance(url, str) or not re.match(r"^https?://", url):
            raise InvalidInput(f"a webhook channel needs an http(s) url, got {url!r}")
        out.setdefault("format", "json")
        if out["format"] not in ("json", "slack"):
            raise InvalidInput(f"webhook format must be 'json' or 'slack', got {out['format']!r}")
        out.setdefault("retries", 3)
        out.setdefault("backoff_s", 1.0)
        out.setdefault("timeout_s", 5.0)
    elif out["type"] == "command":
        argv = out.get("argv")
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise InvalidInput(f"a command channel needs argv, a non-empty list of strings, got {argv!r}")
        out.setdefault("timeout_s", 30.0)
    return out


def normalize_spec(*, window: Any, reference: Any = "model", checks: dict[str, Any] | None = None,
                   channels: list[Any] | None = None, schedule: str | None = None, task: str | None = None,
                   min_rows: int = 30, min_labeled: int = 30) -> dict[str, Any]:
    """The full, checked spec; raises InvalidInput naming the first thing wrong."""
    checks = dict(checks or {})
    unknown = set(checks) - set(CHECKS)
    if unknown:
        raise InvalidInput(f"unknown check(s) {', '.join(sorted(unknown))} (known: {', '.join(CHECKS)})")
    if reference != "model":
        ds = reference.get("dataset") if isinstance(reference, dict) else None
        if not (isinstance(ds, dict) and isinstance(ds.get("run_id"), str) and isinstance(ds.get("name"), str)):
            raise InvalidInput("reference must be 'model' (the served version's training profile) or "
                               f"{{'dataset': {{'run_id': ..., 'name': ...}}}} (a logged dataset), got {reference!r}")
    if task not in (None, "classification", "regression"):
        raise InvalidInput(f"task must be 'classification', 'regression' or None (inferred), got {task!r}")
    for key, value in (("min_rows", min_rows), ("min_labeled", min_labeled)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInput(f"{key} must be an integer >= 1, got {value!r}")
    if schedule is not None and not isinstance(schedule, str):
        raise InvalidInput(f"schedule must be a string such as 'every 10m' or a cron expression, got {schedule!r}")
    return {
        "window": parse_window(window),
        "reference": reference,
        "task": task,
        "min_rows": min_rows,
        "min_labeled": min_labeled,
        "checks": {name: _check(name, checks.get(name, False if name in OFF_UNLESS_GIVEN else None))
                   for name in CHECKS},
        "channels": [_channel(c) for c in (channels if channels is not None else [{"type": "log"}])],
        "schedule": schedule,
    }


# -- the typed view --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Threshold:
    """A bound on a performance metric: the value must be at least (``op="min"``) or at most ("max") it."""

    metric: str
    op: str
    bound: float


@dataclass(frozen=True)
class FeatureDriftSettings:
    share: float | None
    columns: tuple[str, ...] | None
    test: str | None
    thresholds: dict[str, float]
    correction: str | None


@dataclass(frozen=True)
class PredictionDriftSettings:
    test: str | None
    threshold: float | None
    min_effect: float = 0.1  # Cohen's w a change of class shares must reach to alert


@dataclass(frozen=True)
class PerformanceSettings:
    thresholds: tuple[Threshold, ...]
    relative_drop: float | None = DEFAULT_RELATIVE_DROP

    def bound(self, metric: str) -> Threshold | None:
        return next((t for t in self.thresholds if t.metric == metric), None)


@dataclass(frozen=True)
class EstimatedSettings:
    """Thresholds on estimated metrics (``relative_drop`` against the version's validation numbers,
    as for ``performance``) and how many labeled windows in a row outside the band (``misses``)
    mean the estimate's assumptions no longer hold."""

    thresholds: tuple[Threshold, ...]
    relative_drop: float | None = DEFAULT_RELATIVE_DROP
    misses: int = 3

    def bound(self, metric: str) -> Threshold | None:
        return next((t for t in self.thresholds if t.metric == metric), None)


@dataclass(frozen=True)
class DataQualitySettings:
    missing_share: float | None
    out_of_range_share: float | None
    new_category_share: float | None


@dataclass(frozen=True)
class ServiceSettings:
    error_rate: float | None
    p99_latency_ms: float | None


@dataclass(frozen=True)
class FeatureSkewSettings:
    """Served feature values against the feature store's offline values: ``features`` are
    ``view:feature`` references, ``entity_keys`` the join keys logged with each request; None for
    either: the monitored deployment's feature binding gives it."""

    max_mismatch_share: float | None
    features: tuple[str, ...] | None
    entity_keys: tuple[str, ...] | None
    tolerance: float = 1e-6
    sample: int | None = 1000


@dataclass(frozen=True)
class MonitorSpec:
    """A monitor's settings as :func:`normalize_spec` checked them; None for a check set to false."""

    window_rows: int | None
    window_seconds: int | None
    reference: str | dict[str, Any]
    task: str | None
    min_rows: int
    min_labeled: int
    feature_drift: FeatureDriftSettings | None
    prediction_drift: PredictionDriftSettings | None
    performance: PerformanceSettings | None
    data_quality: DataQualitySettings | None
    service: ServiceSettings | None
    channels: tuple[dict[str, Any], ...]
    estimated_performance: EstimatedSettings | None
    schedule: str | None
    feature_skew: FeatureSkewSettings | None = None

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> MonitorSpec:
        """The typed view of a stored spec (any spec :func:`normalize_spec` ever wrote)."""
        checks = spec.get("checks", {})

        def on(name: str) -> dict[str, Any] | None:
            given = checks.get(name, False if name in OFF_UNLESS_GIVEN else DEFAULT_CHECKS[name])
            if given is False:
                return None
            return {**DEFAULT_CHECKS[name], **(given if isinstance(given, dict) else {})}

        fd, pd_, perf, dq, sv, est, skew = (on(n) for n in CHECKS)
        window = spec["window"]
        return cls(
            window_rows=window.get("rows"), window_seconds=window.get("seconds"),
            reference=spec.get("reference", "model"), task=spec.get("task"),
            min_rows=int(spec.get("min_rows", 30)), min_labeled=int(spec.get("min_labeled", 30)),
            feature_drift=None if fd is None else FeatureDriftSettings(
                fd["share"], None if fd["columns"] is None else tuple(fd["columns"]), fd["test"],
                dict(fd["thresholds"] or {}), fd["correction"]),
            prediction_drift=None if pd_ is None else PredictionDriftSettings(pd_["test"], pd_["threshold"],
                                                                                   float(pd_["min_effect"])),
            performance=None if perf is None else PerformanceSettings(
                tuple(Threshold(m, *next(iter(t.items()))) for m, t in perf.items() if m != "relative_drop"),
                perf.get("relative_drop", DEFAULT_RELATIVE_DROP)),
            data_quality=None if dq is None else DataQualitySettings(
                dq["missing_share"], dq["out_of_range_share"], dq["new_category_share"]),
            service=None if sv is None else ServiceSettings(sv["error_rate"], sv["p99_latency_ms"]),
            channels=tuple(spec.get("channels", ())), schedule=spec.get("schedule"),
            estimated_performance=None if est is None else EstimatedSettings(
                tuple(Threshold(m, *next(iter(t.items()))) for m, t in est.items()
                      if m not in ("relative_drop", "misses")),
                est.get("relative_drop", DEFAULT_RELATIVE_DROP), int(est.get("misses", 3))),
            feature_skew=None if skew is None else FeatureSkewSettings(
                skew["max_mismatch_share"], None if skew["features"] is None else tuple(skew["features"]),
                None if skew["entity_keys"] is None else tuple(skew["entity_keys"]),
                float(skew["tolerance"]), skew["sample"]),
        )
