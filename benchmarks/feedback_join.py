"""Benchmark: reading the prediction log with its feedback labels (``read_prediction_log``).

A deployment whose log holds ``--history`` older rows (all labeled, as a deployment that has run a
while) followed by ``--rows`` recent rows (all labeled). Each case reads the recent part, with and
without the labels, through the current ``shipyard.serving.reader`` ("after") and through a copy of
the join as it was before issue 11 ("before": above 50,000 request ids it fetched every label the
deployment ever received). SQLite store in a temporary folder; best of ``--repeat`` runs.

    python benchmarks/feedback_join.py                    # 300,000 recent + 300,000 older rows
    python benchmarks/feedback_join.py --rows 100000 --history 1000000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

DAY_MS = 86_400_000
START_MS = 1_714_521_600_000  # 2024-05-01 UTC


def old_get_feedback(store: Any, deployment: str, request_ids: Any = None) -> list[Any]:
    """``SqlStore.get_feedback`` before issue 11 (a copy): SQLAlchemy rows, an IN list per 900 ids."""
    import orjson
    from sqlalchemy import select

    from shipyard.entities import Feedback
    from shipyard.store.sql import schema as s
    from shipyard.store.sql.sqlbase import chunks

    f = s.feedback
    query = select(f).where(f.c.deployment == deployment)
    with store._read() as conn:
        store._deployment_row(conn, deployment)
        if request_ids is None:
            rows = list(conn.execute(query.order_by(f.c.timestamp)))
        else:
            rows = [row for part in chunks(list(request_ids))
                    for row in conn.execute(query.where(f.c.request_id.in_(part)))]
    return [Feedback(row.deployment, row.request_id, orjson.loads(row.label), row.timestamp) for row in rows]


def old_join_feedback(table: Any, store: Any, deployment: str, found: bool) -> Any:
    """``shipyard.serving.reader._join_feedback`` before issue 11 (a copy, for the "before" column)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from shipyard.errors import NotFound
    from shipyard.serving._predlog_schema import TIMESTAMP, scalar_column

    ids = pc.unique(table["request_id"]) if table.num_rows else pa.array([], pa.string())
    try:
        if len(ids) <= 50_000:
            feedback = old_get_feedback(store, deployment, request_ids=ids.to_pylist())
        else:
            feedback = old_get_feedback(store, deployment)
    except NotFound:
        if not found:
            raise
        feedback = []
    keys = pa.array([f.request_id for f in feedback], type=pa.string())
    labels = scalar_column([f.label for f in feedback])
    times = pa.array([int(f.timestamp) for f in feedback], type=pa.int64()).cast(TIMESTAMP)
    if table.num_rows:
        index = pc.index_in(table["request_id"], value_set=keys)
        labels, times = labels.take(index), times.take(index)
    else:
        labels, times = labels[:0], times[:0]
    return table.append_column("label", labels).append_column("feedback_timestamp", times)


def build(home: Path, rows: int, history: int) -> tuple[Any, str, int]:
    """(store, log root, first timestamp of the recent rows)."""
    import numpy as np

    from shipyard.entities import Feedback, Route
    from shipyard.serving._predlog_schema import RecordBlock
    from shipyard.serving.predlog import PredictionLogger
    from shipyard.store import open_store

    store = open_store(f"sqlite:///{home}/shipyard.db", str(home / "artifacts"))
    store.create_registered_model("m")
    store.create_model_version("m", "/x")
    store.create_deployment("d", routes=[Route("m", 1, 100.0)])
    root = str(home / "artifacts" / "prediction-logs")
    rng = np.random.default_rng(0)
    total = history + rows
    # history over two days, the recent rows over the day after: one row every few ms
    stamps = np.concatenate([START_MS + np.linspace(0, 2 * DAY_MS - 1, history).astype(np.int64),
                             START_MS + 2 * DAY_MS + np.linspace(0, DAY_MS - 1, rows).astype(np.int64)])
    ids = [f"req-{i:08d}" for i in range(total)]
    X = rng.normal(size=(total, 5))
    preds = (X[:, 0] > 0).astype(np.int64)
    with PredictionLogger(root, max_rows=100_000) as plog:
        for lo in range(0, total, 10_000):
            hi = min(lo + 10_000, total)
            plog.append("d", RecordBlock(
                request_ids=ids[lo:hi], timestamp_ms=stamps[lo:hi], deployment="d", revision=1, model="m", version=1,
                shadow=False, features=X[lo:hi], feature_names=[f"x{j}" for j in range(5)],
                predictions=preds[lo:hi], latency_ms=1.0))
    labels = rng.integers(0, 2, total)
    for lo in range(0, total, 50_000):
        hi = min(lo + 50_000, total)
        store.log_feedback("d", [Feedback("d", ids[i], int(labels[i]), int(stamps[i]) + 60_000)
                                 for i in range(lo, hi)])
    return store, root, int(stamps[history]) if rows else int(stamps[-1]) + 1


def timed(fn: Any, repeat: int) -> tuple[float, int]:
    best, n = float("inf"), 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        table = fn()
        best = min(best, time.perf_counter() - t0)
        n = table.num_rows
    return best, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=300_000, help="recent rows, all labeled (300,000)")
    parser.add_argument("--history", type=int, default=300_000, help="older rows, all labeled (300,000)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from shipyard.serving import reader

    new_join = reader._join_feedback
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        print(f"writing {args.history:,} older and {args.rows:,} recent labeled rows ...", file=sys.stderr, flush=True)
        store, root, recent = build(Path(tmp), args.rows, args.history)
        print(f"setup: {args.history:,} older + {args.rows:,} recent labeled rows in {time.perf_counter() - t0:.1f} s")
        cases = [
            (f"all {args.rows:,} recent rows", {"start": recent}),
            ("last 100,000 rows", {"last_rows": 100_000}),
            ("last 10,000 rows", {"last_rows": 10_000}),
        ]
        print(f"\n{'window':<28} {'rows':>9} {'no labels s':>12} {'before s':>9} {'after s':>8} {'speed-up':>9}")
        for name, kw in cases:
            plain, n = timed(lambda kw=kw: reader.read_prediction_log("d", root=root, store=store,
                                                                       with_feedback=False, **kw), args.repeat)
            reader._join_feedback = old_join_feedback
            try:
                before, _ = timed(lambda kw=kw: reader.read_prediction_log("d", root=root, store=store, **kw),
                                  args.repeat)
            finally:
                reader._join_feedback = new_join
            after, n2 = timed(lambda kw=kw: reader.read_prediction_log("d", root=root, store=store, **kw),
                              args.repeat)
            assert n == n2
            print(f"{name:<28} {n:>9,} {plain:>12.2f} {before:>9.2f} {after:>8.2f} {before / after:>8.1f}x")
        store.close()
    print(f"\n{os.cpu_count()} CPU(s), python {sys.version.split()[0]}, SQLite store")


if __name__ == "__main__":
    main()
