"""``shipyard server``: the platform API (and web UI) over the store, for remote clients.

A noun without verbs: the options are the command (see :mod:`shipyard.server._run`).
"""

from __future__ import annotations

import argparse

from shipyard.cli._base import Context, positive_int
from shipyard.cli._serve import LOG_LEVELS, _port

HELP = "run the shipyard server: the HTTP API for remote clients (SHIPYARD_TRACKING_URI=http://host:port)"


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=5000, help="port to listen on (default 5000; 0: any free)")
    parser.add_argument("--store-uri", metavar="URI", default=None,
                        help="database (sqlite:///path, postgresql://...); overrides SHIPYARD_STORE_URI")
    parser.add_argument("--artifact-uri", metavar="URI", default=None,
                        help="artifact root (a folder, or s3://...); overrides SHIPYARD_ARTIFACT_URI")
    parser.add_argument("--no-serve-artifacts", dest="serve_artifacts", action="store_false", default=None,
                        help="hand clients an object-store root (s3://...) to use directly, with their own "
                             "credentials, instead of serving it through /api/v1/artifacts (the default; also "
                             "[artifacts] serve = false in --config)")
    parser.add_argument("--auth", action="store_true",
                        help="require a bearer token on every API call (shipyard tokens create)")
    parser.add_argument("--scheduler", action="store_true",
                        help="also run the scheduler in this process (the same jobs as `shipyard scheduler`: "
                             "scheduled pipelines, policies, rollouts, scheduled monitors)")
    parser.add_argument("--module", metavar="M", action="append", default=None,
                        help="with --scheduler: module or .py file defining pipelines and policies "
                             "(default: shipyard.yaml)")
    parser.add_argument("--executor", metavar="E", default=None,
                        help="with --scheduler: where pipelines and policy retrainings run (threads, processes, "
                             "dask://host:8786)")
    parser.add_argument("--config", metavar="FILE", default=None,
                        help="the operator's configuration (TOML: allowed alert commands and webhook hosts); "
                             "overrides SHIPYARD_SERVER_CONFIG")
    parser.add_argument("--max-artifact-mb", metavar="MB", type=positive_int, default=None,
                        help="largest artifact file accepted through the server (default 4096)")
    parser.add_argument("--online-store", metavar="URI", default=None,
                        help="the feature store's online store that /api/v1/features reads and the scheduler "
                             "materializes into (sqlite:///path, redis://host:port/db or postgresql://...; default "
                             "SHIPYARD_ONLINE_STORE, else online_features.db in the shipyard home)")
    parser.add_argument("--access-log", action="store_true", help="log a line per request")
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="info", help="server log level (default info)")
    parser.add_argument("--tracking-uri", metavar="URI", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    parser.set_defaults(handler=serve)


def use_server_config(path: str | None) -> None:
    """Check the operator's configuration now (a typo fails the start, not the first alert) and hand it
    to this process's parts (API checks, the scheduler's deliveries) through the environment."""
    import os
    from pathlib import Path

    from shipyard.server_config import CONFIG_ENV, load_server_config

    if path is not None:
        os.environ[CONFIG_ENV] = str(Path(path).absolute())
    load_server_config()


def serve(ctx: Context) -> int:
    from rich.markup import escape

    from shipyard.errors import InvalidInput
    from shipyard.pipelines._executors import check_executor
    from shipyard.server._run import ServerOptions, run
    from shipyard.server_config import load_server_config

    a = ctx.args
    if a.executor is not None and not a.scheduler:
        raise InvalidInput("--executor says where the scheduler runs pipelines: add --scheduler")
    check_executor(a.executor)  # a typo fails the start, before anything listens
    use_server_config(a.config)
    if a.online_store:
        import os

        from shipyard.features import open_online_store

        open_online_store(a.online_store).close()  # a bad URI fails the start, not the first lookup
        os.environ["SHIPYARD_ONLINE_STORE"] = a.online_store  # the API and the scheduler's jobs read it
    serve_artifacts = a.serve_artifacts if a.serve_artifacts is not None else load_server_config().serve_artifacts
    options = ServerOptions(
        host=a.host, port=a.port, store_uri=a.store_uri or ctx.tracking_uri, artifact_uri=a.artifact_uri,
        auth=a.auth, scheduler=a.scheduler, modules=tuple(a.module) if a.module else None, executor=a.executor,
        max_artifact_bytes=a.max_artifact_mb * (1 << 20) if a.max_artifact_mb else None, log_level=a.log_level,
        access_log=a.access_log, proxy_artifacts=serve_artifacts,
    )
    return run(options, say=ctx.note if ctx.json else lambda text: ctx.print(escape(text)))
