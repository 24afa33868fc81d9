"""HTTP plumbing shared by the clients of a shipyard server (the REST store, the artifact repository).

One ``httpx.Client`` per server URL and token in a process (connection pooling, thread-safe), made
fresh in a forked child; the token comes from ``SHIPYARD_TRACKING_TOKEN`` unless one is given. Error
answers (``{"error_code", "message"}``) come back as the exception class the server raised, and a
server that cannot be reached as :class:`~shipyard.errors.StoreUnavailable`.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

import orjson

from shipyard.errors import InvalidInput, ShipyardError, StoreUnavailable, error_from_code

if TYPE_CHECKING:
    import httpx

__all__ = ["TOKEN_ENV", "check_response", "dumps", "http_client", "make_client", "transport_error"]

TOKEN_ENV = "SHIPYARD_TRACKING_TOKEN"
DEFAULT_TIMEOUT_S = 60.0
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
    return httpx.Client(base_url=base_url, headers=headers, timeout=timeout,
                        transport=transport if transport is not None else httpx.HTTPTransport(retries=3))


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


def transport_error(url: str, exc: Exception) -> StoreUnavailable:
    return StoreUnavailable(f"cannot reach the shipyard server at {url}: {type(exc).__name__}: {exc}")


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
