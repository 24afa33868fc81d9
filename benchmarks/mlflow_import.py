"""``shipyard import mlflow`` on a large MLflow store: time and peak memory.

Writes an MLflow tracking database of ``--runs`` runs x ``--points`` metric points (3 params and
3 tags each) with MLflow's own table layout (the columns of MLflow 3.17's schema that an import
reads; writing a million points through MLflow's client would take an hour), then imports it into
a fresh shipyard SQLite store in a child process and reports wall time, points per second and the
child's peak RSS. Memory should stay flat in the number of points: metrics are read a page at a time.

    python benchmarks/mlflow_import.py --runs 1000 --points 1000
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCHEMA = """
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL);
INSERT INTO alembic_version VALUES ('1b5f0d9ad7c1');
CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY, name VARCHAR(256) NOT NULL,
  artifact_location VARCHAR(256), lifecycle_stage VARCHAR(32), creation_time BIGINT, last_update_time BIGINT);
CREATE TABLE experiment_tags (key VARCHAR(250), value TEXT, experiment_id INTEGER);
CREATE TABLE runs (run_uuid VARCHAR(32) PRIMARY KEY, name VARCHAR(250), source_type VARCHAR(20),
  source_name VARCHAR(500), entry_point_name VARCHAR(50), user_id VARCHAR(256), status VARCHAR(9),
  start_time BIGINT, end_time BIGINT, source_version VARCHAR(50), lifecycle_stage VARCHAR(20),
  artifact_uri VARCHAR(200), experiment_id INTEGER, deleted_time BIGINT);
CREATE TABLE params (key VARCHAR(250), value VARCHAR(8000), run_uuid VARCHAR(32), PRIMARY KEY (key, run_uuid));
CREATE TABLE tags (key VARCHAR(250), value VARCHAR(8000), run_uuid VARCHAR(32), PRIMARY KEY (key, run_uuid));
CREATE TABLE metrics (key VARCHAR(250) NOT NULL, value FLOAT NOT NULL, timestamp BIGINT NOT NULL,
  run_uuid VARCHAR(32) NOT NULL, step BIGINT DEFAULT '0' NOT NULL, is_nan BOOLEAN DEFAULT '0' NOT NULL,
  PRIMARY KEY (key, timestamp, step, run_uuid, value, is_nan));
CREATE INDEX index_metrics_run_uuid ON metrics (run_uuid);
CREATE INDEX index_metrics_run_uuid_key_step ON metrics (run_uuid, key, step);
CREATE TABLE registered_models (name VARCHAR(256) PRIMARY KEY, creation_time BIGINT, last_updated_time BIGINT,
  description VARCHAR(5000));
CREATE TABLE registered_model_tags (key VARCHAR(250), value VARCHAR(5000), name VARCHAR(256));
CREATE TABLE registered_model_aliases (alias VARCHAR(256), version INTEGER, name VARCHAR(256));
CREATE TABLE model_versions (name VARCHAR(256), version INTEGER, creation_time BIGINT, last_updated_time BIGINT,
  description VARCHAR(5000), user_id VARCHAR(256), current_stage VARCHAR(20), source VARCHAR(500),
  run_id VARCHAR(32), status VARCHAR(20), status_message VARCHAR(500), run_link VARCHAR(500),
  storage_location VARCHAR(500));
CREATE TABLE model_version_tags (key VARCHAR(250), value TEXT, name VARCHAR(256), version INTEGER);
"""


def make_store(path: Path, runs: int, points: int) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    conn.execute("INSERT INTO experiments VALUES (1, 'big', '', 'active', 0, 0)")
    for r in range(runs):
        run_id = f"{r:032x}"
        conn.execute("INSERT INTO runs VALUES (?, ?, 'LOCAL', 'train.py', '', 'me', 'FINISHED', ?, ?, '', "
                     "'active', '', 1, NULL)", (run_id, f"run-{r}", 1000 + r, 2000 + r))
        conn.executemany("INSERT INTO params VALUES (?, ?, ?)", [(f"p{i}", str(i * r), run_id) for i in range(3)])
        conn.executemany("INSERT INTO tags VALUES (?, ?, ?)", [(f"t{i}", f"v{i}", run_id) for i in range(3)])
        conn.executemany("INSERT INTO metrics VALUES ('loss', ?, ?, ?, ?, 0)",
                         [(1.0 / (s + 1), 10_000 + s, run_id, s) for s in range(points)])
    conn.commit()
    conn.close()


def import_child(source: str, target: str) -> None:
    from shipyard.mlflow_import import import_mlflow
    from shipyard.store import open_store

    store = open_store(f"sqlite:///{target}/shipyard.db", f"{target}/artifacts")
    start = time.perf_counter()
    summary = import_mlflow(source, store)
    elapsed = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{summary.runs} {summary.metric_points} {elapsed:.2f} {rss_mb:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import_child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "mlflow.db"
        start = time.perf_counter()
        make_store(source, args.runs, args.points)
        made = time.perf_counter() - start
        out = subprocess.run([sys.executable, __file__, "--child", str(source), tmp], check=True,
                             capture_output=True, text=True, env=os.environ).stdout.split()
        runs, points, elapsed, rss = int(out[0]), int(out[1]), float(out[2]), out[3]
        print(f"source: {args.runs:,} runs x {args.points:,} points ({source.stat().st_size / 1e6:.0f} MB, "
              f"written in {made:.0f} s); load {os.getloadavg()[0]:.1f}")
        print("| runs | metric points | import time | points/s | peak RSS |")
        print("| ---: | ---: | ---: | ---: | ---: |")
        print(f"| {runs:,} | {points:,} | {elapsed:.1f} s | {points / elapsed:,.0f} | {rss} MB |")


if __name__ == "__main__":
    main()
