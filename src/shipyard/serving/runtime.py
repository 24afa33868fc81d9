"""What a serving app has loaded: each deployment's current revision, its models warm and batched.

A :class:`DeploymentState` is immutable once built; the runtime swaps a whole state into its table
in one assignment, so a request sees either the old revision or the new one, never a mix. New models
are loaded and warmed *before* the swap (so they never take traffic cold) and a request keeps the
state it started with, so the old models are released by garbage collection once the last request
holding them finishes: no request fails across a switch. Loading runs in the caller's thread (the
polling thread, or a worker thread under ``arefresh``), never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.entities import DeploymentRevision, Route
from shipyard.errors import NotFound
from shipyard.models._enforce import RecordRows
from shipyard.models._pyfunc import PyFuncModel
from shipyard.serving._feedback import label_kind
from shipyard.serving.batcher import Batcher, concat_inputs
from shipyard.serving.metrics import ServingMetrics
from shipyard.serving.router import Router
from shipyard.serving.settings import ServingSettings

if TYPE_CHECKING:
    from shipyard.serving._features import FeatureLookup

__all__ = ["ADHOC_VERSION", "DeploymentState", "Runtime", "ServedModel"]

#: The version of an ad-hoc route to a model that is not registered (``runs:/...``): its ``model`` is the URI.
ADHOC_VERSION = 0

logger = logging.getLogger(__name__)


class ServedModel:
    """One model version as served by one revision: the loaded model, its batcher and metrics.

    A request's input goes through ``prepare`` (its signature check), then ``batcher.submit``
    (the predictions, with a tag that reaches ``Runtime.on_answered``)."""

    __slots__ = ("_classes", "_runtime", "batcher", "columns", "deployment", "has_proba", "label_kind", "metrics",
                 "model", "pyfunc", "revision", "version")

    def __init__(self, deployment: str, revision: int, route: Route, pyfunc: PyFuncModel,
                 runtime: Runtime, batching: dict[str, int]) -> None:
        self._runtime = runtime
        self.deployment, self.revision = deployment, revision
        self.model, self.version, self.pyfunc = route.model, route.version, pyfunc
        sig = pyfunc.signature
        self.columns: list[str] | None = None if sig is None else list(sig.input_names)
        #: what a feedback label for this model's answers must be (see _feedback.label_kind)
        self.label_kind = label_kind(None if sig is None else sig.outputs)
        self.has_proba = pyfunc.has_predict_proba and runtime.settings.probabilities
        # For these classifiers predict() *is* classes_[argmax(predict_proba())], so one call gives both.
        self._classes = _argmax_classes(pyfunc.raw_model) if self.has_proba else None
        self.metrics = runtime.metrics.route(deployment, revision, route.model, route.version)
        size, wait = runtime.settings.batching(batching)
        self.batcher = Batcher(self._predict, runtime.executor, max_batch_size=size, max_wait_ms=wait,
                               concurrency=runtime.settings.batch_concurrency,
                               on_batch=self.metrics.batch_size.observe, on_answered=self._answered,
                               join=self.model_input)

    def prepare(self, data: Any) -> tuple[Any, int]:
        """Check one request's input (raises InvalidInput naming the column); what the batcher
        takes, and its number of rows. JSON records of numbers stay RecordRows until their batch
        is joined (see PyFuncModel.check)."""
        prepared = self.pyfunc.check(data)  # the model's own signature check, once per request
        return prepared, len(prepared)

    def model_input(self, parts: Sequence[Any]) -> Any | None:
        """What the model is called on for the prepared inputs of one or more requests, in order;
        None when they don't stack (then each request is predicted alone)."""
        if type(parts[0]) is RecordRows and all(type(p) is RecordRows for p in parts):
            return self.pyfunc.join(parts)
        return concat_inputs([self.pyfunc.join([p]) if type(p) is RecordRows else p for p in parts])

    def _predict(self, data: Any) -> tuple[np.ndarray, np.ndarray | None]:
        if self.has_proba and self._classes is not None:
            proba = self.pyfunc.predict_proba(data)
            return self._classes[np.argmax(proba, axis=1)], proba
        if self.has_proba:  # both outputs, the input checked once (one model pass for a LogisticRegression)
            return self.pyfunc.predict_with_proba(data)
        return self.pyfunc.predict(data), None

    def _answered(self, tags: list[Any], data: Any, preds: np.ndarray, proba: np.ndarray | None) -> None:
        hook = self._runtime.on_answered
        if hook is not None:
            hook(self, tags, data, preds, proba)


