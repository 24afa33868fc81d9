"""``shipyard scheduler``: run scheduled and queued pipelines until interrupted.

The same command as ``shipyard pipelines scheduler``, at the top level where operators look for it.
"""

from __future__ import annotations

import argparse

from shipyard.cli import _pipelines
from shipyard.cli._base import Context

HELP = "run scheduled pipelines and monitors, and queued pipelines, until interrupted"


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--poll", metavar="S", type=float, default=1.0, help="seconds between checks (1)")
    parser.add_argument("--module", metavar="M", action="append", default=None,
                        help="module or .py file defining pipelines (repeatable; default: shipyard.yaml)")
    _pipelines.add_executor_option(parser)
    parser.add_argument("--config", metavar="FILE", default=None,
                        help="the operator's configuration (TOML: allowed alert commands and webhook hosts); "
                             "overrides SHIPYARD_SERVER_CONFIG")
    parser.set_defaults(handler=serve)


def serve(ctx: Context) -> int:
    from shipyard.cli._server import use_server_config

    use_server_config(ctx.args.config)
    return _pipelines.serve(ctx)
