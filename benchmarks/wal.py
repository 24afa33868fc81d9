"""Benchmark: what the prediction log's write-ahead file costs a serving process, per ``append``.

The serving app hands the logger one block per ``predict`` call; with a write-ahead folder each
``append`` also encodes the block (orjson) and writes it with one ``os.write``. This measures the
CPU time of the appending thread per call (``time.thread_time``, which the load of other jobs
slows but does not inflate), with and without the file, on one-row blocks of 20 features like
``benchmarks/serving.py``'s, interleaved over rounds; the end-to-end price at c=8 and c=64 comes
from ``python benchmarks/serving.py --setups one,nowal --models lr --skip-mlflow --skip-bentoml``
(throughput and CPU per request of the two set-ups).

    python benchmarks/wal.py                 # 20,000 appends x 5 rounds
    python benchmarks/wal.py --rows 8        # blocks of 8 rows (a batch of concurrent requests)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time

import numpy as np

from shipyard.serving._predlog_schema import RecordBlock
from shipyard.serving.predlog import PredictionLogger

NAMES = [f"f{i}" for i in range(20)]


def blocks(count: int, rows: int) -> list[RecordBlock]:
    rng = np.random.default_rng(0)
    return [RecordBlock(request_ids=[f"{i:028x}{j:04x}" for j in range(rows)],
                        timestamp_ms=np.full(rows, 1_700_000_000_000 + i, dtype=np.int64), deployment="lr",
                        revision=1, model="lr", version=1, shadow=False, features=rng.random((rows, 20)),
                        feature_names=NAMES, predictions=rng.integers(0, 2, rows),
                        probabilities=rng.random((rows, 2)), latency_ms=np.full(rows, 1.0))
            for i in range(count)]


def one_round(data: list[RecordBlock], wal: bool, fsync: bool) -> float:
    """CPU microseconds of the appending thread per append."""
    folder = tempfile.mkdtemp(prefix="shipyard-bench-wal-")
    try:
        plog = PredictionLogger(os.path.join(folder, "log"), wal_dir=os.path.join(folder, "wal") if wal else None,
                                wal_fsync=fsync, max_seconds=3600, max_rows=10**9)
        start = time.thread_time()
        for block in data:
            plog.append("lr", block)
        spent = time.thread_time() - start
        plog.close()
        return spent / len(data) * 1e6
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--appends", type=int, default=20_000)
    parser.add_argument("--rows", type=int, default=1, help="rows per block (default 1)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--fsync", action="store_true", help="also measure the fsync option")
    args = parser.parse_args()
    data = blocks(args.appends, args.rows)
    setups = {"no write-ahead file": (False, False), "write-ahead file": (True, False)}
    if args.fsync:
        setups["write-ahead file, fsync"] = (True, True)
    times: dict[str, list[float]] = {name: [] for name in setups}
    for _ in range(args.repeat):
        for name, (wal, fsync) in setups.items():
            times[name].append(one_round(data, wal, fsync))
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{args.appends} appends of {args.rows}-row blocks x {args.repeat} rounds, medians; load {load}\n")
    print("| set-up | CPU us per append | (min-max) |\n| --- | --- | --- |")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.1f} | {min(values):.1f}-{max(values):.1f} |")
    extra = statistics.median(times["write-ahead file"]) - statistics.median(times["no write-ahead file"])
    print(f"\nThe write-ahead file adds {extra:.1f} us of CPU per append (one per predict call).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
