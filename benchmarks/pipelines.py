"""Pipelines: shipyard vs Prefect 3 (side by side in one run), and shipyard's Dask executor vs raw Dask.

    python benchmarks/pipelines.py [--tasks 1000] [--no-prefect] [--no-dask]

Prefect runs in its own virtual environment (~/.cache/shipyard-bench/prefect, created on first use
with ``pip install 'prefect==3.*'``) with its default local backend. Every shipyard task run is
recorded in the store (SQLite under a temporary SHIPYARD_HOME); the script checks the count.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PREFECT_VENV = Path.home() / ".cache" / "shipyard-bench" / "prefect"

PREFECT_SCRIPT = r'''
import json, sys, time
t0 = time.perf_counter(); import prefect; from prefect import flow, task; t_import = time.perf_counter() - t0
N = int(sys.argv[1])
@task
def inc(x): return x + 1
@flow
def empty(): pass
@flow
def chain(n):
    x = 0
    for _ in range(n): x = inc(x)
    return x
@flow
def fan(n):
    return [f.result() for f in [inc.submit(i) for i in range(n)]]
empty()  # the first flow starts the local server
def timed(fn, *a):
    t = time.perf_counter(); fn(*a); return time.perf_counter() - t
print(json.dumps({"import_s": t_import, "empty_s": min(timed(empty) for _ in range(3)),
                  "chain_s": timed(chain, N), "fan_s": timed(fan, N)}))
'''


def _ours(n: int) -> dict[str, float]:
    t0 = time.perf_counter()
    from shipyard import pipeline, task
    from shipyard.pipelines._pipeline import _store

    import_s = time.perf_counter() - t0

    @task
    def inc(x: int) -> int:
        return x + 1

    @pipeline
    def empty() -> None:
        pass

    @pipeline
    def chain(n: int) -> None:
        x = inc(0)
        for _ in range(n - 1):
            x = inc(x)

    @pipeline
    def fan(n: int) -> None:
        inc.map(range(n))

    empty.run()  # opens (and creates) the store once, as any process does first
    empties = []
    for _ in range(20):
        t = time.perf_counter()
        empty.run()
        empties.append(time.perf_counter() - t)
    out = {"import_s": import_s, "empty_s": statistics.median(empties)}
    for name, pipe in (("chain", chain), ("fan", fan)):
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            run = pipe.run(n=n)
            best = min(best, time.perf_counter() - t)
        stored = _store()[0].get_pipeline_run(run.run_id)
        assert run.state == "SUCCEEDED" and len(stored.task_runs) == n, "every task run must be recorded"
        out[f"{name}_s"] = best
    return out


def _import_time() -> float:
    code = "import time; t=time.perf_counter(); from shipyard import task, pipeline; print(time.perf_counter()-t)"
    runs = [float(subprocess.check_output([sys.executable, "-c", code], text=True)) for _ in range(3)]
    return min(runs)


def _prefect(n: int) -> dict[str, float] | None:
    python = PREFECT_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {PREFECT_VENV} (pip install 'prefect==3.*') ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(PREFECT_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "prefect==3.*"], check=True)
    env = {**os.environ, "PREFECT_HOME": tempfile.mkdtemp(prefix="prefect-home-"),
           "PREFECT_LOGGING_LEVEL": "WARNING", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
    done = subprocess.run([str(python), "-c", PREFECT_SCRIPT, str(n)], capture_output=True, text=True, env=env,
                          timeout=900)
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _dask(n: int) -> dict[str, float]:
    import dask
    from distributed import Client, LocalCluster, wait

    from shipyard import pipeline, task
    from shipyard.pipelines import DaskExecutor

    @task
    def inc(x: int) -> int:
        return x + 1

    @pipeline
    def fan(n: int) -> None:
        inc.map(range(n))

    with dask.config.set({"distributed.scheduler.worker-saturation": float("inf")}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None)
    client = Client(cluster)
    executor = DaskExecutor.__new__(DaskExecutor)  # share the cluster with the raw-Dask baseline
    executor.client, executor._cluster = client, None

    def raw() -> None:
        wait(client.map(lambda x: x + 1, range(n), pure=False))

    raw()
    fan.run(executor=executor, n=n)
    out = {"raw_s": min(_timed(raw) for _ in range(3)),
           "ours_s": min(_timed(lambda: fan.run(executor=executor, n=n)) for _ in range(3))}
    client.close()
    cluster.close()
    return out


def _timed(fn: object) -> float:
    t = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--no-prefect", action="store_true")
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()
    n = args.tasks
    os.environ["SHIPYARD_HOME"] = tempfile.mkdtemp(prefix="shipyard-bench-")
    ours = _ours(n)
    ours["import_s"] = _import_time()
    prefect = None if args.no_prefect else _prefect(n)
    print(f"load average {os.getloadavg()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"{'':34}{'shipyard':>12}{'prefect 3':>12}{'ratio':>8}")

    def row(label: str, key: str, scale: float = 1.0, unit: str = "ms") -> None:
        a = ours[key] * scale
        b = prefect[key] * scale if prefect else None
        ratio = f"{b / a:7.0f}x" if b else ""
        print(f"{label:34}{a:10.2f}{unit}{(f'{b:10.2f}' + unit) if b else '':>12}{ratio}")

    row("import", "import_s", 1000)
    row("empty pipeline", "empty_s", 1000)
    row(f"{n} tasks, chain (end to end)", "chain_s", 1000)
    row(f"{n} tasks, fan-out (end to end)", "fan_s", 1000)
    for label, key in (("per task, chain", "chain_s"), ("per task, fan-out", "fan_s")):
        a = (ours[key] - ours["empty_s"]) / n * 1e6
        b = (prefect[key] - prefect["empty_s"]) / n * 1e6 if prefect else None
        print(f"{label:34}{a:10.0f}us{(f'{b:10.0f}us') if b else '':>12}{(f'{b / a:7.0f}x') if b else ''}")
    if not args.no_dask:
        d = _dask(n)
        print(f"dask, {n}-task fan-out: raw {d['raw_s'] * 1000:.0f} ms, shipyard {d['ours_s'] * 1000:.0f} ms "
              f"({d['ours_s'] / d['raw_s']:.2f}x)")


if __name__ == "__main__":
    main()
