"""Benchmark: ``shipyard serve`` against ``mlflow models serve``, single-row requests over HTTP.

Two scikit-learn models on 20 numeric features (LogisticRegression, RandomForestClassifier with 100
trees), trained on the same seeded data in each environment. shipyard serves both deployments in
one process (batching on, defaults) in three set-ups: 1 worker with the prediction log, 1 worker
without it (to price the log), and ``--workers 2`` with the log. MLflow 3.17 serves each model with
``mlflow models serve --env-manager local`` from its own virtualenv (created on first use; models
saved with cloudpickle, since its default skops format refuses a forest without trusted types).
The load generator is wrk (a separate process, keep-alive, 64 different rows cycled by a Lua
script) at concurrency 1, 8 and 64 for 20 s each (``--quick``: 5 s). Time to healthy is measured
from process start to the first 200 on ``/ready`` (shipyard) or ``/ping`` (MLflow).

    python benchmarks/serving.py                 # full run, ~10 minutes
    python benchmarks/serving.py --quick         # 5 s per point
    python benchmarks/serving.py --skip-mlflow   # shipyard only (ratios left blank)
    python benchmarks/serving.py --setups two    # one shipyard set-up (one, nolog, two)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _peer import ensure_peer, version_of

ROOT = Path(__file__).resolve().parent.parent
N_FEATURES = 20
FEATURES = [f"f{i}" for i in range(N_FEATURES)]
MODELS = ("lr", "rf")
CONCURRENCY = (1, 8, 64)

# Runs in either environment (shipyard's dev venv or MLflow's): the same seeded data and models.
TRAIN = """
import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

X, y = make_classification(n_samples=5000, n_features=20, n_informative=10, random_state=7)
MODELS = {"lr": LogisticRegression(max_iter=1000).fit(X, y),
          "rf": RandomForestClassifier(n_estimators=100, random_state=7, n_jobs=1).fit(X, y)}
FEATURES = [f"f{i}" for i in range(20)]
"""

SHIPYARD_BUILD = TRAIN + """
import shipyard, shipyard.sklearn
example = {f: X[:3, i].tolist() for i, f in enumerate(FEATURES)}
for name, model in MODELS.items():
    with shipyard.start_run():
        shipyard.sklearn.log_model(model, "model", registered_model_name=name, input_example=example)
    shipyard.Client().create_deployment(name, routes=[{"model": name, "version": 1}])
"""

MLFLOW_BUILD = TRAIN + """
import sys
import pandas as pd
import mlflow.sklearn
from mlflow.models import infer_signature
frame = pd.DataFrame(X[:3], columns=FEATURES)
for name, model in MODELS.items():
    mlflow.sklearn.save_model(model, f"{sys.argv[1]}/{name}", serialization_format="cloudpickle",
                              signature=infer_signature(frame, model.predict(X[:3])))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rows(n: int = 64) -> list[dict[str, float]]:
    import numpy as np

    rng = np.random.default_rng(1)
    return [dict(zip(FEATURES, map(float, rng.normal(size=N_FEATURES)), strict=True)) for _ in range(n)]


def lua_script(path: Path, key: str) -> Path:
    """A wrk script cycling over 64 single-row bodies ``{key: [row]}``."""
    import orjson

    bodies = [orjson.dumps({key: [r]}).decode() for r in rows()]
    lines = ["local bodies = {"] + [f"  [[{b}]]," for b in bodies] + ["}", "local i = 0",
             'local headers = {["Content-Type"] = "application/json"}',
             "request = function()", "  i = i % #bodies + 1",
             '  return wrk.format("POST", nil, headers, bodies[i])', "end"]
    path.write_text("\n".join(lines) + "\n")
    return path


