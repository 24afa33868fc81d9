"""HTTP plumbing shared by the clients of a shipyard server (the REST store, the artifact repository).

One ``httpx.Client`` per server URL and token in a process (connection pooling, thread-safe), made
fresh in a forked child; the token comes from ``SHIPYARD_TRACKING_TOKEN`` unless one is given. Error
answers (``{"error_code", "message"}``) come back as the exception class the server raised, and a
server that cannot be reached as :class:`~shipyard.errors.StoreUnavailable`.

Every request goes through :func:`send`, which rides out a server restart: on a connection error, a
timeout or a 502/503/504 answer it tries again with exponential backoff and jitter (0.25 s doubling
up to 8 s, each pause drawn between half and all of that) for up to ``SHIPYARD_HTTP_RETRY_S`` seconds
in all (default 120; ``retry_s=`` on :class:`~shipyard.store.rest.RestStore` and
:class:`~shipyard.artifacts.server_repo.ServerArtifactRepository`; 0 tries once). Other answers,
4xx included, are never retried. A warning is logged once when a server stops answering and once
when it answers again, not per request. Retried writes are safe where they matter: metric, param
and tag batches carry a batch id the server applies once (see ``TrackingStore.log_batch``), artifact
uploads overwrite, ending a run twice sets the same end.
"""

from __future__ import annotations

import logging
import math
import os
import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from shipyard.errors import InvalidInput, ShipyardError, StoreUnavailable, error_from_code

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_RETRY_S", "RETRY_ENV", "RETRY_STATUSES", "TOKEN_ENV", "check_response", "dumps",
           "http_client", "make_client", "retry_budget", "send", "transport_error"]

T = TypeVar("T")
logger = logging.getLogger(__name__)

TOKEN_ENV = "SHIPYARD_TRACKING_TOKEN"
RETRY_ENV = "SHIPYARD_HTTP_RETRY_S"
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_RETRY_S = 120.0
RETRY_STATUSES = frozenset({502, 503, 504})
_FIRST_PAUSE_S, _MAX_PAUSE_S = 0.25, 8.0
_clients: dict[tuple[str, str | None], httpx.Client] = {}
_lock = threading.Lock()


def _forget_clients() -> None:
    _clients.clear()  # a forked child must not share its parent's sockets


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_clients)


def make_client(base_url: str, token: str | None = None, transport: httpx.BaseTransport | None = None,
                timeout: float = DEFAULT_TIMEOUT_S) -> httpx.Client:
    """A client for ``base_url`` that sends the token (``token``, else ``SHIPYARD_TRACKING_TOKEN``)."""
    import httpx

    from shipyard import __version__

    token = token if token is not None else os.environ.get(TOKEN_ENV) or None
    headers = {"User-Agent": f"shipyard/{__version__}"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(base_url=base_url, headers=headers, timeout=timeout, transport=transport)


def http_client(base_url: str, token: str | None = None) -> httpx.Client:
    """The process's shared client for ``base_url`` (and the token in effect)."""
    token = token if token is not None else os.environ.get(TOKEN_ENV) or None
    key = (base_url, token)
    with _lock:
        client = _clients.get(key)
        if client is None or client.is_closed:
            client = _clients[key] = make_client(base_url, token)
        return client


def dumps(body: Any) -> bytes:
    """JSON like the SQL store writes it (orjson: NumPy values allowed, NaN inside free-form data → null)."""
    try:
        return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    except TypeError as exc:
        raise InvalidInput(f"the request is not JSON-serializable: {exc}") from None


def transport_error(url: str, exc: Exception, waited_s: float | None = None) -> StoreUnavailable:
    after = "" if not waited_s else f" (retried for {waited_s:.0f} s; {RETRY_ENV} sets how long)"
    return StoreUnavailable(f"cannot reach the shipyard server at {url}: {type(exc).__name__}: {exc}{after}")


def retry_budget(retry_s: float | None = None) -> float:
    """Seconds to keep retrying: ``retry_s``, else ``SHIPYARD_HTTP_RETRY_S``, else 120."""
    if retry_s is None:
        raw = os.environ.get(RETRY_ENV, "").strip()
        if not raw:
            return DEFAULT_RETRY_S
        try:
            retry_s = float(raw)
        except ValueError:
            raise InvalidInput(f"{RETRY_ENV}={raw!r} is not a number of seconds") from None
    if isinstance(retry_s, bool) or not isinstance(retry_s, int | float) or not (0 <= retry_s < math.inf):
        raise InvalidInput(f"the retry time must be a number of seconds >= 0, got {retry_s!r}")
    return float(retry_s)


def send(attempt: Callable[[], T], server: str, retry_s: float | None = None) -> T:
    """``attempt()`` until it neither raises an httpx transport error nor returns a response with a
    502/503/504 status, or until the retry time is spent. Then its result (a last 5xx response is
    returned for :func:`check_response` to raise), or StoreUnavailable chained to the last error."""
    import httpx

    budget = retry_budget(retry_s)
    start = time.monotonic()
    pause = _FIRST_PAUSE_S
    while True:
        error: httpx.TransportError | None = None
        try:
            result = attempt()
        except httpx.UnsupportedProtocol as exc:  # a bad URL: no retry can help
            raise transport_error(server, exc) from exc
        except httpx.TransportError as exc:
            error, why = exc, f"{type(exc).__name__}: {exc}"
        except httpx.HTTPError as exc:  # a broken answer (bad encoding, redirect loop): not an outage
            raise transport_error(server, exc) from exc
        else:
            status = getattr(result, "status_code", None)
            if status not in RETRY_STATUSES:
                _health.answered(server)
                return result
            why = f"it answered HTTP {status}"
        waited = time.monotonic() - start
        if waited >= budget:
            if error is not None:
                raise transport_error(server, error, waited) from error
            return result
        _health.failed(server, why, budget)
        if error is None:
            result.close()  # type: ignore[attr-defined]
        time.sleep(min(pause, budget - waited) * random.uniform(0.5, 1.0))
        pause = min(pause * 2, _MAX_PAUSE_S)


class _Health:
    """Which servers this process found unreachable, so each outage is logged once each way."""

    def __init__(self) -> None:
        self._down: dict[str, float] = {}  # server -> monotonic time of its first failure
        self._lock = threading.Lock()

    def failed(self, server: str, why: str, budget: float) -> None:
        with self._lock:
            if server in self._down:
                return
            self._down[server] = time.monotonic()
        logger.warning("the shipyard server at %s is unavailable (%s): retrying for up to %.0f s (%s)",
                       server, why, budget, RETRY_ENV)

    def answered(self, server: str) -> None:
        if not self._down:  # the common case, without taking the lock
            return
        with self._lock:
            since = self._down.pop(server, None)
        if since is not None:
            logger.warning("the shipyard server at %s answers again after %.1f s", server, time.monotonic() - since)


_health = _Health()


def check_response(response: httpx.Response) -> httpx.Response:
    """The response if it succeeded; else the exception the server reported, rebuilt."""
    if response.status_code < 400:
        return response
    try:
        body = orjson.loads(response.content)
        error = error_from_code(str(body["error_code"]), str(body["message"]))
    except (orjson.JSONDecodeError, KeyError, TypeError):
        text = response.text[:200].strip()
        cls = StoreUnavailable if response.status_code >= 500 else ShipyardError
        error = cls(f"the shipyard server answered HTTP {response.status_code}: {text}")
    raise error