_PREDICT_IS_ARGMAX_PROBA = {
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._forest.ExtraTreesClassifier",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._classes.ExtraTreeClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "shipyard.models._tensor_models.TorchModel",  # a classifier when logged with classes=
}


def _argmax_classes(model: Any) -> np.ndarray | None:
    """``classes_`` of a model whose ``predict`` is defined as the argmax of ``predict_proba``."""
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    name = f"{type(final).__module__}.{type(final).__qualname__}"
    classes = getattr(final, "classes_", None)
    if name not in _PREDICT_IS_ARGMAX_PROBA or classes is None or getattr(final, "n_outputs_", 1) != 1:
        return None
    return np.asarray(classes)


class DeploymentState:
    """One deployment at one revision, ready to answer: routes, shadows and the traffic split."""

    __slots__ = ("features", "name", "revision", "router", "routes", "shadows", "spec")

    def __init__(self, spec: DeploymentRevision, routes: list[ServedModel], shadows: list[ServedModel],
                 features: FeatureLookup | None = None) -> None:
        self.spec, self.name, self.revision = spec, spec.deployment, spec.revision
        self.routes, self.shadows = routes, shadows
        self.router = Router(spec.routes)
        self.features = features  # None: requests carry the model's input (the fast path)

    def pick(self, key: str | None = None) -> ServedModel:
        routes = self.routes
        return routes[0] if len(routes) == 1 else routes[self.router.pick(key)]


