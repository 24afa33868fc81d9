"""``shipyard import mlflow SOURCE [--to STORE]``: copy an MLflow tracking store into shipyard."""

from __future__ import annotations

import argparse
import dataclasses

from shipyard.cli._base import Context, add_verb, add_verbs

HELP = "import an existing store of another tool (MLflow) into shipyard"


def register(parser: argparse.ArgumentParser) -> None:
    verbs = add_verbs(parser)
    p = add_verb(verbs, "mlflow", import_mlflow_cmd,
                 "copy an MLflow tracking store (mlflow.db, postgresql://... or an mlruns/ folder) and its artifacts; "
                 "read-only on the source, a second run adds nothing")
    p.add_argument("source", metavar="SOURCE", help="the MLflow store: a path to mlflow.db, sqlite:///path, "
                   "a postgresql:// URL, an mlruns/ folder, or the folder holding one of them")
    p.add_argument("--to", metavar="STORE", default=None,
                   help="the shipyard store to import into (default: --tracking-uri / the configured store)")


def import_mlflow_cmd(ctx: Context) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from shipyard._client import Client
    from shipyard.mlflow_import import import_mlflow

    client = Client(ctx.args.to or ctx.tracking_uri)
    with Progress(TextColumn("importing runs"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,}"),
                  TimeElapsedColumn(), console=ctx.err, transient=True, disable=ctx.json) as bar:
        task = bar.add_task("runs", total=0)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        summary = import_mlflow(ctx.args.source, client.store, progress=progress)
    if ctx.json:
        ctx.print_json(dataclasses.asdict(summary))
        return 0
    from shipyard.cli._base import key_values, table

    counts = [(f.name.replace("_", " "), f"{getattr(summary, f.name):,}")
              for f in dataclasses.fields(summary) if f.name != "skipped"]
    ctx.section(key_values(counts, title="imported from MLflow"))
    if summary.skipped:
        skipped = table("Item", "Why", title="skipped")
        for item, why in summary.skipped:
            skipped.add_row(item, why)
        ctx.section(skipped)
    return 0
