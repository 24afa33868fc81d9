"""Prometheus metrics of one serving app, in the app's own CollectorRegistry.

A per-app registry (not prometheus_client's global one) keeps two apps in one process -- tests,
or an embedding application -- from double-registering or mixing their numbers. Label children are
cached per (deployment, revision, model, version), because ``.labels()`` costs a dict lookup under
a lock on every request otherwise.

Other parts of the process (monitoring gauges) add their own Prometheus text to ``/metrics``
through an *extra metrics* callable (``create_app(extra_metrics=...)``); a worker process of
``shipyard serve --workers N`` cannot be handed a function object, so there it is named as
``"module:function"`` and imported in each worker (:func:`resolve_extra_metrics`).
"""

from __future__ import annotations

import contextlib
import importlib
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from shipyard.errors import InvalidInput

if TYPE_CHECKING:
    from shipyard.entities import Route

__all__ = ["CONTENT_TYPE_LATEST", "ExtraMetrics", "PredictionLogCollector", "RouteMetrics", "ServingMetrics",
           "extra_metrics_spec", "resolve_extra_metrics"]

#: Returns Prometheus text exposition (format 0.0.4) to append to ``/metrics``; called on each scrape.
ExtraMetrics = Callable[[], "bytes | str"]

_LABELS = ("deployment", "revision", "model", "version")
_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class RouteMetrics:
    """The series of one served model version in one revision (cached, cheap to use).

    The three that move on every request -- requests, rows, latency -- are plain numbers, read by
    ``ServingMetrics``' collector at scrape time. prometheus_client's Counter and Histogram take a
    lock per update: the three per request took 1.7-2.0 us of the event loop's time (timeit), these
    additions 0.2 us. They are only ever updated on the app's event loop (one thread), so they need no
    lock; a scrape reads a snapshot (a list copy is atomic under the GIL). The per-batch and rare
    series stay prometheus_client children."""

    __slots__ = ("batch_size", "created", "labels", "latency", "latency_sum", "requests", "rows", "shadow_errors")

    def __init__(self, metrics: ServingMetrics, labels: tuple[str, str, str, str]) -> None:
        self.labels = labels
        self.created = time.time()
        self.requests = 0
        self.rows = 0
        self.latency = [0] * (len(_LATENCY_BUCKETS) + 1)  # per bucket (not cumulative), the last one +Inf
        self.latency_sum = 0.0
        self.batch_size = metrics.batch_size.labels(*labels)
        self.shadow_errors = metrics.shadow_errors.labels(*labels)

    def answered(self, rows: int, seconds: float) -> None:
        """One request answered with ``rows`` rows, ``seconds`` after it arrived."""
        self.requests += 1
        self.rows += rows
        self.latency[bisect_left(_LATENCY_BUCKETS, seconds)] += 1  # first bound >= seconds: Prometheus' le
        self.latency_sum += seconds

    def shadow_answered(self, rows: int) -> None:
        """Rows a shadow copy answered (counted in rows, not in requests)."""
        self.rows += rows


class ServingMetrics:
    """Counters and histograms of the serving app; ``render()`` is the /metrics body."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._children: dict[tuple[str, str, str, str], RouteMetrics] = {}
        r.register(_RouteCollector(self._children))
        self.errors = Counter("shipyard_serving_errors", "Requests answered with an error, by HTTP status.",
                              (*_LABELS, "code"), registry=r)
        self.batch_size = Histogram("shipyard_serving_batch_size", "Rows per model predict call.", _LABELS,
                                    buckets=_BATCH_BUCKETS, registry=r)
        self.shadow_errors = Counter("shipyard_serving_shadow_errors", "Shadow predictions that failed.",
                                     _LABELS, registry=r)
        self.revision = Gauge("shipyard_serving_revision", "Current revision of each served deployment.",
                              ("deployment",), registry=r)
        self.models_loaded = Gauge("shipyard_serving_models_loaded", "Models loaded and warm.", registry=r)
        self.traffic_share = Gauge("shipyard_serving_traffic_share",
                                   "Share of a deployment's requests (0-1) each model version answers in the "
                                   "current revision; shadows are copies and count 0.", (*_LABELS, "role"),
                                   registry=r)
        self._split: dict[str, list[tuple[str, ...]]] = {}  # deployment -> the traffic_share labels it set

    def set_split(self, deployment: str, revision: int, routes: Sequence[Route], shadows: Sequence[Route]) -> None:
        """The traffic split of ``deployment``'s new current revision (the old revision's series go away)."""
        for labels in self._split.pop(deployment, []):
            self.traffic_share.remove(*labels)
        weights = [max(0.0, float(r.weight)) for r in routes]
        total = sum(weights) or 1.0
        current: list[tuple[str, ...]] = []
        for role, members, shares in (("route", routes, [w / total for w in weights]),
                                      ("shadow", shadows, [0.0] * len(shadows))):
            for route, share in zip(members, shares, strict=True):
                labels = (deployment, str(revision), route.model, str(route.version), role)
                self.traffic_share.labels(*labels).set(share)
                current.append(labels)
        self._split[deployment] = current

    def forget(self, deployment: str) -> None:
        """``deployment`` is no longer served: drop its split and revision series."""
        for labels in self._split.pop(deployment, []):
            self.traffic_share.remove(*labels)
        with contextlib.suppress(KeyError):
            self.revision.remove(deployment)

    def watch_prediction_log(self, logger: Any) -> None:
        """Export ``logger``'s state (buffered rows, lag, rows written and dropped) on each scrape."""
        self.registry.register(PredictionLogCollector(logger))

    def route(self, deployment: str, revision: int, model: str, version: int) -> RouteMetrics:
        key = (deployment, str(revision), model, str(version))
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = RouteMetrics(self, key)
        return found

    def error(self, code: int, deployment: str = "", revision: int | str = "", model: str = "",
              version: int | str = "") -> None:
        self.errors.labels(deployment, str(revision), model, str(version), str(code)).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _RouteCollector:
    """``shipyard_serving_requests``, ``_rows`` and ``_request_latency_seconds`` of every route, read
    from the ``RouteMetrics`` numbers at scrape time (the samples prometheus_client's Counter and
    Histogram would write, ``_created`` included)."""

    def __init__(self, children: dict[tuple[str, str, str, str], RouteMetrics]) -> None:
        self.children = children

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        requests = CounterMetricFamily("shipyard_serving_requests", "Answered prediction requests.", labels=_LABELS)
        rows = CounterMetricFamily("shipyard_serving_rows", "Answered prediction rows.", labels=_LABELS)
        latency = HistogramMetricFamily("shipyard_serving_request_latency_seconds",
                                        "Time from request received to answer ready.", labels=_LABELS)
        bounds = [floatToGoString(b) for b in (*_LATENCY_BUCKETS, float("inf"))]
        for route in list(self.children.values()):
            labels = list(route.labels)
            requests.add_metric(labels, route.requests, created=route.created)
            rows.add_metric(labels, route.rows, created=route.created)
            counts, total = list(route.latency), route.latency_sum
            cumulative, buckets = 0, []
            for bound, count in zip(bounds, counts, strict=True):
                cumulative += count
                buckets.append((bound, float(cumulative)))
            latency.add_metric(labels, buckets, total)
            latency.samples.append(Sample(latency.name + "_created", dict(zip(_LABELS, labels, strict=True)),
                                          route.created, None, None))
        yield from (requests, rows, latency)


