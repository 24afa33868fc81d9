"""The serving ASGI application: native, MLflow and Open Inference Protocol V2 endpoints.

A plain ASGI callable rather than FastAPI or Starlette: the per-request path is a dict lookup for
the route, one body read with a size limit, orjson in and out, and the model's own signature check,
because everything else (per-request pydantic models, a DataFrame per request, routing middleware)
costs more than a logistic regression's predict. The endpoints and payloads are documented in
:mod:`shipyard.serving.protocols`; ``create_app`` is the entry point.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from shipyard.errors import InvalidInput, NotFound, ShipyardError
from shipyard.serving.handlers import Handlers
from shipyard.serving.metrics import ExtraMetrics, ServingMetrics
from shipyard.serving.protocols import PayloadTooLarge
from shipyard.serving.runtime import Runtime
from shipyard.serving.settings import ServingSettings

if TYPE_CHECKING:
    from shipyard.entities import DeploymentRevision

__all__ = ["ServingApp", "create_app"]

logger = logging.getLogger(__name__)

_JSON = [(b"content-type", b"application/json")]
_Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]


class ServingApp(Handlers):
    """The ASGI app; ``runtime`` holds the models, ``metrics`` the Prometheus registry.

    Lifespan startup loads what is not loaded yet and starts polling the store; shutdown stops
    polling, lets running shadow predictions finish and closes the prediction logger. Without a
    lifespan (tests, embedding), call :meth:`close` (or ``await aclose()``) when done.
    """

    def __init__(self, runtime: Runtime, settings: ServingSettings, prediction_logger: Any = None,
                 extra_metrics: ExtraMetrics | None = None) -> None:
        super().__init__(runtime, settings, prediction_logger, extra_metrics)
        self._get = {
            "/health": self.health, "/ready": self.ready, "/metrics": self.metrics_text,
            "/ping": self.ping, "/version": self.version,
            "/v2/health/live": self.v2_live, "/v2/health/ready": self.v2_ready, "/v2": self.v2_server,
        }
        self._closed = False

    # --- ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            status, body, headers = await self._dispatch(scope, receive)
            headers = [*headers, (b"content-length", str(len(body)).encode())]  # not chunked
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _dispatch(self, scope: dict[str, Any], receive: Any) -> _Answer:
        method, path = scope["method"], scope["path"]
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        try:
            if method == "POST":
                parts = path.split("/")
                # /v1/deployments/{name}/{predict|feedback}
                if len(parts) == 5 and parts[1] == "v1" and parts[2] == "deployments":
                    body = await self._body(scope, receive)
                    if parts[4] == "predict":
                        return await self.predict_native(parts[3], body, scope)
                    if parts[4] == "feedback":
                        return await self.feedback(parts[3], body)
                elif path == "/invocations":
                    return await self.invocations(await self._body(scope, receive), scope)
                elif parts[1:3] == ["v2", "models"]:
                    name, version, action = self._v2_path(parts)
                    if action == "infer":
                        return await self.v2_infer(name, version, await self._body(scope, receive))
            elif method == "GET":
                handler = self._get.get(path)
                if handler is not None:
                    return await handler()
                parts = path.split("/")
                if parts[1:3] == ["v2", "models"]:
                    name, version, action = self._v2_path(parts)
                    if action == "ready":
                        return await self.v2_model_ready(name, version)
                    if action == "":
                        return await self.v2_metadata(name, version)
            raise NotFound(f"no endpoint {method} {path}")
        except ShipyardError as exc:
            if not getattr(exc, "counted", False):
                self.metrics.error(exc.http_status)
            if exc.http_status >= 500:
                logger.error("%s %s: %s", method, path, exc.message)
            return exc.http_status, orjson.dumps(exc.to_dict()), _JSON
        except Exception as exc:  # a bug, not bad input: answer 500 and keep serving
            logger.exception("%s %s failed", method, path)
            self.metrics.error(500)
            return 500, orjson.dumps({"error_code": "INTERNAL_ERROR",
                                      "message": f"{type(exc).__name__}: {exc}"}), _JSON

    @staticmethod
    def _v2_path(parts: list[str]) -> tuple[str, int | None, str | None]:
        """/v2/models/{name}[/versions/{v}][/ready|/infer] -> (name, version or None, action).

        The action is "" for the model itself and None for a path that is no endpoint."""
        rest = parts[3:]
        if not rest or not rest[0]:
            return "", None, None
        name, rest = rest[0], rest[1:]
        version = None
        if len(rest) >= 2 and rest[0] == "versions":
            try:
                version = int(rest[1])
            except ValueError:
                raise InvalidInput(f"model version must be an integer, got {rest[1]!r}") from None
            rest = rest[2:]
        if not rest:
            return name, version, ""
        if len(rest) == 1 and rest[0] in ("ready", "infer"):
            return name, version, rest[0]
        return name, version, None

    async def _body(self, scope: dict[str, Any], receive: Any) -> bytes:
        """The request body, refusing more than ``max_body_bytes`` (declared or actually sent)."""
        limit = self.settings.max_body_bytes
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InvalidInput("client disconnected before sending the whole body")
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):  # the whole body at once: a request's usual shape
            if len(body) > limit:
                raise PayloadTooLarge(f"request body is over the {limit}-byte limit")
            return body
        for key, value in scope["headers"]:  # more to come: refuse a declared size over the limit now
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise InvalidInput("malformed Content-Length header") from None
                if declared > limit:
                    raise PayloadTooLarge(f"request body of {declared} bytes is over the {limit}-byte limit")
                break
        chunks = [body]
        size = len(body)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise InvalidInput("client disconnected before sending the whole body")
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"request body is over the {limit}-byte limit")
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as exc:
                    logger.exception("serving app failed to start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # --- life cycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Load what is not loaded (in a thread) and start polling the store for new revisions."""
        if not self.runtime.ready:
            await self.runtime.arefresh()
        if self.settings.poll_interval_s:
            self.runtime.start_polling(self.settings.poll_interval_s)

    async def aclose(self) -> None:
        """Stop polling, let shadow predictions finish, close the logger and the worker threads."""
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(None, self.runtime.stop_polling)
        if self._shadow_tasks:
            await asyncio.wait(list(self._shadow_tasks), timeout=10)
        self._finish()

    def close(self) -> None:
        """Synchronous :meth:`aclose` for callers outside an event loop (shadow tasks not awaited)."""
        if self._closed:
            return
        self._closed = True
        self._finish()

    def _finish(self) -> None:
        self.runtime.close()
        if self.prediction_logger is not None:
            self.prediction_logger.close()


