"""The ``shipyard`` command: ``shipyard <noun> <verb> [options]``.

Each noun (``experiments``, ``runs``, ``models``, ...) is a module with a ``HELP`` line and a
``register(parser)`` function that adds its verbs (see :func:`shipyard.cli._base.add_verb`). A later
noun is one more entry in :data:`NOUNS`. Noun modules import only argparse at module level; the
store, rich and everything heavy are imported inside the command functions, so ``shipyard --help``
stays fast.

Exit codes: 0 success, 1 a :class:`~shipyard.errors.ShipyardError` (printed as ``error: <message>``
on stderr), 2 a usage error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from shipyard.cli._base import Context

__all__ = ["NOUNS", "build_parser", "main"]

# noun -> module defining HELP and register(parser); order is the order of `shipyard --help`.
NOUNS: dict[str, str] = {
    "demo": "shipyard.cli._demo",
    "experiments": "shipyard.cli._experiments",
    "runs": "shipyard.cli._runs",
    "models": "shipyard.cli._models",
    "deployments": "shipyard.cli._deployments",
    "monitors": "shipyard.cli._monitors",
    "features": "shipyard.cli._features",
    "policies": "shipyard.cli._policies",
    "serve": "shipyard.cli._serve",
    "pipelines": "shipyard.cli._pipelines",
    "scheduler": "shipyard.cli._scheduler",
    "server": "shipyard.cli._server",
    "ui": "shipyard.cli._ui",
    "tokens": "shipyard.cli._tokens",
    "import": "shipyard.cli._import",
}


def _version() -> str:
    from shipyard import __version__

    return f"shipyard {__version__}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shipyard",
        description="shipyard: track experiments, register models and run the MLOps loop.",
        epilog="Run 'shipyard <noun> --help' for the verbs of a noun.",
    )
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("--tracking-uri", metavar="URI", default=None,
                        help="store URI (sqlite:///path, postgresql://...); overrides SHIPYARD_TRACKING_URI")
    parser.add_argument("--json", action="store_true", default=False,
                        help="print machine-readable JSON on stdout instead of tables")
    nouns = parser.add_subparsers(dest="noun", metavar="NOUN", required=True)
    for name, module_name in NOUNS.items():
        module = importlib.import_module(module_name)
        noun_parser = nouns.add_parser(name, help=module.HELP, description=module.HELP)
        module.register(noun_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    ctx = Context(args)
    from shipyard.errors import ShipyardError

    try:
        return args.handler(ctx) or 0
    except ShipyardError as exc:
        ctx.error(exc.message)
        return 1
    except OSError as exc:  # a path the user named (store, artifact location) is unusable
        if isinstance(exc, BrokenPipeError):  # `shipyard runs list | head`: the reader left
            _silence_stdout()
            return 141
        ctx.error(str(exc))
        return 1
    except KeyboardInterrupt:
        ctx.error("interrupted")
        return 130
    finally:
        ctx.close()


def _silence_stdout() -> None:
    # Python's recipe: point stdout at devnull so the interpreter's final flush does not fail again.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (captured in tests)
        pass


if __name__ == "__main__":
    raise SystemExit(main())
