"""``shipyard ui``: the web UI on the local store, what ``mlflow ui`` users type first.

The same process as ``shipyard server`` (the UI, the API and /docs on 127.0.0.1:5000 by default),
with the same options; it binds only the loopback address unless ``--host`` says otherwise.
"""

from __future__ import annotations

import argparse

from shipyard.cli import _server

HELP = "open the web UI on the local store (shipyard server on 127.0.0.1:5000; same options)"


def register(parser: argparse.ArgumentParser) -> None:
    _server.register(parser)


serve = _server.serve
