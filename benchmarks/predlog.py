"""Benchmark: prediction-log reads against logs of many segments, before and after compaction.

For 100, 1,000 and 10,000 segments (two replicas, a segment each every 2 s, ``--rows`` rows per
segment), on a local folder and on an S3-compatible server (moto's, on 127.0.0.1), it measures:

- ``last 1,000``: ``read_prediction_log(last_rows=1000)`` (the log alone, no feedback join);
- ``monitor``: ``run_monitor`` of a monitor over the last 1,000 rows (drift checks against the
  model's training profile, feedback join, results stored in SQLite);
- ``files``: how many files the read picked (from listings and file names);
- ``old reader``: the last 1,000 rows read the way the reader did before issue 13 (count the
  rows of every segment of the newest day, then read them all), a copy kept here for the column;

before compaction and after it (hour files, as during the day; then the day file, once it is
over), plus the compaction's own time. ``--day`` adds a full day of two-replica traffic (86,400
segments, local folder; writing them takes minutes). Medians of ``--repeat`` runs. Segments are written directly in the
writer's format and names (``_segment_names``), which is what a replica writes, only faster.

    python benchmarks/predlog.py                  # local + S3, 100/1,000/10,000 segments
    python benchmarks/predlog.py --day --backends local --segments 100   # and a day of two replicas
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

DAY_MS = 86_400_000
FEATURES = ["x0", "x1", "x2", "x3", "x4"]


def median_ms(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), result


def setup_store(home: str) -> int:
    """A model with a training profile, deployment ``d`` and monitor ``mon`` (last 1,000 rows)."""
    os.environ["SHIPYARD_HOME"] = home
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    import shipyard
    from shipyard import monitoring

    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, len(FEATURES)))
    y = (X[:, 0] > 0).astype(int)
    with shipyard.start_run():
        import pandas as pd

        frame = pd.DataFrame(X, columns=FEATURES)
        shipyard.sklearn.log_model(LogisticRegression().fit(frame, y), "model", training_data=frame,
                                   registered_model_name="m")
    client = shipyard.Client()
    client.create_deployment("d", routes=[{"model": "m", "version": 1}])
    monitoring.create_monitor("mon", "d", window=1000)
    return 1


def segment_table(rows: int, start_ms: int, seed: int) -> Any:
    import numpy as np

    from shipyard.serving._predlog_schema import RecordBlock, blocks_to_table

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, len(FEATURES)))
    block = RecordBlock(request_ids=[f"{seed:08d}-{i:05d}" for i in range(rows)],
                        timestamp_ms=start_ms + np.arange(rows, dtype=np.int64), deployment="d", revision=1,
                        model="m", version=1, shadow=False, features=X, feature_names=FEATURES,
                        predictions=(X[:, 0] > 0).astype(np.int64), latency_ms=0.4)
    return blocks_to_table([block])


def write_segments(root: str, count: int, rows: int, day_start: int, span_ms: int) -> int:
    """``count`` segments of two replicas spread evenly over ``span_ms`` from ``day_start``."""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from shipyard.serving._predlog_schema import partition_dir
    from shipyard.serving._segment_files import SegmentFiles
    from shipyard.serving._segment_names import segment_name

    files = SegmentFiles(root)
    folder = partition_dir("d", (dt.date(1970, 1, 1) + dt.timedelta(days=day_start // DAY_MS)).isoformat())
    step = span_ms // count
    template = segment_table(rows, 0, 0)
    stamps = template["timestamp"].cast(pa.int64())
    ts_index = template.schema.get_field_index("timestamp")
    def one(s: int) -> None:
        start = day_start + s * step
        table = template.set_column(ts_index, "timestamp", pc.add(stamps, start).cast(template.schema.field(
            "timestamp").type))
        ids = pa.array([f"{s:08d}-{i:05d}" for i in range(rows)], pa.string())
        table = table.set_column(0, "request_id", ids)
        name = segment_name(f"pod-{s % 2}", 1_000_000 + s, start, start + rows - 1, rows)
        if files.is_local:  # straight to the final name: same bytes, without the writer's fsync per file
            path = files.full(f"{folder}/{name}")
            pq.write_table(table, path)
        else:
            files.write_table(f"{folder}/{name}", table)

    if files.is_local:
        os.makedirs(files.full(folder), exist_ok=True)
    with ThreadPoolExecutor(max_workers=8) as pool:  # Parquet writes and puts overlap
        list(pool.map(one, range(count)))
    return count * rows


def old_last_rows(root: str, deployment: str, n: int) -> Any:
    """The last ``n`` rows as the reader found them before issue 13 (a copy, for the old column)."""
    import pyarrow.dataset as ds

    from shipyard.serving._predlog_schema import unify_schemas
    from shipyard.serving._segment_files import SegmentFiles

    files = SegmentFiles(root)
    base = f"deployment={deployment}"
    paths: list[str] = []
    found = 0
    filesystem = files.arrow_filesystem()
    for name in reversed([d for d in files.list_names(base) if d.startswith("date=")]):
        folder = f"{base}/{name}"
        day_paths = [files.full(f"{folder}/{x}") for x in files.list_names(folder) if x.endswith(".parquet")]
        paths = day_paths + paths
        found += ds.dataset(day_paths, format="parquet", filesystem=filesystem).count_rows()
        if found >= n:
            break
    fragments = ds.dataset(paths, format="parquet", filesystem=filesystem)
    schemas = [f.physical_schema for f in fragments.get_fragments()]
    table = ds.dataset(paths, schema=unify_schemas(schemas), format="parquet", filesystem=filesystem).to_table()
    table = table.sort_by([("timestamp", "ascending"), ("request_id", "ascending")])
    return table.slice(max(0, table.num_rows - n))


def measure(root: str, stage: str, now: int, repeat: int, old: bool) -> dict[str, Any]:
    from shipyard.monitoring import run_monitor
    from shipyard.serving._segment_files import SegmentFiles
    from shipyard.serving.reader import read_prediction_log, select_files

    files = SegmentFiles(root)
    rels, _ = select_files(files, "d", None, now, 1000)
    last_ms, table = median_ms(lambda: read_prediction_log("d", None, now, last_rows=1000, with_feedback=False,
                                                           root=root), repeat)
    assert table.num_rows == 1000, table.num_rows
    monitor_ms, run = median_ms(lambda: run_monitor("mon", now=now, root=root), repeat)
    assert run.results and run.results[0].rows == 1000, run.results
    row = {"stage": stage, "files": len(rels), "last_ms": last_ms, "monitor_ms": monitor_ms, "old_ms": None}
    if old:
        row["old_ms"], old_table = median_ms(lambda: old_last_rows(root, "d", 1000), 1)
        assert old_table["request_id"].equals(table["request_id"])
    return row


def case(root: str, count: int, rows: int, repeat: int, old_max: int, day: bool = False) -> list[dict[str, Any]]:
    from shipyard.serving.compaction import compact_prediction_log

    today = int(time.time() * 1000) // DAY_MS * DAY_MS
    day_start = today - DAY_MS  # yesterday: hour files while "now" is within it, the day file after
    span = DAY_MS if day else count * 1000  # two replicas, a segment each every 2 s
    t0 = time.perf_counter()
    total = write_segments(root, count, rows, day_start, span)
    generated = time.perf_counter() - t0
    end = day_start + span
    during = min(end + 60_000, day_start + DAY_MS - 1)  # still that day: compaction makes hour files
    out = []
    base = {"segments": count, "rows": total, "generate_s": generated}
    out.append({**base, **measure(root, "before", during, repeat, count <= old_max), "compact_s": None})
    t0 = time.perf_counter()
    report = compact_prediction_log(root, grace_s=0, now_ms=during)
    took = time.perf_counter() - t0
    compact_prediction_log(root, grace_s=0, now_ms=during)  # the replaced segments go
    assert sum(f.rows for f in report.written) == total
    hours = report.written
    out.append({**base, **measure(root, f"hour files ({len(hours)})", during, repeat, False), "compact_s": took})
    t0 = time.perf_counter()
    report = compact_prediction_log(root, grace_s=0)  # the day is over: one file
    took = time.perf_counter() - t0
    compact_prediction_log(root, grace_s=0)
    stage = "day file" if report.written else f"day over: the {len(hours)} hour file kept"
    out.append({**base, **measure(root, stage, during, repeat, False), "compact_s": took})
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--segments", default="100,1000,10000")
    parser.add_argument("--rows", type=int, default=20, help="rows per segment")
    parser.add_argument("--backends", default="local,s3",
                        help='comma-separated: local, s3 ("" with --day: the day alone)')
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--old-max-s3", type=int, default=1000,
                        help="largest log the old reader is run on over S3 (it opens every segment)")
    parser.add_argument("--day", action="store_true",
                        help="add a day of two-replica traffic (86,400 segments, local folder; writing them takes "
                             "minutes)")
    args = parser.parse_args()
    counts = [int(c) for c in args.segments.split(",")]
    work = tempfile.mkdtemp(prefix="predlog-bench-")
    setup_store(f"{work}/home")
    results: list[tuple[str, dict[str, Any]]] = []
    server = None
    try:
        for backend in [b for b in args.backends.split(",") if b]:  # --backends "": the day alone
            if backend not in ("local", "s3"):
                raise SystemExit(f"unknown backend {backend!r}: local or s3")
            if backend == "s3":
                import logging

                from moto.server import ThreadedMotoServer

                logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise

                port = free_port()
                server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
                server.start()
                os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                                   "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"})
                import s3fs

                s3fs.S3FileSystem().mkdir("bench")
            for count in counts:
                root = f"{work}/log-{count}" if backend == "local" else f"s3://bench/log-{count}"
                old_max = 10**9 if backend == "local" else args.old_max_s3
                for row in case(root, count, args.rows, args.repeat, old_max):
                    results.append((backend, row))
                    print(backend, row, flush=True)
        if args.day:
            for row in case(f"{work}/log-day", 86_400, args.rows, args.repeat, 0, day=True):  # old reader: minutes
                results.append(("local, a day", row))
                print("day", row, flush=True)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"load average: {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}; "
          f"{args.rows} rows per segment; medians of {args.repeat}")
    print("| store | segments | rows | log as | files read | last 1,000 rows | monitor run | old reader, last 1,000 "
          "| compaction |")
    print("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for backend, r in results:
        old = "" if r["old_ms"] is None else f"{r['old_ms']:,.0f} ms"
        took = "" if r["compact_s"] is None else f"{r['compact_s']:.1f} s"
        print(f"| {backend} | {r['segments']:,} | {r['rows']:,} | {r['stage']} | {r['files']} | "
              f"{r['last_ms']:,.0f} ms | {r['monitor_ms']:,.0f} ms | {old} | {took} |")


if __name__ == "__main__":
    main()
