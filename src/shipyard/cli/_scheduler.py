"""``shipyard scheduler``: run scheduled and queued pipelines until interrupted.

The same command as ``shipyard pipelines scheduler``, at the top level where operators look for it.
"""

from __future__ import annotations

import argparse

from shipyard.cli import _pipelines

HELP = "run scheduled pipelines and monitors, and queued pipelines, until interrupted"


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--poll", metavar="S", type=float, default=1.0, help="seconds between checks (1)")
    parser.add_argument("--module", metavar="M", action="append", default=None,
                        help="module or .py file defining pipelines (repeatable; default: shipyard.yaml)")
    parser.set_defaults(handler=_pipelines.serve)