class PredictionLogCollector:
    """The prediction log's own health, read from the logger at scrape time (nothing kept in between).

    ``shipyard_prediction_log_lag_seconds`` is how long the oldest answered row still in memory has
    waited to be written: how far behind monitors read, and what a kill -9 of this process would
    lose without a write-ahead file (with one, the next replica on its folder ships those rows:
    ``shipyard_prediction_log_recovered_rows``). The counters are this process's since it started."""

    def __init__(self, logger: Any) -> None:
        self.logger = logger

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        log = self.logger
        lag = GaugeMetricFamily("shipyard_prediction_log_lag_seconds",
                                "Age of the oldest answered row not yet written to the prediction log.")
        lag.add_metric([], log.lag_s)
        buffered = GaugeMetricFamily("shipyard_prediction_log_buffered_rows",
                                     "Answered rows held in memory, not yet written.")
        buffered.add_metric([], log.buffered_rows)
        written = CounterMetricFamily("shipyard_prediction_log_written_rows", "Rows written to the prediction log.")
        written.add_metric([], log.rows_written)
        dropped = CounterMetricFamily("shipyard_prediction_log_dropped_rows",
                                      "Rows the prediction log could not write (see the process log).")
        dropped.add_metric([], log.dropped_rows)
        segments = CounterMetricFamily("shipyard_prediction_log_segments_written", "Segment files written.")
        segments.add_metric([], log.segments_written)
        recovered = CounterMetricFamily("shipyard_prediction_log_recovered_rows",
                                        "Rows of stopped processes' write-ahead files this process shipped.")
        recovered.add_metric([], getattr(log, "recovered_rows", 0))
        yield from (lag, buffered, written, dropped, segments, recovered)


def resolve_extra_metrics(spec: ExtraMetrics | str | None) -> ExtraMetrics | None:
    """The callable itself, or the one a ``"module:function"`` string names (imported now).

    Raises InvalidInput for a malformed spec, a module or attribute that does not exist, or a
    value that is not callable, so a typo fails when the server starts, not at the first scrape."""
    if spec is None or callable(spec):
        return spec
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise InvalidInput(f"extra metrics must be a callable or a 'module:function' string, got {spec!r}")
    module_name, attr = spec.split(":")
    try:
        target: object = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(f"extra metrics {spec!r} cannot be imported: {type(exc).__name__}: {exc}") from None
    if not callable(target):
        raise InvalidInput(f"extra metrics {spec!r} is not callable")
    return target  # type: ignore[return-value]


def extra_metrics_spec(value: ExtraMetrics | str | None) -> str | None:
    """The ``"module:function"`` a worker process can import to get ``value`` back.

    A string is checked by importing it; a callable must be a module-level function or attribute
    (not a lambda, a closure or something defined in ``__main__``, which a worker cannot import)."""
    if value is None:
        return None
    if isinstance(value, str):
        resolve_extra_metrics(value)
        return value
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    spec = f"{module}:{qualname}"
    if module and qualname and module != "__main__" and "<" not in qualname:
        try:
            if resolve_extra_metrics(spec) is value:
                return spec
        except InvalidInput:
            pass
    raise InvalidInput(f"extra metrics {value!r} cannot be imported by a worker process: pass a module-level "
                       "function, or its 'module:function' name")
