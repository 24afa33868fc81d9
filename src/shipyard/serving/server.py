"""``shipyard serve``: the serving app in uvicorn, in one process or in N workers on one port.

One worker: the CLI process binds the port and runs a plain uvicorn ``Server`` itself. N workers: the
CLI process becomes a :class:`~shipyard.serving._workers.Supervisor` and each worker binds the port
with SO_REUSEPORT and runs the same single-process server; see :mod:`shipyard.serving._workers` for
why this and not uvicorn's ``--workers`` (a 40 ms delayed-ACK stall per keep-alive response).

Each worker opens the store, loads and warms its models (``create_app``), then listens, so a
worker takes connections only once it can answer them. On SIGTERM or SIGINT uvicorn stops
accepting, finishes in-flight requests, and the app's lifespan shutdown stops polling and closes
the prediction logger (every buffered row written); the worker closes the logger once more after
the server returns in case the lifespan never ran. uvloop and httptools are used when importable
(18-31 % less CPU per request) and the access log is off unless asked for (~10 % throughput).

``ServeOptions.extra_metrics`` adds Prometheus text to every worker's ``/metrics`` (monitoring
gauges): a callable, or a ``"module:function"`` string. Workers are separate processes started
with the options as JSON, so for N workers a callable is turned into its ``"module:function"``
name (a module-level function only) and each worker imports it.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib.util
import logging
import os
import re
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shipyard.config import Settings, resolve_settings
from shipyard.serving._workers import STARTUP_FAILURE, Supervisor, bind_socket, set_parent_death_signal
from shipyard.serving.metrics import ExtraMetrics, extra_metrics_spec, resolve_extra_metrics

__all__ = ["WAL_ENV", "ServeOptions", "prediction_log_root", "run", "wal_folder", "worker_main"]

logger = logging.getLogger(__name__)

PREDICTION_LOG_DIR = "prediction-logs"
WAL_ENV = "SHIPYARD_WAL_DIR"
# The supervisor hands a worker its options in the environment, not on the command line, where
# anyone on the machine could read a database password with `ps`.
_OPTIONS_ENV = "SHIPYARD_SERVE_WORKER_OPTIONS"
_PARENT_ENV = "SHIPYARD_SERVE_SUPERVISOR_PID"


@dataclass(frozen=True)
class ServeOptions:
    """What ``shipyard serve`` was asked for (the CLI flags, one field each)."""

    names: tuple[str, ...] = ()
    all: bool = False
    #: model URIs served as ad-hoc deployments, not written to the store (see shipyard.serving.adhoc)
    models: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    store_uri: str | None = None
    artifact_uri: str | None = None
    prediction_log: bool = True
    access_log: bool = False
    log_level: str = "info"
    grace_s: float = 30.0
    #: Rows one request may carry; more is a 413 (``ServingSettings.max_rows``).
    max_rows: int = 10_000
    #: Prometheus text appended to /metrics: a callable, or "module:function" (see the module doc).
    extra_metrics: ExtraMetrics | str | None = None
    #: The prediction log's write-ahead file (see shipyard.serving._wal): on unless False; its folder
    #: is ``wal_dir``, else $SHIPYARD_WAL_DIR, else <SHIPYARD_HOME>/prediction-wal.
    wal: bool = True
    wal_dir: str | None = None
    wal_fsync: bool = False


def prediction_log_root(settings: Settings) -> str:
    """Where the prediction log lives: ``<artifact root>/prediction-logs`` (a folder or a URL)."""
    return f"{settings.artifact_uri.rstrip('/')}/{PREDICTION_LOG_DIR}"


def wal_folder(options: ServeOptions) -> str | None:
    """The write-ahead folder the prediction logger uses (absolute), or None when it is off."""
    if not options.prediction_log or not options.wal:
        return None
    from pathlib import Path

    from shipyard.config import default_home

    chosen = options.wal_dir or os.environ.get(WAL_ENV) or str(default_home() / "prediction-wal")
    return str(Path(chosen).absolute())


def _usable_wal(options: ServeOptions) -> str | None:
    """The write-ahead folder, created now: a folder that cannot be written fails the start, with
    what to do, rather than the first request (a read-only container file system)."""
    from shipyard.errors import InvalidInput

    folder = wal_folder(options)
    if folder is None:
        return None
    try:
        os.makedirs(folder, exist_ok=True)
        probe = os.path.join(folder, f".probe-{os.getpid()}")
        with open(probe, "wb"):
            pass
        os.unlink(probe)
    except OSError as exc:
        raise InvalidInput(f"the prediction log's write-ahead folder {folder} cannot be written "
                           f"({exc.strerror or exc}): give a writable one with --wal-dir (or {WAL_ENV}; a "
                           "volume that outlives the process), or turn it off with --no-wal") from None
    return folder


def redact(uri: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db`` for printing."""
    return re.sub(r"//([^/@:]*):[^/@]*@", r"//\1:***@", uri)


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _describe(store: Any, options: ServeOptions) -> list[str]:
    """Lines naming each served deployment and its current revision; raises NotFound early."""
    from shipyard.serving.adhoc import adhoc_revisions

    deployments = store.list_deployments() if options.all else [_deployment(store, n) for n in options.names]
    lines = []
    for d in deployments:
        routes = ", ".join(f"{r.model} v{r.version} {r.weight:g}" for r in d.current.routes)
        shadow = ", ".join(f"{r.model} v{r.version}" for r in d.current.shadow)
        lines.append(f"  {d.name} (revision {d.revision}): {routes}" + (f"; shadow {shadow}" if shadow else ""))
    for name, revision in adhoc_revisions(store, options.models).items():
        lines.append(f"  {name} (ad hoc, not in the store): {revision.reason.removeprefix('ad hoc: ')}")
    if options.all and not lines:
        lines.append("  (none yet: deployments created later are picked up while serving)")
    return lines


