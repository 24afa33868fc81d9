"""Listings as tables that fit the terminal, or as JSON or CSV: ``--output`` and ``--columns``.

A table cell is never cut to ``0.…``: a column gets its natural width, and when the columns do not
fit the terminal the least important ones are hidden (a note on stderr names them and says how to
see them) rather than squeezed. Free text (descriptions, paths) wraps instead. ``--columns`` picks
and orders columns by header; ``--output csv`` writes every column with raw values (nothing hidden,
nothing formatted), ``--output json`` (or ``--json``) the command's JSON records.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.cli._base import Context

__all__ = ["Col", "add_output_options", "emit"]

_GAP = 3  # between two columns: rich's cell padding on each side and the box's divider
_WRAP_MIN = 16  # a wrapping column is counted at this width when deciding what fits
_HEADER_MIN = 12  # a long header (metrics.validation_loss) folds over lines down to this width


def _cell(value: Any) -> str:
    from shipyard.cli._base import format_value

    return format_value(value)


@dataclass(frozen=True, slots=True)
class Col:
    """One column of a listing: how to read its raw value and how to show it."""

    header: str
    get: Callable[[Any], Any]
    show: Callable[[Any], str] | None = None  # the cell text (rich markup) from the raw value; default format_value
    rank: int = 1  # which columns go first when the terminal is narrow: the highest rank; 0 never goes
    wrap: bool = False  # free text that may wrap over lines instead of widening the table
    export: Callable[[Any], Any] | None = None  # the CSV/JSON value from the raw one (default: the raw value)

    def text(self, item: Any) -> str:
        value = self.get(item)
        return (self.show or _cell)(value)

    def data(self, item: Any) -> Any:
        value = self.get(item)
        return value if self.export is None else self.export(value)


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """``--output table|json|csv`` and ``--columns H1,H2`` on a listing verb."""
    parser.add_argument("--output", "-o", choices=("table", "json", "csv"), default="table",
                        help="table (default; fits the terminal), json, or csv (every column, raw values)")
    parser.add_argument("--columns", metavar="LIST", default=None,
                        help="comma-separated column headers to show, in this order (case-insensitive)")


def _chosen(ctx: Context, cols: Sequence[Col]) -> list[Col]:
    from shipyard.errors import InvalidInput

    wanted = getattr(ctx.args, "columns", None)
    if not wanted:
        return list(cols)
    by_name = {c.header.lower(): c for c in cols}
    picked = []
    for name in (n.strip() for n in wanted.split(",") if n.strip()):
        if name.lower() not in by_name:
            raise InvalidInput(f"no column {name!r}; the columns are: {', '.join(c.header for c in cols)}")
        picked.append(by_name[name.lower()])
    return picked


def _fit(cols: list[Col], texts: list[list[str]], width: int) -> dict[int, int]:
    """{column index: width} of the columns to show within ``width`` characters.

    Each column first gets what it needs (every cell whole; a wrapping column _WRAP_MIN; a long
    header folded); columns are hidden, the highest rank first, until that fits. What is left widens
    wrapping columns, then unfolds headers."""
    need = {i: min(_natural(c, texts, i), _WRAP_MIN) if c.wrap else _cells_width(c, texts, i)
            for i, c in enumerate(cols)}
    order = sorted((i for i, c in enumerate(cols) if c.rank > 0), key=lambda i: (-cols[i].rank, -i))
    for i in order:  # hide from the right within a rank, the highest rank first; rank 0 always stays
        if sum(need.values()) + _GAP * (len(need) - 1) <= width:
            break
        del need[i]
    left = width - sum(need.values()) - _GAP * (len(need) - 1)
    for wanted in (lambda i: _natural(cols[i], texts, i) if cols[i].wrap else need[i],
                   lambda i: _natural(cols[i], texts, i)):
        for i in need:
            grow = max(0, min(wanted(i) - need[i], left))
            need[i] += grow
            left -= grow
    return need


def _width(cell: str) -> int:
    """Terminal cells of a cell's text (rich markup such as ``[red]ALERT[/]`` takes none)."""
    if "[" not in cell:
        return len(cell)
    from rich.text import Text

    return Text.from_markup(cell).cell_len


def _natural(col: Col, texts: list[list[str]], i: int) -> int:
    return max([len(col.header), *(_width(row[i]) for row in texts)])


def _cells_width(col: Col, texts: list[list[str]], i: int) -> int:
    """The width a column needs: every cell whole, the header folded down to _HEADER_MIN if long."""
    return max([min(len(col.header), _HEADER_MIN), *(_width(row[i]) for row in texts)])


def emit(ctx: Context, cols: Sequence[Col], items: Sequence[Any], json_records: Callable[[], Any],
         *, empty_note: str | None = None) -> None:
    """Print ``items`` as the chosen output (table, JSON or CSV)."""
    output = "json" if ctx.json else getattr(ctx.args, "output", "table")
    chosen = _chosen(ctx, cols)
    if output == "json":
        if getattr(ctx.args, "columns", None):
            ctx.print_json([{c.header: c.data(item) for c in chosen} for item in items])
        else:
            ctx.print_json(json_records())
        return
    if output == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([c.header for c in chosen])
        for item in items:
            writer.writerow(["" if (v := c.data(item)) is None else v for c in chosen])
        sys.stdout.flush()
        return
    from rich import box
    from rich.table import Table

    texts = [[c.text(item) for c in chosen] for item in items]
    shown = _fit(chosen, texts, ctx.out.width)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for i, width in shown.items():
        # a fixed width each, so rich never squeezes a number; only free text and headers fold
        table.add_column(chosen[i].header, overflow="fold", width=width)
    for row in texts:
        table.add_row(*(row[i] for i in shown))
    ctx.print(table)
    hidden = [chosen[i].header for i in range(len(chosen)) if i not in shown]
    if hidden:
        ctx.note(f"{len(hidden)} column(s) hidden to fit {ctx.out.width} characters: {', '.join(hidden)} "
                 "(choose with --columns, or --output csv for all)")
    if not items and empty_note:
        ctx.note(empty_note)