def create_app(store: Any, *, deployments: list[str] | None = None, settings: ServingSettings | None = None,
               prediction_logger: Any = None, extra_metrics: ExtraMetrics | None = None,
               adhoc: Mapping[str, DeploymentRevision] | None = None) -> ServingApp:
    """The serving app for ``deployments`` (None: every deployment in the store, new ones included).

    Models are loaded and warmed here, so an unknown deployment or a model that fails to load
    raises now (NotFound, ...) rather than at the first request. ``prediction_logger`` (optional)
    has ``append(deployment, records)`` (non-blocking) and ``close()``; the app calls ``close`` at
    shutdown. ``extra_metrics`` (optional) is called on each ``GET /metrics`` (in a thread) and
    returns Prometheus text (bytes or str) appended to the serving metrics; if it raises, the error
    is logged and the serving metrics are answered alone. ``adhoc`` (optional) adds deployments held
    by this process only (:mod:`shipyard.serving.adhoc`).
    """
    settings = settings or ServingSettings()
    runtime = Runtime(store, deployments, settings=settings, metrics=ServingMetrics(), fixed=adhoc)
    try:
        runtime.refresh()
    except BaseException:
        runtime.close()
        raise
    if prediction_logger is not None and hasattr(prediction_logger, "lag_s"):
        runtime.metrics.watch_prediction_log(prediction_logger)
    return ServingApp(runtime, settings, prediction_logger, extra_metrics)


