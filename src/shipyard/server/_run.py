"""``shipyard server``: the API over the configured store, served by uvicorn in this process.

At start it says where it keeps things (store, artifacts), whether auth is on (loudly when it is
off) and where it listens. With ``scheduler=True`` the same process runs the scheduler on a
background thread: the same job list as ``shipyard scheduler`` (scheduled pipelines and policies
from ``modules`` or ``shipyard.yaml``, the running rollouts, the store's scheduled monitors), the
single-process local setup.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shipyard.errors import InvalidInput

__all__ = ["ServerOptions", "run"]

logger = logging.getLogger(__name__)

AUTH_OFF_WARNING = (
    "WARNING: auth is OFF. Anyone who can reach {url} can read, change and delete everything in this store.\n"
    "         Fine on your own machine; on a shared network start with --auth and give out tokens "
    "(shipyard tokens create --name NAME --role reader|writer|admin)."
)


@dataclass(frozen=True, slots=True)
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 5000
    store_uri: str | None = None
    artifact_uri: str | None = None
    auth: bool = False
    scheduler: bool = False
    modules: tuple[str, ...] | None = None
    executor: str | None = None
    max_artifact_bytes: int | None = None
    log_level: str = "info"
    access_log: bool = False
    proxy_artifacts: bool = True


def run(options: ServerOptions, say: Callable[[str], object] = print) -> int:
    """Serve until SIGTERM/SIGINT. Raises ShipyardError / OSError before anything listens (a bad
    store URI, a taken port)."""
    import uvicorn

    from shipyard.config import resolve_settings
    from shipyard.server.app import DEFAULT_MAX_ARTIFACT_BYTES, create_app
    from shipyard.serving._workers import bind_socket
    from shipyard.serving.server import redact
    from shipyard.store import open_store
    from shipyard.store.sql import SqlStore

    settings = resolve_settings(options.store_uri, options.artifact_uri)
    if settings.store_uri.startswith(("http://", "https://")):
        raise InvalidInput(f"the server needs a database, not another server ({settings.store_uri}): "
                           "pass --store-uri sqlite:///path or postgresql://...")
    store = open_store(settings.store_uri, settings.artifact_uri)
    assert isinstance(store, SqlStore)
    try:
        app = create_app(store, auth=options.auth, proxy_artifacts=options.proxy_artifacts,
                         max_artifact_bytes=options.max_artifact_bytes or DEFAULT_MAX_ARTIFACT_BYTES)
        sock = bind_socket(options.host, options.port)
        # Listening now, before "listening on" is printed: a client that reads that line and connects
        # while uvicorn is still starting waits in the backlog instead of being refused.
        sock.listen(2048)
    except BaseException:
        store.close()
        raise
    host = f"[{options.host}]" if ":" in options.host else options.host
    url = f"http://{host}:{sock.getsockname()[1]}"
    say(f"store: {redact(settings.store_uri)}")
    say(f"artifacts: {redact(settings.artifact_uri)}"
        + (" (served to clients through /api/v1/artifacts)" if app.state.locations.proxied else
           " (clients read and write there directly, with their own credentials)"))
    if options.auth:
        from shipyard.store.sql.tokens import TokenStore

        count = len(TokenStore(store).list_tokens())
        say(f"auth: on, bearer tokens required ({count} token(s); shipyard tokens create --name N --role R)")
    else:
        say(AUTH_OFF_WARNING.format(url=url))
    stop = threading.Event()
    threading.Thread(target=_reap_expired_runs, args=(store, stop), name="shipyard-lease-reaper", daemon=True).start()
    scheduler = _start_scheduler(store, options.modules, options.executor, stop, say) if options.scheduler else None
    say(f"listening on {url} (web UI: {url}/, API: {url}/api/v1, docs: {url}/docs; Ctrl+C to stop)")
    sys.stdout.flush()
    _configure_logging(options.log_level)
    config = uvicorn.Config(app, log_level=options.log_level, access_log=options.access_log, server_header=False,
                            lifespan="off", timeout_graceful_shutdown=10)
    server = uvicorn.Server(config)
    # uvicorn re-raises the signal it stopped on; with the default handler that would end the process
    # before the scheduler and the store are closed below. A signal that arrives before uvicorn has put
    # in its own handlers asks it to stop as soon as it has started, instead of being lost.
    def stop_early(signum: int, frame: object) -> None:
        server.should_exit = True

    main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, stop_early) for sig in (signal.SIGTERM, signal.SIGINT)} if main else {}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stop.set()
        if scheduler is not None:
            scheduler.join(30)
        sock.close()
        store.close()
    return 0 if server.started else 1


def _reap_expired_runs(store: Any, stop: threading.Event, every_s: float = 10.0) -> None:
    """Mark runs (tracking runs and pipeline runs) whose process stopped renewing their lease FAILED
    (see shipyard.store.sql.leases and SqlPipelineStore.expire_pipeline_runs)."""
    from shipyard.errors import ShipyardError

    kinds = (("run", store.expire_run_leases), ("pipeline run", store.expire_pipeline_runs))
    while not stop.wait(every_s):
        for kind, expire in kinds:
            try:
                expired = expire()
            except ShipyardError as exc:
                logger.warning("could not check %s leases: %s", kind, exc)
                continue
            if expired:
                logger.warning("marked %d %s(s) FAILED: their lease ran out with no heartbeat (%s)", len(expired),
                               kind, ", ".join(expired[:10]) + (" ..." if len(expired) > 10 else ""))


def _start_scheduler(store: Any, modules: tuple[str, ...] | None, executor: str | None, stop: threading.Event,
                     say: Callable[[str], object]) -> threading.Thread:
    """The same scheduler as ``shipyard scheduler`` (one job list, see ``scheduler_jobs``), on a thread."""
    from shipyard.cli._pipelines import scheduler_jobs
    from shipyard.pipelines import Scheduler

    jobs = scheduler_jobs(store, list(modules) if modules else None, executor)
    say(f"scheduler: on, {jobs.describe()}")
    thread = threading.Thread(target=Scheduler(jobs, store).serve, args=(stop,), name="shipyard-scheduler",
                              daemon=True)
    thread.start()
    return thread


def _configure_logging(level: str) -> None:
    root = logging.getLogger("shipyard")
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level.upper())