def _deployment(store: Any, name: str) -> Any:
    """The deployment, or a NotFound that names the deployments there are and the ad-hoc form."""
    from shipyard.errors import NotFound

    try:
        return store.get_deployment(name)
    except NotFound:
        known = sorted(d.name for d in store.list_deployments())
        raise NotFound(f"deployment {name!r} not found (deployments: {', '.join(known) or 'none yet'}); "
                       f"create one with 'shipyard deployments create {name} --route MODEL:VERSION', or serve a "
                       "model directly with 'shipyard serve models:/NAME@ALIAS' (or runs:/RUN_ID/model)") from None


def run(options: ServeOptions, say: Callable[[str], object] = print) -> int:
    """Serve until SIGTERM/SIGINT; returns the exit code. Raises ShipyardError / OSError early
    (unknown deployment, unusable store, port taken) before anything listens."""
    from shipyard.store import open_store

    many = options.workers > 1
    # Checked (imported) before anything listens; for workers, as the name they will import.
    extra = extra_metrics_spec(options.extra_metrics) if many else resolve_extra_metrics(options.extra_metrics)
    options = dataclasses.replace(options, extra_metrics=extra)
    settings = resolve_settings(options.store_uri, options.artifact_uri)
    store = open_store(settings.store_uri, settings.artifact_uri)
    try:
        lines = _describe(store, options)
    finally:
        _close_store(store)
    sock = bind_socket(options.host, options.port, reuse_port=many)
    port = sock.getsockname()[1]
    options = dataclasses.replace(options, port=port, store_uri=settings.store_uri,
                                  artifact_uri=settings.artifact_uri, wal_dir=_usable_wal(options))
    host = f"[{options.host}]" if ":" in options.host else options.host
    say(f"store: {redact(settings.store_uri)}")
    say(f"artifacts: {redact(settings.artifact_uri)}")
    say(f"prediction log: {redact(prediction_log_root(settings)) if options.prediction_log else 'off'}"
        + (f" (write-ahead folder {options.wal_dir}{', fsync' if options.wal_fsync else ''})"
           if options.wal_dir else ""))
    say("serving:\n" + "\n".join(lines))
    say(f"listening on http://{host}:{port}"
        + (f" with {options.workers} workers" if many else "") + " (Ctrl+C to stop)")
    sys.stdout.flush()
    _configure_logging(options.log_level)
    if not many:
        return _serve(options, sock)
    try:
        import orjson

        env = {**os.environ, _OPTIONS_ENV: orjson.dumps(dataclasses.asdict(options)).decode(),
               _PARENT_ENV: str(os.getpid())}
        command = [sys.executable, "-c", "import sys; from shipyard.serving.server import worker_main; "
                   "sys.exit(worker_main())"]
        supervisor = Supervisor(lambda index: command, options.workers, grace_s=options.grace_s + 5, env=env,
                                say=lambda text: logger.warning("%s", text))
        return supervisor.run()
    finally:
        sock.close()


