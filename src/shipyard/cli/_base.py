"""What every command shares: the parsed arguments, the client, output (tables, JSON, errors)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from shipyard._client import Client

__all__ = ["READ_VERBS", "Context", "Handler", "add_verb", "format_duration", "format_time", "format_value",
           "positive_int", "require_existing_store"]

Handler = Callable[["Context"], "int | None"]


def add_verb(
    verbs: argparse._SubParsersAction[argparse.ArgumentParser], name: str, handler: Handler, help: str,
) -> argparse.ArgumentParser:
    """Add ``<noun> name``; it accepts ``--json`` and ``--tracking-uri`` after the verb as well."""
    parser = verbs.add_parser(name, help=help, description=help)
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print machine-readable JSON on stdout")
    parser.add_argument("--tracking-uri", metavar="URI", default=argparse.SUPPRESS,
                        help="store URI; overrides SHIPYARD_TRACKING_URI")
    parser.set_defaults(handler=handler)
    return parser


def add_verbs(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    return parser.add_subparsers(dest="verb", metavar="VERB", required=True)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _console(stream: Any) -> Console:
    from rich.console import Console

    # In a pipe or a file nothing is wrapped or cut, so grep and awk see whole values.
    wide = not (hasattr(stream, "isatty") and stream.isatty()) and not os.environ.get("COLUMNS")
    return Console(file=stream, width=1000 if wide else None, highlight=False, soft_wrap=wide)


class Context:
    """The parsed arguments of one invocation, a lazily opened client and the two consoles."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.json: bool = bool(getattr(args, "json", False))
        self.tracking_uri: str | None = getattr(args, "tracking_uri", None)
        self._client: Client | None = None
        self._out: Console | None = None
        self._err: Console | None = None
        self._sections = 0

    @property
    def client(self) -> Client:
        if self._client is None:
            from shipyard._client import Client

            if getattr(self.args, "verb", None) in READ_VERBS:
                require_existing_store(self.tracking_uri)
            self._client = Client(self.tracking_uri)
        return self._client

    @property
    def out(self) -> Console:
        if self._out is None:
            self._out = _console(sys.stdout)
        return self._out

    @property
    def err(self) -> Console:
        if self._err is None:
            self._err = _console(sys.stderr)
        return self._err

    def print_json(self, value: Any) -> None:
        import orjson

        sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())
        sys.stdout.write("\n")
        sys.stdout.flush()

    def print(self, *objects: Any) -> None:
        self.out.print(*objects)

    def section(self, renderable: Any) -> None:
        """Print one part of a ``show`` page, set off from the part before by a blank line."""
        if self._sections:
            self.out.print()
        self._sections += 1
        self.out.print(renderable)

    def note(self, message: str) -> None:
        """A hint for a person (stderr, so it never mixes with JSON or table output)."""
        from rich.markup import escape

        self.err.print(f"[dim]{escape(message)}[/]")

    def error(self, message: str) -> None:
        from rich.markup import escape

        self.err.print(f"[bold red]error:[/] [red]{escape(message)}[/]")

    def close(self) -> None:
        if self._client is not None:
            self._client.flush()


#: Verbs that only read: they never create a store (a mistyped path must not print an empty table).
READ_VERBS = frozenset({"list", "show", "history", "versions", "runs", "rollout-status", "results", "alerts", "logs"})


def require_existing_store(tracking_uri: str | None) -> None:
    """Raise NotFound naming the path and what chose it when the SQLite store to read does not exist.

    Opening a SQLite URI creates the file; a read command on a mistyped path would then print an
    empty table, exit 0 and leave a new database behind."""
    from shipyard.config import resolve_settings
    from shipyard.errors import NotFound

    uri = resolve_settings(tracking_uri).store_uri
    if not uri.startswith("sqlite:///"):
        return
    path = uri.removeprefix("sqlite:///")
    if path == ":memory:" or os.path.exists(path):
        return
    env = os.environ
    if tracking_uri:
        chosen = "--tracking-uri"
    elif env.get("SHIPYARD_TRACKING_URI"):
        chosen = "SHIPYARD_TRACKING_URI"
    elif env.get("SHIPYARD_STORE_URI"):
        chosen = "SHIPYARD_STORE_URI"
    elif env.get("SHIPYARD_HOME"):
        chosen = f"SHIPYARD_HOME={env['SHIPYARD_HOME']}"
    else:
        chosen = "the default ./.shipyard in the working directory"
    raise NotFound(f"no shipyard store at {path} (chosen by {chosen}); run the command from the folder "
                   "that holds .shipyard/, or set SHIPYARD_TRACKING_URI (or --tracking-uri) to your store")


def table(*columns: str, title: str | None = None, ids: Iterable[str] = ("ID", "Run ID")) -> Table:
    """A borderless table; the ``ids`` columns are never wrapped or cut (32-character ids)."""
    from rich import box
    from rich.table import Table

    keep = set(ids)
    result = Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD, show_edge=False)
    for column in columns:
        if column in keep:
            result.add_column(column, no_wrap=True, min_width=32)
        else:
            result.add_column(column)
    return result


def key_values(rows: Iterable[tuple[str, Any]], title: str | None = None) -> Table:
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    if title:
        grid.title, grid.title_justify, grid.title_style = title, "left", "bold"
    grid.add_column(style="bold")
    grid.add_column()
    for key, value in rows:
        grid.add_row(key, format_value(value))
    return grid


def format_time(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def format_duration(start_ms: int | None, end_ms: int | None) -> str:
    if not start_ms or not end_ms:
        return "-"
    seconds = max(end_ms - start_ms, 0) / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def format_value(value: Any) -> str:
    """A cell: floats compact (``0.5``, ``1.235e-05``), None as ``-``; rich markup is escaped."""
    from rich.markup import escape

    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return escape(str(value))
