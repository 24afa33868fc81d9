"""Pipelines: shipyard vs Prefect 3 (side by side in one run), and shipyard's Dask executor vs raw Dask.

    python benchmarks/pipelines.py [--tasks 1000] [--no-prefect] [--no-dask]

Prefect runs in its own virtual environment (~/.cache/shipyard-bench/prefect, created on first use
with ``pip install 'prefect==3.*' 'sqlalchemy[asyncio]<2.1'``: Prefect 3.9's own SQLite setup fails on
SQLAlchemy 2.1) with its default local backend, a fresh PREFECT_HOME per run and telemetry off.
Every shipyard task run is recorded in the store (SQLite under a temporary SHIPYARD_HOME); the script checks the count.
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
import statistics
R = int(sys.argv[2])
print(json.dumps({"import_s": t_import, "empty_s": statistics.median(timed(empty) for _ in range(5)),
                  "chain_s": statistics.median(timed(chain, N) for _ in range(R)),
                  "fan_s": statistics.median(timed(fan, N) for _ in range(R))}))
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
        times = []
        for _ in range(5):
            t = time.perf_counter()
            run = pipe.run(n=n)
            times.append(time.perf_counter() - t)
            stored = _store()[0].get_pipeline_run(run.run_id)
            assert run.state == "SUCCEEDED" and len(stored.task_runs) == n, "every task run must be recorded"
        out[f"{name}_s"] = statistics.median(times)
    return out


def _import_time() -> float:
    code = "import time; t=time.perf_counter(); from shipyard import task, pipeline; print(time.perf_counter()-t)"
    runs = [float(subprocess.check_output([sys.executable, "-c", code], text=True)) for _ in range(5)]
    return statistics.median(runs)


PREFECT_REQUIREMENTS = ["prefect==3.*", "sqlalchemy[asyncio]>=2.0,<2.1"]


def _prefect_python() -> Path:
    python = PREFECT_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {PREFECT_VENV} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(PREFECT_VENV)], check=True)
    check = "import sqlalchemy, prefect; assert sqlalchemy.__version__ < '2.1'"
    if subprocess.run([str(python), "-c", check], capture_output=True).returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PREFECT_REQUIREMENTS], check=True)
    return python


def _prefect_versions(python: Path) -> str:
    code = "import prefect, sqlalchemy; print(prefect.__version__, sqlalchemy.__version__)"
    prefect, sqlalchemy = subprocess.check_output([str(python), "-c", code], text=True).split()
    return f"prefect {prefect} (sqlalchemy {sqlalchemy})"


def _prefect(n: int, repeats: int) -> dict[str, float] | None:
    python = _prefect_python()
    home = tempfile.mkdtemp(prefix="prefect-home-")
    env = {**os.environ, "PREFECT_HOME": home, "PREFECT_LOGGING_LEVEL": "WARNING",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
           "DO_NOT_TRACK": "1",
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}  # a loaded machine starts it slowly
    done = subprocess.run([str(python), "-c", PREFECT_SCRIPT, str(n), str(repeats)], capture_output=True,
                          text=True, env=env, timeout=1800)
    print(f"prefect: {_prefect_versions(python)}", file=sys.stderr)
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _dask(n: int, repeats: int) -> dict[str, float]:
    """The same functions, on the same cluster, in the same shapes: raw Dask (``client.submit`` in a
    chain, ``client.map`` for the fan-out) against shipyard's Dask executor (every task run recorded)."""
    import dask
    from distributed import Client, LocalCluster, wait

    from shipyard import pipeline, task
    from shipyard.pipelines import DaskExecutor
    from shipyard.pipelines._pipeline import _store

    def inc_fn(x: int) -> int:
        return x + 1

    inc = task(inc_fn, name="inc")

    @pipeline
    def chain(n: int) -> None:
        x = inc(0)
        for _ in range(n - 1):
            x = inc(x)

    @pipeline
    def fan(n: int) -> None:
        inc.map(range(n))

    with dask.config.set({"distributed.scheduler.worker-saturation": float("inf")}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0")
    client = Client(cluster)
    executor = DaskExecutor(client=client)  # shares the cluster with the raw-Dask baseline

    def raw_chain() -> None:
        x = client.submit(inc_fn, 0, pure=False)
        for _ in range(n - 1):
            x = client.submit(inc_fn, x, pure=False)
        wait(x)

    def raw_fan() -> None:
        wait(client.map(inc_fn, range(n), pure=False))

    def ours(pipe: object) -> None:
        run = pipe.run(executor=executor, n=n)  # type: ignore[attr-defined]
        assert run.state == "SUCCEEDED", run.error
        assert len(_store()[0].get_pipeline_run(run.run_id).task_runs) == n, "every task run must be recorded"

    cases = {"raw_chain_s": raw_chain, "ours_chain_s": lambda: ours(chain),
             "raw_fan_s": raw_fan, "ours_fan_s": lambda: ours(fan)}
    times: dict[str, list[float]] = {k: [] for k in cases}
    for fn in cases.values():
        fn()  # warm: imports and function pickles on the workers
    for _ in range(repeats):  # interleaved, so load from elsewhere hits both sides alike
        for key, fn in cases.items():
            times[key].append(_timed(fn))
    client.close()
    cluster.close()
    return {k: statistics.median(v) for k, v in times.items()}


def _timed(fn: object) -> float:
    t = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (medians are shown)")
    parser.add_argument("--no-prefect", action="store_true")
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()
    n = args.tasks
    os.environ["SHIPYARD_HOME"] = tempfile.mkdtemp(prefix="shipyard-bench-")
    load = [os.getloadavg()[0]]
    ours = _ours(n)
    ours["import_s"] = _import_time()
    load.append(os.getloadavg()[0])
    prefect = None if args.no_prefect else _prefect(n, args.repeats)
    load.append(os.getloadavg()[0])
    verdicts: list[str] = []
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, medians; 1-min load average during the "
          f"sections: {', '.join(f'{x:.1f}' for x in load)}")
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
        if b:
            verdicts.append(f"{label}: {b / a:.0f}x lower than Prefect (target >= 20x): "
                            f"{'PASS' if b / a >= 20 else 'FAIL'}")
    verdicts.append(f"empty pipeline {ours['empty_s'] * 1000:.1f} ms (target < 50 ms): "
                    f"{'PASS' if ours['empty_s'] < 0.05 else 'FAIL'}")
    if not args.no_dask:
        d = _dask(n, args.repeats)
        print(f"load average after the Dask section: {os.getloadavg()[0]:.1f}")
        for shape in ("chain", "fan"):
            raw, mine = d[f"raw_{shape}_s"], d[f"ours_{shape}_s"]
            print(f"dask, {n}-task {shape}: raw {raw * 1000:.0f} ms, shipyard {mine * 1000:.0f} ms "
                  f"({mine / raw:.2f}x)")
            verdicts.append(f"dask {shape}: {mine / raw:.2f}x raw Dask (target <= 2x): "
                            f"{'PASS' if mine / raw <= 2 else 'FAIL'}")
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()