def worker_main() -> int:
    """Entry point of one worker process of ``--workers N`` (started by the supervisor)."""
    import orjson

    set_parent_death_signal(int(os.environ.pop(_PARENT_ENV)))
    raw = orjson.loads(os.environ.pop(_OPTIONS_ENV))
    options = ServeOptions(**{**raw, "names": tuple(raw["names"]), "models": tuple(raw["models"])})
    _configure_logging(options.log_level)
    try:
        sock = bind_socket(options.host, options.port, reuse_port=True)
        return _serve(options, sock)
    except Exception as exc:  # models that do not load, a store that does not open: the supervisor decides
        logger.error("worker could not start: %s", exc, exc_info=not isinstance(exc, OSError))
        return STARTUP_FAILURE


def _configure_logging(level: str) -> None:
    root = logging.getLogger("shipyard")
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level.upper())


def _close_store(store: Any) -> None:
    close = getattr(store, "close", None) or getattr(store, "dispose", None)
    if callable(close):
        close()


def _ignore(signum: int, frame: object) -> None:
    """Stands in for the default action of SIGTERM/SIGINT after uvicorn's graceful stop.

    uvicorn re-raises a signal it caught once the server has stopped; with the default handler
    that would end the process before the prediction logger is closed below."""


def _serve(options: ServeOptions, sock: Any) -> int:
    """Build the app and serve it on ``sock`` until a signal; close the prediction log after."""
    import uvicorn

    from shipyard.serving.app import create_app
    from shipyard.serving.predlog import PredictionLogger
    from shipyard.store import open_store

    settings = resolve_settings(options.store_uri, options.artifact_uri)
    store = open_store(settings.store_uri, settings.artifact_uri)
    plog = (PredictionLogger(prediction_log_root(settings), wal_dir=wal_folder(options), wal_fsync=options.wal_fsync)
            if options.prediction_log else None)
    try:
        from shipyard.serving.adhoc import adhoc_revisions
        from shipyard.serving.settings import ServingSettings

        app = create_app(store, deployments=None if options.all else list(options.names), prediction_logger=plog,
                         extra_metrics=resolve_extra_metrics(options.extra_metrics),
                         settings=ServingSettings(max_rows=options.max_rows),
                         adhoc=adhoc_revisions(store, options.models))
    except BaseException:
        if plog is not None:
            plog.close()
        raise
    config = uvicorn.Config(
        app, host=options.host, port=options.port, lifespan="on", log_level=options.log_level,
        loop="uvloop" if _has("uvloop") else "asyncio", http="httptools" if _has("httptools") else "h11",
        access_log=options.access_log, server_header=False, timeout_graceful_shutdown=options.grace_s,  # type: ignore[arg-type]  # uvicorn accepts a float
    )
    server = uvicorn.Server(config)
    # The loaded models and libraries are long-lived: move them out of the collector's way, so full
    # collections do not walk them while requests wait (a few ms each, visible in p99 at low load).
    gc.collect()
    gc.freeze()
    # A young-generation collection every 700 net allocations (the default) ran several times per
    # batch under load, each walking the frames and futures of every request in flight again: 5 % of
    # the process's instructions per request at concurrency 64 (callgrind, 296k -> 280k). 5,000
    # does it rarely enough; one collection still takes well under a millisecond.
    gc.set_threshold(5000, *gc.get_threshold()[1:])
    # Background threads (the prediction log's flush, the revision poller) may hold the GIL for a
    # whole switch interval (5 ms by default) while a request waits on the event loop; 1 ms keeps
    # that wait out of the tail latency at low load.
    sys.setswitchinterval(0.001)
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run(sockets=[sock])
    finally:
        try:
            app.close()  # no-op after the lifespan shutdown; closes the logger when it never ran
        finally:
            if plog is not None:
                plog.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            sock.close()
    return 0 if server.started else STARTUP_FAILURE
