"""Creating monitors and running them: window -> checks per model version -> results -> incidents.

    shipyard.monitoring.create_monitor("rain", "rain-api", window="1000 rows",
                                       checks={"performance": {"accuracy": 0.75, "roc_auc": 0.7}},
                                       channels=[{"type": "webhook", "url": "https://hooks.example/x"}])
    run = shipyard.monitoring.run_monitor("rain")    # what `shipyard monitors run rain` does
    run.results[0].check("performance.accuracy")   # a CheckResult

A run reads the window from the prediction log (the newest N rows, or the last T seconds, with
feedback labels joined by request id), splits it by model version (a canary and its stable version,
or a shadow, are judged each against its own training profile), runs the checks, stores one result
per version and opens or resolves incidents.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow.compute as pc

from shipyard.entities import MonitorResult
from shipyard.errors import InvalidInput, NotFound
from shipyard.monitoring._alerts import AlertEvent, update_incidents
from shipyard.monitoring._checks import run_checks
from shipyard.monitoring._spec import MonitorSpec, normalize_spec

if TYPE_CHECKING:
    from datetime import datetime

    import httpx
    import pyarrow as pa

    from shipyard.drift import DatasetProfile
    from shipyard.entities import Monitor
    from shipyard.monitoring._estimated_check import Estimation
    from shipyard.monitoring._skew import SkewContext
    from shipyard.store.base import Store

__all__ = ["MonitorJob", "MonitorRun", "create_monitor", "run_monitor", "update_monitor"]

logger = logging.getLogger("shipyard.monitoring")
# profiles and validation numbers of a version never change
_PROFILE_CACHE: dict[tuple[str, str, str, int], tuple[Any, Any, dict[str, float]]] = {}
_VALIDATION_PREFIXES = ("val_", "valid_", "validation_", "test_", "holdout_", "eval_", "")
_CACHE_LOCK = threading.Lock()


def _store(store: Store | None) -> Store:
    if store is not None:
        return store
    from shipyard.config import resolve_settings
    from shipyard.tracking.client import shared_store

    settings = resolve_settings()
    return shared_store(settings.store_uri, settings.artifact_uri)


def create_monitor(name: str, deployment: str, *, window: Any, reference: Any = "model",
                   checks: dict[str, Any] | None = None, channels: list[Any] | None = None,
                   schedule: str | None = None, task: str | None = None, min_rows: int = 30,
                   min_labeled: int = 30, description: str = "", store: Store | None = None) -> Monitor:
    """Store a monitor of ``deployment`` (see :mod:`shipyard.monitoring._spec` for every setting).
    Raises InvalidInput for a bad setting, NotFound for an unknown deployment, AlreadyExists."""
    spec = normalize_spec(window=window, reference=reference, checks=checks, channels=channels, schedule=schedule,
                          task=task, min_rows=min_rows, min_labeled=min_labeled)
    st = _store(store)
    _check_skew_inputs(st, deployment, spec)
    return st.create_monitor(name, deployment, spec, description)


def _check_skew_inputs(store: Store, deployment: str, spec: dict[str, Any]) -> None:
    """A feature_skew check that leaves its features or entity keys to the deployment's feature
    binding needs a deployment that has one: refused now (InvalidInput) rather than found out at
    every run. An unknown deployment is left to the store, which answers NotFound."""
    settings = MonitorSpec.from_dict(spec).feature_skew
    if settings is None or (settings.features is not None and settings.entity_keys is not None):
        return
    from shipyard.monitoring._skew import _skew_inputs

    try:
        found = store.get_deployment(deployment)
    except NotFound:
        return
    _skew_inputs(settings, found)


def update_monitor(name: str, *, store: Store | None = None, **changes: Any) -> Monitor:
    """Change some settings of a monitor (same keywords as :func:`create_monitor`); the rest stay."""
    st = _store(store)
    monitor = st.get_monitor(name)
    current = monitor.spec
    allowed = {"window", "reference", "checks", "channels", "schedule", "task", "min_rows", "min_labeled"}
    if unknown := set(changes) - allowed - {"description"}:
        raise InvalidInput(f"unknown monitor setting(s): {', '.join(sorted(unknown))}")
    merged: dict[str, Any] = {k: changes.get(k, current.get(k)) for k in allowed}
    spec = normalize_spec(**merged)
    _check_skew_inputs(st, monitor.deployment, spec)
    return st.update_monitor(name, spec, changes.get("description"))


@dataclass
class MonitorRun:
    """What :func:`run_monitor` did: the stored results (one per model version) and the incidents
    that opened or resolved."""

    monitor: str
    run_time: int
    results: list[MonitorResult] = field(default_factory=list)
    events: list[AlertEvent] = field(default_factory=list)

    @property
    def status(self) -> str:
        statuses = {r.status for r in self.results}
        return "alert" if "alert" in statuses else "ok" if "ok" in statuses else "no_data"


def validation_metrics(store: Store, model: str, version: int) -> dict[str, float]:
    """The version's own quality on held-out data: the gate's numbers for it when a gate evaluated
    it (``candidate.<m>`` of its newest run in experiment ``shipyard-gates``), else what its training
    run logged: for each metric a monitor knows, the first of ``val_<m>``, ``valid_<m>``,
    ``validation_<m>``, ``test_<m>``, ``holdout_<m>``, ``eval_<m>`` and ``<m>`` ({} when neither)."""
    from shipyard.monitoring._metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS

    out: dict[str, float] = {}
    gates = store.get_experiment_by_name("shipyard-gates")
    if gates is not None:
        # model names hold no quotes (letters, digits, "_-. "), so the name goes into the filter as is
        runs = store.search_runs([gates.experiment_id], max_results=1, order_by=["start_time DESC"],
                                 filter_string=f"tags.`shipyard.gate.model` = '{model}' and "
                                               f"params.candidate_version = '{int(version)}'")
        for name, value in (runs[0].data.metrics if runs else {}).items():
            metric = name.removeprefix("candidate.")
            if name.startswith("candidate.") and value == value:
                out[metric] = float(value)
    if out:
        return out
    try:
        run_id = store.get_model_version(model, version).run_id
        if not run_id:
            return {}
        logged = store.get_run(run_id).data.metrics
    except NotFound:
        return {}
    for metric in CLASSIFICATION_METRICS + REGRESSION_METRICS:
        for prefix in _VALIDATION_PREFIXES:
            found = logged.get(prefix + metric)
            if found is not None and found == found:  # NaN: not a number to compare with
                out[metric] = float(found)
                break
    return out



def _references(store: Store, spec: MonitorSpec, model: str, version: int,
                ) -> tuple[DatasetProfile | None, DatasetProfile | None, dict[str, float]]:
    """(feature reference, prediction reference, validation metrics) for one model version, cached
    per process."""
    from shipyard.drift import DatasetProfile

    key = (store.uri, str(spec.reference), model, version)
    with _CACHE_LOCK:
        if key in _PROFILE_CACHE:
            return _PROFILE_CACHE[key]
    features = predictions = None
    try:
        from shipyard.models import load_prediction_profile, load_reference_profile
        from shipyard.models._resolve import resolve_model
        from shipyard.registry.client import RegistryClient

        path = resolve_model(f"models:/{model}/{version}", RegistryClient(store=store)).path
        raw_pred = load_prediction_profile(path)
        predictions = DatasetProfile.from_dict(raw_pred) if raw_pred else None
        if spec.reference == "model":
            raw = load_reference_profile(path)
            features = DatasetProfile.from_dict(raw) if raw and raw.get("format") else None
    except NotFound as exc:
        logger.warning("monitor reference of %s v%s: %s", model, version, exc)
    if isinstance(spec.reference, dict):
        ds = spec.reference["dataset"]
        run = store.get_run(ds["run_id"])
        found = [d for d in run.inputs.datasets if d.name == ds["name"] and d.profile]
        if not found:
            raise NotFound(f"run {ds['run_id']} has no logged dataset {ds['name']!r} with a profile")
        features = DatasetProfile.from_dict(found[-1].profile or {})
    baseline = validation_metrics(store, model, version)
    with _CACHE_LOCK:
        _PROFILE_CACHE[key] = (features, predictions, baseline)
    return features, predictions, baseline


_ESTIMATOR_CACHE: dict[tuple[str, str, int], tuple[Any, str | None]] = {}


def _estimation(store: Store, monitor: str, spec: MonitorSpec, model: str, version: int) -> Estimation | None:
    """The version's estimator (fitted and stored on first use, then cached per process) and, per
    estimated metric, whether the realized value of each previous labeled window was within the band."""
    cfg = spec.estimated_performance
    if cfg is None:
        return None
    from shipyard.monitoring._estimated_check import Estimation
    from shipyard.monitoring._estimator_store import version_estimator

    key = (store.uri, model, version)
    with _CACHE_LOCK:
        cached = _ESTIMATOR_CACHE.get(key)
    if cached is None:
        cached = version_estimator(store, model, version)
        if cached[0] is not None:  # a missing estimator is looked for again on the next run
            with _CACHE_LOCK:
                _ESTIMATOR_CACHE[key] = cached
    history: dict[str, list[bool]] = {}
    for result in store.list_monitor_results(monitor, model=model, version=version, max_results=4 * cfg.misses):
        for check in result.checks:
            flag = check.detail.get("within_band")
            if check.check.startswith("estimated_performance.") and isinstance(flag, bool):
                history.setdefault(check.metric, []).append(flag)
    return Estimation(cached[0], cached[1], history)


def read_window(monitor: Monitor, store: Store, now: int, root: str | None = None) -> pa.Table:
    from shipyard.serving.reader import read_prediction_log

    root = root or f"{store.artifact_root.rstrip('/')}/prediction-logs"
    spec = MonitorSpec.from_dict(monitor.spec)
    if spec.window_rows is not None:
        return read_prediction_log(monitor.deployment, None, now, last_rows=spec.window_rows, store=store, root=root)
    seconds = spec.window_seconds or 0
    return read_prediction_log(monitor.deployment, now - seconds * 1000, now, store=store, root=root)


def run_monitor(name: str, *, store: Store | None = None, now: int | None = None, root: str | None = None,
                transport: httpx.BaseTransport | None = None) -> MonitorRun:
    """Run monitor ``name`` once on its current window; store and return what it found.

    ``now`` (ms) ends the window (default: the clock); ``root`` is the prediction log's location
    (default ``<artifact root>/prediction-logs``); ``transport`` is handed to webhook deliveries."""
    st = _store(store)
    monitor = st.get_monitor(name)
    spec = MonitorSpec.from_dict(monitor.spec)
    now = int(time.time() * 1000) if now is None else int(now)
    table = read_window(monitor, st, now, root)
    seconds = spec.window_seconds
    start = now - seconds * 1000 if seconds else table["timestamp"][0].value if table.num_rows else None
    results = []
    versions = _versions(table)
    skew = _skew_context(st, monitor) if spec.feature_skew is not None and versions else None
    for model, version in versions:
        rows = table.filter(pc.and_(pc.equal(table["model"], model), pc.equal(table["version"], version)))
        reference, prediction_reference, baseline = _references(st, spec, model, version)
        estimation = _estimation(st, name, spec, model, version)
        status, checks, features, labeled = run_checks(spec, rows, reference, prediction_reference, baseline,
                                                       estimation, skew)
        results.append(MonitorResult(
            monitor=name, run_time=now, model=model, version=version, status=status, rows=rows.num_rows,
            labeled_rows=labeled, window_start=_ms(start), window_end=now, checks=checks, features=features))
    if not results:  # an empty window is a point of the time series too: the UI shows the gap
        current = st.get_deployment(monitor.deployment).current.routes if _deployment_exists(st, monitor) else []
        for route in current[:1]:
            results.append(MonitorResult(monitor=name, run_time=now, model=route.model, version=route.version,
                                         status="no_data", window_end=now))
    stored = st.log_monitor_results(results)
    events = update_incidents(st, monitor, stored, now, transport)
    logger.info("monitor %s: %s over %d row(s), %d incident change(s)", name,
                ", ".join(f"{r.model} v{r.version} {r.status}" for r in stored) or "no data", table.num_rows,
                len(events))
    return MonitorRun(name, now, stored, events)


def _skew_context(store: Store, monitor: Monitor) -> SkewContext:
    """The feature store over the monitor's own store, and its deployment (for its feature binding)."""
    from shipyard.monitoring._skew import SkewContext

    deployment = store.get_deployment(monitor.deployment) if _deployment_exists(store, monitor) else None
    return SkewContext(store=store, deployment=deployment)


