#!/usr/bin/env python3
"""Web UI benchmark: the runs page (and the chart data) with 100,000 runs in the store.

    .venv/bin/python benchmarks/ui.py                 # 100,000 runs, 9 requests per row
    .venv/bin/python benchmarks/ui.py --runs 10000 --repeats 5

Setup (not timed): a fresh SQLite store in a temporary directory; one run written through the API,
then ``--runs`` runs written straight into the tables (5 params, 5 metrics and a tag each, as
``benchmarks/tracking.py`` does), and one run with a 100,000-point metric history. The server is the
real app (``create_app``) under uvicorn on 127.0.0.1, in this process; requests go through httpx.

Each row is one page, requested once to warm up and then ``--repeats`` times; the figures are the
median (and the worst) of the server's own time for the request (its ``Server-Timing`` header:
from routing to the rendered page) and of the time the client waited (plus HTTP on loopback).
Target: the runs page under 300 ms of server time with 100,000 runs.

shipyard alone: MLflow's UI renders its runs table in the browser from a JSON search API, so there
is no server-side page of it to time side by side.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

TARGET_MS = 300.0
FILTER = "metrics.m0 > 0.5 and params.p0 = 'a'"
HISTORY_POINTS = 100_000


def _values(i: int) -> tuple[dict[str, str], dict[str, float]]:
    rng = random.Random(i)
    params = {"p0": "abc"[i % 3], **{f"p{j}": f"v{rng.randrange(100)}" for j in range(1, 5)}}
    return params, {f"m{j}": rng.random() for j in range(5)}


def fill(store, experiment_id: str, n: int) -> None:  # type: ignore[no-untyped-def]
    """n runs straight into the tables, after one through the API (whose rows they imitate)."""
    from shipyard.entities import Metric, Param, RunTag
    from shipyard.store.sql import schema as s

    first = store.create_run(experiment_id, run_name="api-run")
    params0, metrics0 = _values(0)
    now = int(time.time() * 1000)
    store.end_run(first.info.run_id, "FINISHED", now, metrics=[Metric(k, v, now, 0) for k, v in metrics0.items()],
                  params=[Param(k, v) for k, v in params0.items()], tags=[RunTag("team", "t0")])
    root = first.info.artifact_uri.rsplit("/", 2)[0]
    with store._engine.connect().execution_options(shipyard_write=True) as conn, conn.begin():
        series_id = conn.exec_driver_sql("SELECT coalesce(max(series_id), 0) FROM metric_series").scalar() + 1
        for start in range(1, n, 10_000):
            runs, params, tags, series, points = [], [], [], [], []
            for i in range(start, min(start + 10_000, n)):
                run_id = uuid.uuid4().hex
                p, m = _values(i)
                runs.append({"run_id": run_id, "experiment_id": experiment_id, "name": f"run-{i}",
                             "status": "FINISHED", "start_time": now + i, "end_time": now + i + 1,
                             "artifact_uri": f"{root}/{run_id}/artifacts", "lifecycle_stage": "active",
                             "user_id": "bench", "parent_run_id": None})
                params += [{"run_id": run_id, "key": k, "value": v} for k, v in p.items()]
                tags.append({"run_id": run_id, "key": "team", "value": f"t{i % 7}"})
                for k, v in m.items():
                    series.append({"series_id": series_id, "run_id": run_id, "key": k, "value": v, "step": 0,
                                   "timestamp": now + i})
                    points.append({"series_id": series_id, "step": 0, "timestamp": now + i, "value": v})
                    series_id += 1
            conn.execute(s.runs.insert(), runs)
            conn.execute(s.params.insert(), params)
            conn.execute(s.run_tags.insert(), tags)
            conn.execute(s.metric_series.insert(), series)
            conn.execute(s.metrics.insert(), points)


def long_history(store, experiment_id: str) -> str:  # type: ignore[no-untyped-def]
    import math

    from shipyard.entities import Metric

    run = store.create_run(experiment_id, run_name="long-history")
    now = int(time.time() * 1000)
    for start in range(0, HISTORY_POINTS, 20_000):
        store.log_batch(run.info.run_id, metrics=[Metric("loss", math.exp(-s / 30_000) + 0.01 * math.sin(s), now + s, s)
                                                  for s in range(start, start + 20_000)])
    store.end_run(run.info.run_id, "FINISHED", now + HISTORY_POINTS)
    return run.info.run_id


class Server:
    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                                    lifespan="off", access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{self.server.servers[0].sockets[0].getsockname()[1]}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def measure(client, path: str, repeats: int) -> dict:  # type: ignore[no-untyped-def]
    server, wall = [], []
    response = client.get(path)  # warm-up: compiled templates and statements, the page cache of SQLite
    for _ in range(repeats):
        t0 = time.perf_counter()
        response = client.get(path)
        wall.append((time.perf_counter() - t0) * 1000)
        timing = response.headers.get("server-timing", "app;dur=nan")
        server.append(float(timing.split("dur=")[1]))
    return {"status": response.status_code, "bytes": len(response.content), "server": statistics.median(server),
            "server_max": max(server), "wall": statistics.median(wall), "wall_max": max(wall)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="shipyard-bench-ui-"))
    os.environ["SHIPYARD_HOME"] = str(tmp)
    import httpx

    from shipyard.server import create_app
    from shipyard.store.sql import SqlStore
    from shipyard.store.sql.search import encode_page_token

    store = SqlStore(f"sqlite:///{tmp / 'shipyard.db'}", str(tmp / "artifacts"))
    exp = store.create_experiment("bench")
    t0 = time.perf_counter()
    print(f"writing {args.runs:,} runs and a {HISTORY_POINTS:,}-point history into {tmp} ...", file=sys.stderr,
          flush=True)
    fill(store, exp, args.runs)
    history_run = long_history(store, exp)
    setup = time.perf_counter() - t0
    server = Server(create_app(store))
    base = f"/experiments/{exp}"
    cols = [f"metrics:m{j}" for j in range(5)] + [f"params:p{j}" for j in range(5)] + ["tags:team"]
    def q(**params: object) -> str:
        return f"{base}?{urlencode(params, doseq=True)}"

    def chart(**params: object) -> str:
        return f"/series.json?{urlencode({'run': history_run, 'key': 'loss', 'buckets': 1000, **params})}"

    rows = [
        ("runs page: newest 100 (default columns)", base),
        ("runs page: sorted by a metric", f"{base}?{urlencode({'sort': 'metrics:m1', 'dir': 'desc'})}"),
        ("runs page: filter + sort by a metric", f"{base}?{urlencode({'filter': FILTER, 'sort': 'metrics:m1'})}"),
        ("runs page: filter on a param, newest first", f"{base}?{urlencode({'filter': 'params.p0 = ' + repr('b')})}"),
        ("runs page: page 50 (runs 4,901-5,000)", f"{base}?{urlencode({'page': encode_page_token(4900)})}"),
        ("runs page: 200 runs x 11 chosen columns", f"{base}?{urlencode({'per': 200, 'col': cols}, doseq=True)}"),
        ("runs page: a filter that does not parse", f"{base}?{urlencode({'filter': 'metrics.m0 >'})}"),
        ("runs page: sorted by run name (no index: sorts every run)", q(sort="attributes:run_name")),
        ("runs page: sorted by status (no index: sorts every run)", q(sort="attributes:status")),
        ("runs page: sorted by a tag (no index: sorts every run)", q(sort="tags:team")),
        ("experiments page", "/experiments"),
        ("run page", f"/runs/{history_run}"),
        (f"chart data: {HISTORY_POINTS:,}-point history, overview", chart()),
        ("chart data: zoomed to 10 % of it", chart(min=45_000, max=55_000)),
    ]
    results = []
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for label, path in rows:
                results.append((label, measure(client, path, args.repeats)))
    finally:
        server.stop()
        store.close()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"\nshipyard web UI, {args.runs:,} runs in the store (setup {setup:.1f} s); {args.repeats} requests per "
          f"row after a warm-up; {platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}\n")
    print("| page | status | KiB | server ms (median / max) | client ms (median / max) | |")
    print("| --- | --- | --- | --- | --- | --- |")
    verdict = 0
    for label, r in results:
        mark = ""
        if label.startswith("runs page") and r["status"] in (200, 400):
            mark = "PASS" if r["server"] < TARGET_MS else "FAIL"
            verdict |= mark == "FAIL"
        print(f"| {label} | {r['status']} | {r['bytes'] / 1024:.0f} | {r['server']:.1f} / {r['server_max']:.1f} | "
              f"{r['wall']:.1f} / {r['wall_max']:.1f} | {mark} |")
    print(f"\ntarget: every runs page under {TARGET_MS:.0f} ms of server time with {args.runs:,} runs")
    return verdict


if __name__ == "__main__":
    sys.exit(main())