class Server:
    """A server process; ``healthy_s`` is the time from start to its first 200 on ``health``."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], health: str, log: Path) -> None:
        self.name, self.health = name, health
        self.log = log
        started = time.monotonic()
        with log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = started + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {self.proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(health, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError(f"{name} not healthy within 180 s:\n{log.read_text()[-3000:]}")
        self.healthy_s = time.monotonic() - started

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the session: MLflow's uvicorn and its children
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk(url: str, script: Path, concurrency: int, seconds: float) -> dict[str, float]:
    threads = min(2, concurrency)
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{seconds:g}s", "--latency", "--timeout", "10s",
                          "-s", str(script), url], capture_output=True, text=True, check=True).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
              "p50": _ms(re.search(r"\s50%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
              "p99": _ms(re.search(r"\s99%\s+(\S+)", out).group(1))}  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result["errors"] = float(bad.group(1)) if bad else 0.0
    if errors:
        result["errors"] += sum(float(g) for g in errors.groups())
    return result


def measure(server: Server, urls: dict[str, str], scripts: dict[str, Path], seconds: float
            ) -> dict[tuple[str, int], dict[str, float]]:
    results = {}
    for model in urls:
        wrk(urls[model], scripts[model], 8, min(2.0, seconds))  # warm-up: threads, batcher, caches
        for c in CONCURRENCY:
            results[(model, c)] = r = wrk(urls[model], scripts[model], c, seconds)
            print(f"  {server.name:<28} {model} c={c:<3} {r['rps']:>8.0f} req/s  p50 {r['p50']:6.2f} ms  "
                  f"p99 {r['p99']:6.2f} ms  errors {r['errors']:.0f}", file=sys.stderr, flush=True)
    return results


def load_average() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 s per point instead of 20 s")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per point")
    parser.add_argument("--skip-mlflow", action="store_true", help="measure shipyard only")
    parser.add_argument("--setups", default="all", help="comma-separated subset of: one,nolog,two (default all)")
    args = parser.parse_args()
    seconds = args.seconds or (5.0 if args.quick else 20.0)
    if shutil.which("wrk") is None:
        print("wrk is needed as the load generator: apt-get install -y wrk", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="shipyard-bench-serving-"))
    print(f"# serving benchmark: {seconds:g} s per point, {os.cpu_count()} cores, load average {load_average()}",
          file=sys.stderr)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_HOME"] = str(work / "home")
    subprocess.run([sys.executable, "-c", SHIPYARD_BUILD], env=env, check=True)
    scripts = {"shipyard": lua_script(work / "shipyard.lua", "records"),
               "mlflow": lua_script(work / "mlflow.lua", "dataframe_records")}

    results: dict[str, dict[tuple[str, int], dict[str, float]]] = {}
    healthy: dict[str, float] = {}
    setups = {"one": ("shipyard, 1 worker", []), "nolog": ("shipyard, 1 worker, no log", ["--no-prediction-log"]),
              "two": ("shipyard, --workers 2", ["--workers", "2"])}
    chosen = list(setups) if args.setups == "all" else [s.strip() for s in args.setups.split(",") if s.strip()]
    for name, extra in (setups[key] for key in chosen):
        port = free_port()
        cmd = [sys.executable, "-m", "shipyard", "serve", *MODELS, "--port", str(port), "--log-level", "warning",
               *extra]
        server = Server(name, cmd, env, f"http://127.0.0.1:{port}/ready", work / f"{port}.log")
        try:
            healthy[name] = server.healthy_s
            urls = {m: f"http://127.0.0.1:{port}/v1/deployments/{m}/predict" for m in MODELS}
            results[name] = measure(server, urls, dict.fromkeys(MODELS, scripts["shipyard"]), seconds)
        finally:
            server.stop()

    mlflow_version = "-"
    if not args.skip_mlflow:
        python = ensure_peer("mlflow", ["mlflow==3.17.*", "scikit-learn"], ["mlflow", "sklearn"])
        mlflow_version = version_of(python, "mlflow")
        subprocess.run([str(python), "-c", MLFLOW_BUILD, str(work / "mlflow-models")], check=True,
                       env={**env, "MLFLOW_TRACKING_URI": f"file://{work / 'mlruns'}"})
        # as an activated venv would: mlflow runs `uvicorn` from PATH
        env = {**env, "PATH": f"{python.parent}{os.pathsep}{env.get('PATH', '')}"}
        results["mlflow"] = {}
        for model in MODELS:
            port = free_port()
            cmd = [str(python.parent / "mlflow"), "models", "serve", "-m", str(work / "mlflow-models" / model),
                   "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
            server = Server(f"mlflow models serve ({model})", cmd, env, f"http://127.0.0.1:{port}/ping",
                            work / f"mlflow-{model}.log")
            try:
                healthy[f"mlflow ({model})"] = server.healthy_s
                results["mlflow"].update(measure(server, {model: f"http://127.0.0.1:{port}/invocations"},
                                                 {model: scripts["mlflow"]}, seconds))
            finally:
                server.stop()

    report(results, healthy, seconds, mlflow_version)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def report(results: dict[str, dict[tuple[str, int], dict[str, float]]], healthy: dict[str, float],
           seconds: float, mlflow_version: str) -> None:
    mlflow = results.get("mlflow", {})
    print(f"\n{seconds:g} s per point; wrk keep-alive, single-row requests; load average at the end {load_average()}; "
          f"MLflow {mlflow_version}\n")
    print("| server | model | c | req/s | p50 ms | p99 ms | errors | x MLflow |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, points in results.items():
        for (model, c), r in points.items():
            base = mlflow.get((model, c))
            ratio = f"{r['rps'] / base['rps']:.1f}x" if base and name != "mlflow" else "-"
            print(f"| {name} | {model} | {c} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                  f"{r['errors']:.0f} | {ratio} |")
    print("\nTime to healthy: " + ", ".join(f"{k} {v:.1f} s" for k, v in healthy.items()))

    one, off, two = (results.get(k, {}) for k in ("shipyard, 1 worker", "shipyard, 1 worker, no log",
                                                 "shipyard, --workers 2"))
    checks: list[tuple[str, bool | None, str]] = []
    for model in MODELS:
        for c, target in ((8, 10.0), (64, 20.0)):
            best = max((s.get((model, c), {}).get("rps", 0.0) for s in (one, two)), default=0.0)
            base = mlflow.get((model, c), {}).get("rps")
            ok = None if not base else best >= target * base
            ratio = f"{best / base:.1f}x" if base else "no MLflow run"
            checks.append((f"{model} c={c}: >= {target:.0f}x MLflow (best shipyard set-up)", ok, ratio))
    lr1 = one.get(("lr", 1))
    checks.append(("lr c=1, 1 worker: p99 < 5 ms", None if not lr1 else lr1["p99"] < 5.0,
                   f"{lr1['p99']:.2f} ms" if lr1 else "-"))
    lr2 = two.get(("lr", 1))
    checks.append(("lr c=1, --workers 2: p50 < 5 ms", None if not lr2 else lr2["p50"] < 5.0,
                   f"{lr2['p50']:.2f} ms" if lr2 else "-"))
    for model in MODELS:
        costs = [1 - one[(model, c)]["rps"] / off[(model, c)]["rps"] for c in (8, 64)
                 if (model, c) in one and (model, c) in off]
        worst = max(costs) if costs else None
        checks.append((f"{model}: prediction log costs <= 10 % throughput (c=8, c=64)",
                       None if worst is None else worst <= 0.10, "-" if worst is None else f"{100 * worst:.1f} %"))
    print("\n| target | result | measured |\n| --- | --- | --- |")
    for what, ok, measured in checks:
        print(f"| {what} | {'-' if ok is None else ('PASS' if ok else 'FAIL')} | {measured} |")


if __name__ == "__main__":
    raise SystemExit(main())