def _ms(value: Any) -> int | None:
    return None if value is None else int(value)


def _deployment_exists(store: Store, monitor: Monitor) -> bool:
    try:
        store.get_deployment(monitor.deployment)
    except NotFound:
        return False
    return True


def _versions(table: pa.Table) -> list[tuple[str, int]]:
    if not table.num_rows:
        return []
    pairs = table.select(["model", "version"]).group_by(["model", "version"]).aggregate([])
    return sorted(zip(pairs["model"].to_pylist(), pairs["version"].to_pylist(), strict=True))


class MonitorJob:
    """A monitor as a scheduler job (``shipyard.pipelines.Scheduler``'s Due protocol): each tick runs
    the monitor on a background thread. The schedule object is built by the caller from
    ``spec["schedule"]`` (``Schedule.parse``), which keeps this layer free of the pipelines package."""

    def __init__(self, name: str, schedule: Any, store: Store, *, run: Callable[..., MonitorRun] = run_monitor,
                 ) -> None:
        self.monitor, self.schedule, self.store, self._run = name, schedule, store, run
        self.name, self.catchup = f"monitor.{name}", False
        self.threads: list[threading.Thread] = []

    def fire(self, tick: datetime) -> None:
        thread = threading.Thread(target=self._safe_run, args=(int(tick.timestamp() * 1000),),
                                  name=f"shipyard-{self.name}", daemon=True)
        self.threads.append(thread)
        thread.start()

    def _safe_run(self, now: int) -> None:
        try:
            self._run(self.monitor, store=self.store)
        except Exception:
            logger.exception("monitor %s failed on its tick at %d", self.monitor, now)
