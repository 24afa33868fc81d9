"""``shipyard serve [NAME ...] [--all]``: serve deployments over HTTP (see :mod:`shipyard.serving.server`).

A noun without verbs: the options are the command. The store is opened and the server imported
only when the command runs, so ``shipyard --help`` stays fast.
"""

from __future__ import annotations

import argparse

from shipyard.cli._base import Context, positive_int

HELP = "serve deployments over HTTP (native, MLflow /invocations, Open Inference Protocol V2)"

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number (0-65535), got {text!r}")
    return value


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="deployments to serve, or model URIs (models:/NAME@ALIAS, models:/NAME/VERSION, "
                             "runs:/RUN_ID/PATH) to serve as ad-hoc deployments, like mlflow models serve -m")
    parser.add_argument("--all", action="store_true", help="serve every deployment in the store")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8080, help="port to listen on (default 8080; 0: any free)")
    parser.add_argument("--workers", type=positive_int, default=1, metavar="N",
                        help="worker processes sharing the port (default 1)")
    parser.add_argument("--store-uri", metavar="URI", default=None,
                        help="store URI; overrides SHIPYARD_STORE_URI (same as --tracking-uri)")
    parser.add_argument("--artifact-uri", metavar="URI", default=None,
                        help="artifact root (models, prediction logs); overrides SHIPYARD_ARTIFACT_URI")
    parser.add_argument("--no-prediction-log", dest="prediction_log", action="store_false",
                        help="do not log predictions (monitoring then has nothing to read)")
    parser.add_argument("--wal-dir", metavar="DIR", default=None,
                        help="write-ahead folder: each answered batch is written there before it is answered and "
                             "shipped to the log after a kill -9 (default $SHIPYARD_WAL_DIR, else "
                             "<SHIPYARD_HOME>/prediction-wal)")
    parser.add_argument("--no-wal", dest="wal", action="store_false",
                        help="no write-ahead file: a kill -9 loses the last ~2 s of answered rows")
    parser.add_argument("--wal-fsync", action="store_true",
                        help="fsync the write-ahead file after each batch: survives power loss, costs throughput")
    parser.add_argument("--max-rows", type=positive_int, default=10_000, metavar="N",
                        help="rows one request may carry; more is answered 413 (default 10000)")
    parser.add_argument("--access-log", action="store_true", help="log a line per request (costs ~10%% throughput)")
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="info", help="server log level (default info)")
    parser.add_argument("--tracking-uri", metavar="URI", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    parser.set_defaults(handler=serve)


MONITOR_GAUGES = "shipyard.monitoring._prometheus:render_metrics"


def serve(ctx: Context) -> int:
    from shipyard.errors import InvalidInput
    from shipyard.serving.adhoc import is_model_uri
    from shipyard.serving.server import ServeOptions, run

    a = ctx.args
    if a.all and a.names:
        raise InvalidInput("give deployment names or --all, not both")
    if not a.all and not a.names:
        raise InvalidInput("name the deployments to serve (shipyard serve NAME ...), a model "
                           "(shipyard serve models:/NAME@ALIAS), or pass --all")
    import os

    from shipyard.config import resolve_settings

    # The monitors' gauges on /metrics read the store through the configuration: workers inherit it.
    settings = resolve_settings(a.store_uri or ctx.tracking_uri, a.artifact_uri)
    os.environ["SHIPYARD_TRACKING_URI"] = settings.store_uri
    os.environ["SHIPYARD_ARTIFACT_URI"] = settings.artifact_uri
    options = ServeOptions(
        names=tuple(n for n in a.names if not is_model_uri(n)), models=tuple(n for n in a.names if is_model_uri(n)),
        all=a.all, host=a.host, port=a.port, workers=a.workers,
        store_uri=settings.store_uri, artifact_uri=settings.artifact_uri, prediction_log=a.prediction_log,
        access_log=a.access_log, log_level=a.log_level, extra_metrics=MONITOR_GAUGES, max_rows=a.max_rows,
        wal=a.wal, wal_dir=a.wal_dir, wal_fsync=a.wal_fsync,
    )
    from rich.markup import escape

    return run(options, say=ctx.note if ctx.json else lambda text: ctx.print(escape(text)))