class Runtime:
    """The deployments a serving app answers for, loaded, and kept current with the store.

    ``refresh()`` (thread-safe, blocking) loads any changed revision and swaps it in; the process
    calls it, or ``start_polling(interval)`` runs it on a daemon thread. ``get(name)`` is the
    current state of a deployment for a request.

    ``on_answered(served, tags, data, predictions, probabilities)`` (optional, set by the serving
    app) is called on the event loop once per successful predict call of any served model, with
    the tags of the requests that call answered (see :class:`~shipyard.serving.batcher.Batcher`).
    """

    def __init__(self, store: Any, deployments: Sequence[str] | None = None, *,
                 settings: ServingSettings | None = None, metrics: ServingMetrics | None = None,
                 fixed: Mapping[str, DeploymentRevision] | None = None) -> None:
        from shipyard.registry.client import RegistryClient

        self.store = store
        # Ad-hoc deployments (``shipyard serve models:/name@alias``): a revision held in this process
        # only, never written to the store and never changed by a refresh.
        self._fixed = dict(fixed or {})
        self.names = None if deployments is None else list(dict.fromkeys([*deployments, *self._fixed]))
        self.settings = settings or ServingSettings()
        self.metrics = metrics or ServingMetrics()
        self.executor = ThreadPoolExecutor(self.settings.predict_threads, thread_name_prefix="shipyard-predict")
        self._registry = RegistryClient(store=store)
        self._states: dict[str, DeploymentState] = {}
        self._models: dict[tuple[str, int], PyFuncModel] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self.on_answered: Callable[[ServedModel, list[Any], Any, np.ndarray, np.ndarray | None], None] | None = None
        self.last_error: BaseException | None = None

    # --- what requests use ---------------------------------------------------------------------

    def get(self, name: str) -> DeploymentState:
        state = self._states.get(name)
        if state is None:
            raise NotFound(f"deployment {name!r} is not served here (serving: {sorted(self._states)})")
        return state

    @property
    def deployments(self) -> list[str]:
        return list(self._states)

    @property
    def ready(self) -> bool:
        """Every served deployment has its current revision loaded (and at least one is served)."""
        return bool(self._states) and (self.names is None or all(n in self._states for n in self.names))

    # --- loading -------------------------------------------------------------------------------

    def _load_model(self, route: Route) -> PyFuncModel:
        key = (route.model, route.version)
        found = self._models.get(key)
        if found is not None:
            return found
        from shipyard.models._log import load_model

        # version 0: an ad-hoc route to a model that is not registered (its URI is the model name)
        uri = route.model if route.version == ADHOC_VERSION else f"models:/{route.model}/{route.version}"
        model = load_model(uri, client=self._registry)
        if self.settings.warm:
            example = model.input_example
            if example is not None:
                model.predict(example)
                if model.has_predict_proba:
                    model.predict_proba(example)
        self._models[key] = model
        return model

    def _build(self, spec: DeploymentRevision) -> DeploymentState:
        def served(route: Route) -> ServedModel:
            return ServedModel(spec.deployment, spec.revision, route, self._load_model(route), self, spec.batching)

        features = None
        if spec.features is not None:
            from shipyard.serving._features import FeatureLookup

            size, wait = self.settings.batching(spec.batching)
            features = FeatureLookup(spec.features, self.store, self.executor, max_batch_size=size, max_wait_ms=wait)
        return DeploymentState(spec, [served(r) for r in spec.routes], [served(r) for r in spec.shadow], features)

    def _wanted(self) -> list[str]:
        if self.names is not None:
            return self.names
        return [*(d.name for d in self.store.list_deployments()), *self._fixed]

    def refresh(self) -> list[str]:
        """Load every deployment whose current revision changed and swap it in; names changed.

        A revision that fails to load is logged and skipped (the old one keeps serving, the next
        refresh tries again); with explicit names, a deployment missing at the first load raises.
        """
        changed: list[str] = []
        with self._lock:
            wanted = self._wanted()
            for name in wanted:
                try:
                    spec = self._fixed[name] if name in self._fixed else self.store.get_deployment(name).current
                except NotFound:
                    if self.names is not None and not self._states:
                        raise
                    if self._states.pop(name, None) is not None:
                        self.metrics.forget(name)
                        changed.append(name)
                    continue
                old = self._states.get(name)
                if old is not None and old.revision == spec.revision:
                    continue
                try:
                    state = self._build(spec)
                except Exception as exc:
                    self.last_error = exc
                    if old is None and self.names is not None and not self._poller:
                        raise
                    logger.exception("deployment %r revision %s failed to load; still serving %s",
                                     name, spec.revision, None if old is None else old.revision)
                    continue
                self._states[name] = state  # the swap: one assignment
                self.metrics.revision.labels(name).set(spec.revision)
                self.metrics.set_split(name, spec.revision, spec.routes, spec.shadow)
                changed.append(name)
            for name in [n for n in self._states if n not in wanted]:
                del self._states[name]
                self.metrics.forget(name)
                changed.append(name)
            if changed:
                self._prune()
        return changed

    def _prune(self) -> None:
        """Forget models no current state uses; in-flight requests still hold theirs."""
        used = {(m.model, m.version) for s in self._states.values() for m in (*s.routes, *s.shadows)}
        for key in [k for k in self._models if k not in used]:
            del self._models[key]
        self.metrics.models_loaded.set(len(self._models))

    async def arefresh(self) -> list[str]:
        """``refresh()`` in a worker thread, for callers on the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, self.refresh)

    # --- polling -------------------------------------------------------------------------------

    def start_polling(self, interval: float = 1.0) -> None:
        """Check the store every ``interval`` seconds on a daemon thread (idempotent)."""
        if self._poller is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.refresh()
                except Exception:
                    logger.exception("refreshing deployments failed; retrying in %.1f s", interval)

        self._poller = threading.Thread(target=loop, name="shipyard-deployment-poller", daemon=True)
        self._poller.start()

    def stop_polling(self) -> None:
        poller, self._poller = self._poller, None
        if poller is not None:
            self._stop.set()
            poller.join(timeout=10)

    def close(self) -> None:
        """Stop polling and the worker threads (waits for running predicts)."""
        self.stop_polling()
        self.executor.shutdown(wait=True)
