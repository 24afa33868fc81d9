"""``shipyard demo [--dir PATH] [--no-serve] [--port P]``: the whole loop on real data (see shipyard._demo)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from shipyard.cli._base import Context

if TYPE_CHECKING:
    from shipyard._demo import DemoResult

HELP = "the whole loop on real data in a few minutes: train, deploy, drift, retrain, gate, canary, promote"


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", metavar="PATH", default=None, help="where to keep the demo's store (a temp dir)")
    parser.add_argument("--no-serve", dest="serve", action="store_false",
                        help="exit at the end instead of leaving the server running")
    parser.add_argument("--host", default="127.0.0.1", help="the server's address at the end (127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="the server's port at the end (5000)")
    parser.set_defaults(handler=demo)


def demo(ctx: Context) -> int:
    from rich.markup import escape
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from shipyard._demo import run_demo

    out = ctx.out if not ctx.json else ctx.err
    with Progress(TextColumn("replaying rows"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,}"),
                  TimeElapsedColumn(), console=out, transient=True) as bar:
        task = bar.add_task("replay", total=12_000)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = run_demo(ctx.args.dir, say=lambda text: out.print(escape(text)), progress=progress)
    summary = _summary(result)
    if ctx.json:
        ctx.print_json(summary)
    else:
        out.print(_table(summary))
    if ctx.args.serve:
        return _serve(ctx, result)
    return 0


def _summary(r: DemoResult) -> dict[str, Any]:
    from shipyard._demo import DRIFT_AT, END, TRAIN_END

    promoted = [x for x in r.rollouts if x.state == "PROMOTED"]
    rolled_back = [x for x in r.rollouts if x.state == "ROLLED_BACK"]
    v2 = promoted[0].candidate_version if promoted else None
    return {
        "home": str(r.home),
        "seconds": round(r.seconds, 1),
        "v1_auc_before_drift": r.auc(1, TRAIN_END, DRIFT_AT),
        "v1_auc_after_drift": r.auc(1, DRIFT_AT, END),
        "v2": v2,
        "v2_auc_after_drift": r.auc(v2, DRIFT_AT, END) if v2 else None,
        "promoted": [x.candidate_version for x in promoted],
        "rolled_back": [x.candidate_version for x in rolled_back],
        "retrainings": sum(e.kind == "training_finished" for e in r.events),
        "events": len(r.events),
    }


def _table(s: dict[str, Any]) -> Any:
    from shipyard.cli._base import key_values

    def auc(value: Any) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    rows = [
        ("v1 AUC before the drift (rows 6,000-12,000)", auc(s["v1_auc_before_drift"])),
        ("v1 AUC after the drift (from row 12,000)", auc(s["v1_auc_after_drift"])),
        (f"v{s['v2']} AUC after the drift (retrained, champion)" if s["v2"] else "retrained model", auc(
            s["v2_auc_after_drift"])),
        ("promoted by the canary", ", ".join(f"v{v}" for v in s["promoted"]) or "none"),
        ("rolled back by the canary", ", ".join(f"v{v}" for v in s["rolled_back"]) or "none"),
        ("retrainings / recorded events", f"{s['retrainings']} / {s['events']}"),
        ("time", f"{s['seconds']} s"),
        ("store", str(s["home"])),
    ]
    return key_values(rows, title="shipyard demo")


def _serve(ctx: Context, result: DemoResult) -> int:
    try:
        from shipyard.server._run import ServerOptions, run
    except ImportError:
        ctx.note("the platform server is not available in this version; the demo's store stays at "
                 f"{result.home}")
        return 0
    ctx.note(f"the server keeps running on http://{ctx.args.host}:{ctx.args.port} (Ctrl-C stops it); "
             "`shipyard demo --no-serve` exits instead")
    return run(ServerOptions(host=ctx.args.host, port=ctx.args.port), say=ctx.note)
