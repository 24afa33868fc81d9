"""Small ASGI middlewares of the server: request metrics for ``/metrics``, a cap on body size, and the
refusal of cross-site requests that change something.

Both are plain ASGI (no BaseHTTPMiddleware), so streamed artifact downloads stay streamed. Metrics
live in the app's own CollectorRegistry, so two apps in one process never mix their numbers.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from shipyard.server._errors import error_response

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit", "CrossSiteGuard", "RequestMetrics", "ServerMetrics"]

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("method", "route", "status")
        self.requests = Counter("shipyard_server_requests", "API requests answered, by route and status.", labels,
                                registry=self.registry)
        self.latency = Histogram("shipyard_server_request_duration_seconds", "Time to answer an API request.",
                                 ("method", "route"), buckets=_BUCKETS, registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RequestMetrics:
    """Counts requests by route template (``/api/v1/runs/{run_id}``), never by raw path."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics, prefix: str = "") -> None:
        self.app, self.metrics, self.prefix = app, metrics, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            if template != "unmatched" and scope["path"].startswith(self.prefix) and \
                    not template.startswith(self.prefix):
                template = self.prefix + template  # a route of an included router knows only its own part
            self.metrics.requests.labels(scope["method"], template, str(status[0])).inc()
            self.metrics.latency.labels(scope["method"], template).observe(time.perf_counter() - start)


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Refuses request bodies over ``max_bytes`` with a 413, by Content-Length or while they stream.

    Paths under one of ``exempt`` (artifact uploads, which enforce their own, larger limit) pass.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, exempt: tuple[str, ...] = ()) -> None:
        self.app, self.max_bytes, self.exempt = app, max_bytes, exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
        seen = 0
        state = {"too_large": False, "started": False}

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    state["too_large"] = True
                    raise _TooLarge
            return message

        async def checked_send(message: Message) -> None:
            if state["too_large"]:  # the app turned the aborted read into an answer of its own: ours wins
                if not state["started"]:
                    state["started"] = True
                    await self._refuse(scope, receive, send)
                return
            state["started"] = state["started"] or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, checked_send)
        except _TooLarge:
            if not state["started"]:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, "INVALID_PARAMETER_VALUE",
                                  f"request body too large (the limit is {self.max_bytes} bytes)")
        await response(scope, receive, send)


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CrossSiteGuard:
    """Refuses (403) a state-changing request that a browser says another site's page sent.

    With auth off, or with the UI's session cookie, a page on any site could otherwise make the
    visitor's browser POST here: a plain HTML form needs no preflight, and the body-less operations
    (cancel a pipeline run, restore a run, log out) need no JSON either. Browsers mark such requests
    with ``Origin`` (every cross-origin POST) and ``Sec-Fetch-Site``; the SDK and the CLI send
    neither, so they pass untouched. ``Origin: null`` (sandboxed frames, some redirects) is refused too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in _SAFE_METHODS:
            headers = {k: v for k, v in scope.get("headers", ())}
            reason = _cross_site(headers)
            if reason:
                await error_response(403, "PERMISSION_DENIED", f"cross-site request refused ({reason})")(
                    scope, receive, send)
                return
        await self.app(scope, receive, send)


def _cross_site(headers: dict[bytes, bytes]) -> str:
    fetch_site = headers.get(b"sec-fetch-site", b"").decode("latin-1").lower()
    if fetch_site == "cross-site":
        return "Sec-Fetch-Site: cross-site"
    origin = headers.get(b"origin")
    if origin is None:
        return ""
    host = headers.get(b"host", b"").decode("latin-1").lower()
    text = origin.decode("latin-1").strip().lower()
    if text == "null" or urlsplit(text).netloc != host:
        return f"Origin {text[:100]!r} is not this server"
    return ""
