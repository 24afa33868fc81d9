"""Server fixtures: a real uvicorn on 127.0.0.1 (a free port) in a thread, over a fresh SQLite store.

One uvicorn serves the whole session; each test plugs its own app (its own store) into it, which
saves starting and stopping a server per test of the contract suite.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.store.sql import SqlStore


class Switch:
    """An ASGI app that forwards to whichever app a test plugged in."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.app is None:
            raise RuntimeError("no app plugged into the test server")
        await self.app(scope, receive, send)


class LiveServer:
    """``app`` served by uvicorn in a background thread until :meth:`stop`."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off",
                                access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="shipyard-test-server", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.005)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(autouse=True)
def close_clients() -> Iterator[None]:
    """Close what the SDK opened towards a test server (cached REST stores, artifact clients)."""
    yield
    from shipyard import _http
    from shipyard.tracking.client import _stores

    for key in [k for k in _stores if k[0].startswith("http")]:
        _stores.pop(key).close()
    while _http._clients:
        _http._clients.popitem()[1].close()


@pytest.fixture
def sql_store(tmp_path: Path) -> Iterator[SqlStore]:
    store = SqlStore(f"sqlite:///{tmp_path / 'server.db'}", str(tmp_path / "server-artifacts"))
    yield store
    store.close()


@pytest.fixture(scope="session")
def session_server() -> Iterator[tuple[LiveServer, Switch]]:
    switch = Switch()
    server = LiveServer(switch)
    yield server, switch
    server.stop()


@pytest.fixture
def live_server(sql_store: SqlStore, session_server: tuple[LiveServer, Switch]) -> Iterator[Callable[..., LiveServer]]:
    """live_server(**create_app_options) -> the LiveServer, now serving ``create_app(sql_store, ...)``."""
    from shipyard.server import create_app

    server, switch = session_server

    def start(**options: Any) -> LiveServer:
        switch.app = create_app(sql_store, **options)
        return server

    yield start
    switch.app = None
