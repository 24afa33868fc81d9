"""The endpoints of the serving app, one coroutine each, sharing one prediction path.

Every prediction goes: pick the route (weights, or the routing key's hash) -> validate this
request's rows against that model's signature (a 400 naming the column, nothing logged) -> the
model's batcher -> answer; then shadow copies are scheduled as background tasks. The answered rows
reach the prediction logger from the batcher: each request hands its ids, time and start with its
input (a :class:`_Ticket`), and every predict call gives the logger one block for all the requests
it answered (``_log_answered``), so the log costs per batch, not per request. A model that raises
gives a 500 carrying the request ids, and its rows are logged too, with null predictions and the
error (so monitoring can count failures); a shadow that raises is logged the same way. Rejected
input is the client's fault and not logged: a request over ``max_rows`` rows (413), a null in a
required column, a string in a number column or an integer out of its column's range (400, naming
the column and row) never reaches the model, so it cannot move the error rate monitors and
rollouts watch. Feedback is checked too (see :mod:`shipyard.serving._feedback`): the request id
must be one this deployment answered, and the label one value of the type the model predicts.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from importlib import metadata
from typing import Any

import numpy as np
import orjson

from shipyard.entities import Feedback
from shipyard.errors import InvalidInput, NotFound, ShipyardError
from shipyard.serving._feedback import ServedIds, check_label, find_in_log, label_kind, served_at_ms, unknown_ids
from shipyard.serving._predlog_schema import RecordBlock, error_text
from shipyard.serving._request_ids import request_ids
from shipyard.serving.batcher import Answer
from shipyard.serving.metrics import CONTENT_TYPE_LATEST, ExtraMetrics
from shipyard.serving.protocols import (
    PayloadTooLarge,
    PredictionFailed,
    parse_json,
    parse_rows,
    parse_v2,
    row_count,
    signature_datatype,
    v2_outputs,
)
from shipyard.serving.runtime import DeploymentState, Runtime, ServedModel
from shipyard.serving.settings import ServingSettings

__all__ = ["Handlers"]

logger = logging.getLogger(__name__)

_JSON = [(b"content-type", b"application/json")]
_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]
_Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]
_Outcome = tuple[ServedModel, Answer, list[str]]


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


class _Ticket:
    """What the log needs of one request, carried through the batcher with its input; ``keys``:
    the entity key columns of a deployment served with features (None otherwise)."""

    __slots__ = ("ids", "keys", "shadow", "stamp", "started")

    def __init__(self, ids: list[str], stamp: int, started: float, shadow: bool,
                 keys: dict[str, np.ndarray] | None = None) -> None:
        self.ids, self.stamp, self.started, self.shadow, self.keys = ids, stamp, started, shadow, keys


def _features(prepared: Any) -> Any:
    """What the model saw, for the log: its 2-D array as is, or {column: array}."""
    if isinstance(prepared, np.ndarray):
        return prepared if prepared.ndim == 2 else prepared.reshape(len(prepared), -1)
    if hasattr(prepared, "columns"):
        return {str(c): prepared[c].to_numpy() for c in prepared.columns}
    return {"input": np.asarray(list(prepared), dtype=object)}


def _with_keys(features: Any, names: list[str] | None, keys: dict[str, np.ndarray] | None) -> Any:
    """The logged features with the entity key columns first (a deployment served with features)."""
    if keys is None:
        return features
    if not isinstance(features, dict):
        cols = names or [str(i) for i in range(features.shape[1])]
        features = {name: features[:, i] for i, name in enumerate(cols)}
    return {**keys, **{k: v for k, v in features.items() if k not in keys}}


def _joined_keys(tickets: list[_Ticket]) -> dict[str, np.ndarray] | None:
    """The entity keys of a batch's requests, in order (every request of one served model's batch
    comes from the same revision, so all carry keys or none do)."""
    first = tickets[0].keys
    if first is None or len(tickets) == 1:
        return first
    return {k: np.concatenate([t.keys[k] for t in tickets if t.keys is not None]) for k in first}


class Handlers:
    def __init__(self, runtime: Runtime, settings: ServingSettings, prediction_logger: Any = None,
                 extra_metrics: ExtraMetrics | None = None) -> None:
        self.runtime = runtime
        self.settings = settings
        self.metrics = runtime.metrics
        self.prediction_logger = prediction_logger
        self.extra_metrics = extra_metrics
        self._extra_failing = False
        self._shadow_tasks: set[asyncio.Task[None]] = set()
        self.served_ids = ServedIds(settings.feedback_recent_ids)
        if prediction_logger is not None:
            runtime.on_answered = self._log_answered

    # --- the prediction path -------------------------------------------------------------------

    async def _predict(self, state: DeploymentState, data: Any, key: str | None,
                       served: ServedModel | None = None) -> _Outcome:
        started = time.perf_counter()
        stamp = int(time.time() * 1000)
        served = served or state.pick(key)
        if row_count(data) > self.settings.max_rows:
            self.metrics.error(413, state.name, state.revision, served.model, served.version)
            big = PayloadTooLarge(f"request has {row_count(data)} rows, over the limit of {self.settings.max_rows} "
                                  "rows per request: send them in several requests")
            big.counted = True  # type: ignore[attr-defined]
            raise big
        keys = None
        try:
            if state.features is not None:  # entity keys in, the features looked up: the model's input
                data, keys, _ = await state.features.assemble(data)
            prepared, rows = served.prepare(data)
        except ShipyardError as exc:
            self.metrics.error(exc.http_status, state.name, state.revision, served.model, served.version)
            exc.counted = True  # type: ignore[attr-defined]
            raise
        except (ValueError, TypeError) as exc:  # a shape the adapter did not anticipate: still bad input
            self.metrics.error(400, state.name, state.revision, served.model, served.version)
            bad = InvalidInput(f"input could not be read: {exc}")
            bad.counted = True  # type: ignore[attr-defined]
            raise bad from None
        ids = request_ids(stamp, rows)
        self.served_ids.add(state.name, ids, served.label_kind)
        ticket = None if self.prediction_logger is None else _Ticket(ids, stamp, started, False, keys)
        try:
            answer = await served.batcher.submit(prepared, rows, ticket)
        except Exception as exc:
            self.metrics.error(500, state.name, state.revision, served.model, served.version)
            logger.exception("model %s version %s failed on request %s", served.model, served.version, ids[0])
            if self.prediction_logger is not None:
                self._log_failed(state, served, prepared, ids, stamp, time.perf_counter() - started,
                                 shadow=False, error=error_text(exc), keys=keys)
            failed = PredictionFailed(f"model {served.model!r} version {served.version} failed on request "
                                      f"{ids[0]}: {type(exc).__name__}: {exc}", ids)
            failed.counted = True  # type: ignore[attr-defined]
            raise failed from None
        elapsed = time.perf_counter() - started
        served.metrics.answered(rows, elapsed)
        for shadow in state.shadows:
            task = asyncio.get_running_loop().create_task(self._shadow(state, shadow, data, ids, stamp, started,
                                                                       keys))
            self._shadow_tasks.add(task)
            task.add_done_callback(self._shadow_tasks.discard)
        return served, answer, ids

    async def _shadow(self, state: DeploymentState, served: ServedModel, data: Any, ids: list[str],
                      stamp: int, started: float, keys: dict[str, np.ndarray] | None = None) -> None:
        """A shadow copy: answered into the log only; a failure is counted and logged, never surfaces.

        Input the primary accepted but the shadow's signature rejects is logged as a failure too
        (without features): it is the shadow that cannot take this traffic, not the client's fault."""
        prepared: Any = None
        ticket = None if self.prediction_logger is None else _Ticket(ids, stamp, started, True, keys)
        try:
            prepared, rows = served.prepare(data)
            await served.batcher.submit(prepared, rows, ticket)
        except Exception as exc:
            served.metrics.shadow_errors.inc()
            logger.warning("shadow %s v%s of %r failed: %s", served.model, served.version, state.name, exc)
            if self.prediction_logger is not None:
                self._log_failed(state, served, prepared, ids, stamp, time.perf_counter() - started,
                                 shadow=True, error=error_text(exc), keys=keys)
            return
        served.metrics.shadow_answered(rows)

    def _log_answered(self, served: ServedModel, tickets: list[_Ticket], data: Any, preds: np.ndarray,
                      proba: np.ndarray | None) -> None:
        """The rows one predict call answered, as one block: ``Runtime.on_answered`` while logging.

        Each row keeps its own request's id, time and latency (from the request's start to the
        batch's answer); ``data``, ``preds`` and ``proba`` are those requests' rows, in order."""
        now = time.perf_counter()
        stamps: int | np.ndarray
        latency: float | np.ndarray
        try:
            if len(tickets) == 1:
                one = tickets[0]
                ids, stamps, latency = one.ids, one.stamp, (now - one.started) * 1000.0
            else:
                counts = [len(t.ids) for t in tickets]
                ids = [i for t in tickets for i in t.ids]
                stamps = np.repeat(np.array([t.stamp for t in tickets], dtype=np.int64), counts)
                latency = np.repeat((now - np.array([t.started for t in tickets])) * 1000.0, counts)
            shadow = tickets[0].shadow
            block = RecordBlock(
                request_ids=ids, timestamp_ms=stamps, deployment=served.deployment, revision=served.revision,
                model=served.model, version=served.version, shadow=shadow,
                features=_with_keys(_features(data), served.columns, _joined_keys(tickets)),
                feature_names=served.columns, predictions=preds, probabilities=proba, latency_ms=latency)
            if any(t.shadow != shadow for t in tickets):  # not seen in practice: a model is a route or a shadow
                flags = np.repeat([t.shadow for t in tickets], [len(t.ids) for t in tickets])
                for flag in (False, True):
                    part = block.take(np.flatnonzero(flags == flag))
                    part.shadow = flag
                    self.prediction_logger.append(served.deployment, part)
                return
            self.prediction_logger.append(served.deployment, block)
        except Exception:
            logger.exception("prediction log append failed for %r", served.deployment)

    def _log_failed(self, state: DeploymentState, served: ServedModel, prepared: Any, ids: list[str], stamp: int,
                    elapsed: float, *, shadow: bool, error: str,
                    keys: dict[str, np.ndarray] | None = None) -> None:
        """Hand the rows of one failed request to the logger (``error`` set, no predictions)."""
        try:
            block = RecordBlock(
                request_ids=ids, timestamp_ms=stamp, deployment=state.name, revision=state.revision,
                model=served.model, version=served.version, shadow=shadow,
                features=_with_keys({} if prepared is None else _features(served.model_input([prepared])),
                                    served.columns, keys),
                feature_names=served.columns,
                predictions=None, latency_ms=elapsed * 1000.0, error=error)
            self.prediction_logger.append(state.name, block)
        except Exception:
            logger.exception("prediction log append failed for %r", state.name)

    def _single(self) -> DeploymentState:
        names = self.runtime.deployments
        if len(names) != 1:
            raise NotFound(f"/invocations, /ping and /version need an app serving exactly one deployment; "
                           f"this one serves {sorted(names)}: use /v1/deployments/{{name}}/predict")
        return self.runtime.get(names[0])

    # --- native -------------------------------------------------------------------------------

    async def predict_native(self, name: str, body: bytes, scope: dict[str, Any]) -> _Answer:
        state = self.runtime.get(name)
        doc = parse_json(body)
        key = _header(scope, b"x-routing-key")
        if isinstance(doc, dict) and "routing_key" in doc:
            doc = dict(doc)
            key = str(doc.pop("routing_key"))
        served, answer, ids = await self._predict(state, parse_rows(doc), key)
        preds, proba = answer.lists()
        reply: dict[str, Any] = {"predictions": preds}
        if proba is not None:
            reply["probabilities"] = proba
        reply.update(request_ids=ids, model=served.model, version=served.version, revision=state.revision)
        return 200, orjson.dumps(reply), _JSON

    async def feedback(self, name: str, body: bytes) -> _Answer:
        state = self.runtime.get(name)
        doc = parse_json(body)
        items = doc.get("feedback") if isinstance(doc, dict) and "feedback" in doc else [doc]
        if not isinstance(items, list) or not items:
            raise InvalidInput("feedback must be {'request_id', 'label'} or "
                               "{'feedback': [{'request_id', 'label'}, ...]}")
        if len(items) > self.settings.max_rows:
            raise PayloadTooLarge(f"{len(items)} feedback items, over the limit of {self.settings.max_rows} "
                                  "per request: send them in several requests")
        now = int(time.time() * 1000)
        rows = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("request_id"), str) or "label" not in item:
                raise InvalidInput(f"each feedback item needs a string 'request_id' and a 'label', got {item!r}")
            stamp = item.get("timestamp", now)
            if isinstance(stamp, bool) or not isinstance(stamp, int | float) or not 0 <= stamp < 2**53:
                raise InvalidInput(f"feedback timestamp must be ms since the epoch, got {stamp!r}")
            served_at_ms(item["request_id"])  # the id's shape, before any lookup
            rows.append(Feedback(name, item["request_id"], item["label"], int(stamp)))
        kinds = await self._served_kinds(state, [r.request_id for r in rows])
        for row in rows:
            check_label(row.request_id, row.label, kinds[row.request_id])
        loop = asyncio.get_running_loop()
        stored = await loop.run_in_executor(self.runtime.executor, self.runtime.store.log_feedback, name, rows)
        return 200, orjson.dumps({"stored": stored}), _JSON

    async def _served_kinds(self, state: DeploymentState, request_ids: list[str]) -> dict[str, str]:
        """The label kind of each id's model; NotFound for an id this deployment did not answer
        (looked up in this replica's recent ids, then in the prediction log: see ``_feedback``)."""
        kinds: dict[str, str] = {}
        missing = []
        for rid in request_ids:
            kind = self.served_ids.get(state.name, rid)
            if kind is None:
                missing.append(rid)
            else:
                kinds[rid] = kind
        root = getattr(self.prediction_logger, "root", None)
        if missing and isinstance(root, str):
            missing = await self._look_in_log(state, root, missing, kinds)
            # Answered by another replica (worker) a moment ago: found once it wrote its segment,
            # within the logger's max_seconds. Wait that long once (asleep, not busy) and look again.
            flush_s = float(getattr(self.prediction_logger, "max_seconds", 2.0)) + 0.5
            newest = max((served_at_ms(rid) for rid in missing), default=0) / 1000.0
            wait = newest + flush_s - time.time()
            if missing and 0 < wait <= flush_s:
                await asyncio.sleep(wait)
                missing = await self._look_in_log(state, root, missing, kinds)
        if missing:
            raise unknown_ids(state.name, missing)
        return kinds

    async def _look_in_log(self, state: DeploymentState, root: str, request_ids: list[str],
                           kinds: dict[str, str]) -> list[str]:
        """Fill ``kinds`` for the ids the prediction log holds; the ids it does not."""
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(self.runtime.executor, find_in_log, root, state.name, request_ids)
        models = {(s.model, s.version): s for s in (*state.routes, *state.shadows)}
        for rid, key in found.items():
            served = models.get(key)  # a version no longer served: any one value will do
            sig = None if served is None else served.pyfunc.signature
            kinds[rid] = label_kind(None if sig is None else sig.outputs)
        return [rid for rid in request_ids if rid not in found]

    # --- MLflow scoring protocol ----------------------------------------------------------------

    async def invocations(self, body: bytes, scope: dict[str, Any]) -> _Answer:
        state = self._single()
        ctype = (_header(scope, b"content-type") or "application/json").split(";")[0].strip().lower()
        if ctype == "text/csv":
            import pandas as pd

            if not body.strip():
                raise InvalidInput("empty request body: send CSV with a header row")
            try:
                data: Any = pd.read_csv(io.BytesIO(body))
            except Exception as exc:
                raise InvalidInput(f"malformed CSV: {exc}") from None
        elif ctype == "application/json":
            data = parse_rows(parse_json(body))
        else:
            raise InvalidInput(f"unsupported Content-Type {ctype!r}: use application/json or text/csv")
        _, answer, _ = await self._predict(state, data, _header(scope, b"x-routing-key"))
        return 200, orjson.dumps({"predictions": answer.lists()[0]}), _JSON

    async def ping(self) -> _Answer:
        self._single()
        return 200, b"\n", _TEXT

    async def version(self) -> _Answer:
        self._single()
        try:
            return 200, metadata.version("shipyard").encode(), _TEXT
        except metadata.PackageNotFoundError:
            return 200, b"unknown", _TEXT

    # --- health, metrics ------------------------------------------------------------------------

    async def health(self) -> _Answer:
        return 200, b'{"status":"ok"}', _JSON

    async def ready(self) -> _Answer:
        states = {n: self.runtime.get(n).revision for n in self.runtime.deployments}
        ok = self.runtime.ready
        return (200 if ok else 503), orjson.dumps({"ready": ok, "deployments": states}), _JSON

    async def metrics_text(self) -> _Answer:
        body = self.metrics.render()
        if self.extra_metrics is not None:
            body += await self._extra_metrics_text(self.extra_metrics)
        return 200, body, [(b"content-type", CONTENT_TYPE_LATEST.encode())]

    async def _extra_metrics_text(self, produce: ExtraMetrics) -> bytes:
        """The extra callable's text, newline-terminated; b"" when it raises (the serving metrics
        are still served: a broken monitor must not blind the scrape of the serving process).

        It runs in a thread of the loop's default executor, not the predict pool: it may read files
        or a database, and must neither stall the event loop nor take a predict thread."""
        try:
            extra = await asyncio.get_running_loop().run_in_executor(None, produce)
            if isinstance(extra, str):
                extra = extra.encode()
            if not isinstance(extra, bytes):
                raise TypeError(f"extra metrics must return bytes or str, got {type(extra).__name__}")
        except Exception as exc:
            # The traceback once; while it keeps failing, one line per scrape.
            if self._extra_failing:
                logger.warning("extra metrics still failing: %s: %s", type(exc).__name__, exc)
            else:
                logger.exception("extra metrics failed; /metrics serves the serving metrics only")
            self._extra_failing = True
            return b""
        self._extra_failing = False
        return extra if not extra or extra.endswith(b"\n") else extra + b"\n"

    # --- Open Inference Protocol V2 -------------------------------------------------------------

    async def v2_live(self) -> _Answer:
        return 200, b'{"live":true}', _JSON

    async def v2_ready(self) -> _Answer:
        ok = self.runtime.ready
        return (200 if ok else 503), orjson.dumps({"ready": ok}), _JSON

    async def v2_server(self) -> _Answer:
        try:
            ver = metadata.version("shipyard")
        except metadata.PackageNotFoundError:
            ver = "unknown"
        return 200, orjson.dumps({"name": "shipyard", "version": ver, "extensions": []}), _JSON

    def _route(self, state: DeploymentState, version: int | None) -> ServedModel | None:
        if version is None:
            return None
        for served in state.routes:
            if served.version == version:
                return served
        raise NotFound(f"deployment {state.name!r} revision {state.revision} serves no version {version} "
                       f"(it serves {[s.version for s in state.routes]})")

    async def v2_metadata(self, name: str, version: int | None) -> _Answer:
        state = self.runtime.get(name)
        served = self._route(state, version) or state.routes[0]
        sig = served.pyfunc.signature
        raw = served.pyfunc.raw_model
        inputs = [] if sig is None else [
            {"name": c.name, "datatype": signature_datatype(c.type), "shape": [-1]} for c in sig.inputs]
        if sig is None and getattr(raw, "input_shape", None) is not None:  # a tensor model (pytorch, onnx)
            inputs = [{"name": raw.input_name, "datatype": "INT64" if raw.input_kind == "int" else "FP32",
                       "shape": [-1 if d is None else d for d in raw.input_shape]}]
        out = None if sig is None else sig.outputs
        outputs = [{"name": "predict", "datatype": "BYTES" if out is None else signature_datatype(out.type),
                    "shape": [-1] if out is None else list(out.shape)}]
        if served.has_proba:
            outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, -1]})
        doc: dict[str, Any] = {"name": name, "versions": [str(s.version) for s in state.routes],
               "platform": f"shipyard_{served.pyfunc.flavor}", "inputs": inputs, "outputs": outputs}
        if isinstance(getattr(raw, "device", None), str):  # where the forward pass runs: "cpu" or "cuda"
            doc["parameters"] = {"device": raw.device}
        return 200, orjson.dumps(doc), _JSON

    async def v2_model_ready(self, name: str, version: int | None) -> _Answer:
        self._route(self.runtime.get(name), version)
        return 200, orjson.dumps({"name": name, "ready": True}), _JSON

    async def v2_infer(self, name: str, version: int | None, body: bytes) -> _Answer:
        state = self.runtime.get(name)
        doc = parse_json(body)
        pinned = self._route(state, version)
        params = doc.get("parameters") if isinstance(doc, dict) else None
        key = params.get("routing_key") if isinstance(params, dict) else None
        columns = (pinned or state.routes[0]).columns
        served, predicted, ids = await self._predict(state, parse_v2(doc, columns),
                                                     None if key is None else str(key), pinned)
        answer: dict[str, Any] = {"model_name": name, "model_version": str(served.version)}
        if isinstance(doc, dict) and "id" in doc:
            answer["id"] = doc["id"]
        answer["parameters"] = {"request_ids": ids, "revision": state.revision}
        answer["outputs"] = v2_outputs(predicted.predictions, predicted.probabilities,
                                       doc.get("outputs") if isinstance(doc, dict) else None)
        return 200, orjson.dumps(answer), _JSON


