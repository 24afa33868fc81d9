"""Benchmark: how ``shipyard serve --workers N`` scales with the cores, for a CPU-bound load.

``benchmarks/serving.py`` sends one-row requests: there, HTTP dominates each request, the load
generator (wrk) needs the same cores, and even a no-op endpoint gains only about 1.2x from a second
worker on a 2-core machine. This script makes the model the work: each request carries ``--rows``
rows (default 64), so a request costs the server a whole model call and wrk little. It serves the
same models as ``benchmarks/serving.py`` (LR and the 100-tree RF, prediction log on) with 1, 2, ...
up to one more worker than the machine has cores, and reports the rows per second each count
reaches, in rounds taken round-robin (medians), against one worker.

    python benchmarks/serving_scaling.py                   # 1..cores+1 workers, 64 rows, c=8
    python benchmarks/serving_scaling.py --workers 1,2,4 --rows 16 --concurrency 16
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _serving_apps import SHIPYARD_BUILD

from serving import Server, free_port, load_average, rows, wrk


def request_script(path: Path, rows_per_request: int) -> Path:
    """A wrk script cycling over 16 bodies of ``rows_per_request`` records each."""
    import orjson

    records = rows(16 * rows_per_request)
    bodies = [orjson.dumps({"records": records[i * rows_per_request:(i + 1) * rows_per_request]}).decode()
              for i in range(16)]
    lines = ["local bodies = {"] + [f"  [[{b}]]," for b in bodies] + ["}", "local i = 0",
             'local headers = {["Content-Type"] = "application/json"}', "request = function()",
             "  i = i % #bodies + 1", '  return wrk.format("POST", nil, headers, bodies[i])', "end"]
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> int:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default=",".join(str(n) for n in range(1, cores + 2)),
                        help="worker counts (default 1 to cores + 1)")
    parser.add_argument("--rows", type=int, default=64, help="rows per request (default 64)")
    parser.add_argument("--concurrency", type=int, default=8, help="wrk connections (default 8)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per point (default 5)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians (default 3)")
    parser.add_argument("--models", default="lr,rf", help="lr, rf or both (default lr,rf)")
    args = parser.parse_args()
    workers = sorted({int(w) for w in args.workers.split(",") if w.strip()})
    models = [m for m in args.models.split(",") if m in ("lr", "rf")]
    if shutil.which("wrk") is None:
        print("wrk is needed as the load generator: apt-get install -y wrk", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="shipyard-bench-scaling-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_HOME"] = str(work / "home")
    print(f"# scaling: {args.rows} rows a request, c={args.concurrency}, {args.seconds:g} s x {args.repeat}, "
          f"{cores} cores, load average {load_average()}", file=sys.stderr)
    subprocess.run([sys.executable, "-c", SHIPYARD_BUILD], env=env, check=True)
    script = request_script(work / "rows.lua", args.rows)
    servers: dict[int, tuple[Server, int]] = {}
    results: dict[tuple[str, int], list[float]] = {}
    loads: list[float] = []
    try:
        for n in workers:
            port = free_port()
            cmd = [sys.executable, "-m", "shipyard", "serve", *models, "--port", str(port), "--log-level", "warning",
                   "--workers", str(n)]
            health = f"http://127.0.0.1:{port}/ready"
            servers[n] = Server(f"{n} workers", cmd, env, health, work / f"{n}.log", {}, {}), port
        for _, port in servers.values():  # warm-up: threads, batchers, caches
            for model in models:
                wrk(f"http://127.0.0.1:{port}/v1/deployments/{model}/predict", script, args.concurrency, 2.0)
        for rep in range(args.repeat):
            for model in models:
                turn = list(servers.items())
                for n, (_, port) in turn[rep % len(turn):] + turn[:rep % len(turn)]:
                    out = wrk(f"http://127.0.0.1:{port}/v1/deployments/{model}/predict", script, args.concurrency,
                              args.seconds)
                    loads.append(os.getloadavg()[0])
                    results.setdefault((model, n), []).append(out["rps"] * args.rows)
                    print(f"  [{rep + 1}/{args.repeat}] {model} {n} worker(s): {out['rps'] * args.rows:,.0f} rows/s "
                          f"(p99 {out['p99']:.1f} ms, errors {out['errors']:.0f})", file=sys.stderr, flush=True)
    finally:
        for server, _ in servers.values():
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{args.rows} rows a request, wrk c={args.concurrency}, {args.seconds:g} s per point, {args.repeat} "
          f"round(s), medians; {cores} cores; 1-min load average {min(loads):.2f}-{max(loads):.2f}; "
          "prediction log on\n")
    print("| model | workers | rows/s | (min-max) | x 1 worker |\n| --- | --- | --- | --- | --- |")
    for model in models:
        one = statistics.median(results[(model, workers[0])])
        for n in workers:
            runs = results[(model, n)]
            value = statistics.median(runs)
            print(f"| {model} | {n} | {value:,.0f} | {min(runs):,.0f}-{max(runs):,.0f} | {value / one:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
