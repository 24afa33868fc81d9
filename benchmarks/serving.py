"""Benchmark: ``shipyard serve`` against ``mlflow models serve`` and BentoML, single-row requests over HTTP.

Two scikit-learn models on 20 numeric features (LogisticRegression, RandomForestClassifier with 100
trees), trained on the same seeded data in each environment; shipyard also serves a PyTorch MLP
(20-64-1, ``mlp``) and the LogisticRegression converted to ONNX (``onnx``) when torch and
onnxruntime are installed; BentoML serves the same two (the exported program and the ONNX file
shipyard saved, loaded with torch / onnxruntime in its own venv), MLflow does not. shipyard serves both deployments in
one process (batching on, defaults) in three set-ups: 1 worker with the prediction log, 1 worker
without it (to price the log), and ``--workers 2`` with the log. The peers run from their own
virtualenvs under ``~/.cache/shipyard-bench/`` (created on first use, never in shipyard's
dependencies), one server per model:

- MLflow 3.17: ``mlflow models serve --env-manager local`` (models saved with cloudpickle, since its
  default skops format refuses a forest without trusted types), ``dataframe_records`` bodies;
- BentoML 1.4: a service class (``BENTOML_SERVICE`` below) wrapping the pickled model, one worker,
  adaptive batching (``batchable=True``, at most 64 rows), the access log off as shipyard's is,
  answering predictions and probabilities like shipyard; ``{"records": [row]}`` bodies, the same
  bytes shipyard gets.

The load generator is wrk (a separate process, keep-alive, 64 different rows cycled by a Lua
script) at concurrency 1, 8 and 64 for 20 s each (``--quick``: 5 s). Every server is started first
(time to healthy: from process start to the first 200 on ``/ready``, ``/ping`` or ``/readyz``) and
stays up; the points are then measured round-robin over the servers, ``--repeat`` times, and the
tables give medians. On a shared machine the load of other jobs drifts over minutes: interleaving
puts every server under the same drift, so the ratios (and the price of the log) stay comparable.

    python benchmarks/serving.py                     # full run
    python benchmarks/serving.py --quick             # 5 s per point
    python benchmarks/serving.py --seconds 10 --repeat 3
    python benchmarks/serving.py --skip-mlflow --skip-bentoml --setups one,nolog --models lr
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
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
MODELS = ("lr", "rf", "mlp", "onnx")
PEER_MODELS = ("lr", "rf")  # MLflow serves these; BentoML all four
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
try:  # the deep-learning flavors, when torch / onnxruntime are installed: a PyTorch MLP, the lr as ONNX
    import torch, shipyard.onnx, shipyard.pytorch
    torch.manual_seed(7)
    net = torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1), torch.nn.Sigmoid())
    DL = {"mlp": lambda: shipyard.pytorch.log_model(net, "model", registered_model_name="mlp", input_example=example),
          "onnx": lambda: shipyard.onnx.log_model(shipyard.onnx.from_sklearn(MODELS["lr"], X[:200]), "model",
                                                  registered_model_name="onnx", input_example=example)}
    for name, log in DL.items():
        with shipyard.start_run():
            log()
        shipyard.Client().create_deployment(name, routes=[{"model": name, "version": 1}])
    import os, sys  # the same two models as files for BentoML: the exported program and the ONNX graph
    os.makedirs(sys.argv[1], exist_ok=True)
    pyfunc = shipyard.load_model("models:/mlp/1")
    torch.export.save(pyfunc.raw_model.program, f"{sys.argv[1]}/mlp.pt2")
    with open(f"{sys.argv[1]}/onnx.onnx", "wb") as fh:
        fh.write(shipyard.load_model("models:/onnx/1").raw_model.data)
except ImportError as exc:
    print(f"no mlp/onnx deployments: {exc}")
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


BENTOML_BUILD = TRAIN + """
import pickle, sys
for name, model in MODELS.items():
    with open(f"{sys.argv[1]}/{name}.pkl", "wb") as fh:
        pickle.dump(model, fh)
"""

BENTOML_SERVICE = '''"""The benchmark's BentoML service: a pickled scikit-learn classifier, JSON records in."""
import os
import pickle

import bentoml
import numpy as np

FEATURES = [f"f{i}" for i in range(20)]


@bentoml.service(workers=1, traffic={"timeout": 30}, logging={"access": {"enabled": False}})
class Model:
    def __init__(self) -> None:
        path = os.environ["SHIPYARD_BENCH_MODEL"]
        self.kind = path.rpartition(".")[2]
        if self.kind == "onnx":  # the lr converted by shipyard.onnx.from_sklearn: labels, probabilities
            import onnxruntime as ort

            self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        elif self.kind == "pt2":  # shipyard's exported MLP program, one float output
            import torch

            self.module = torch.export.load(path).module()
        else:
            with open(path, "rb") as fh:
                self.model = pickle.load(fh)

    @bentoml.api(batchable=True, max_batch_size=64, max_latency_ms=10_000)
    def predict(self, records: list[dict[str, float]]) -> list[dict]:
        X = np.array([[r[f] for f in FEATURES] for r in records], dtype=np.float64)
        if self.kind == "onnx":
            labels, proba = self.session.run(None, {"X": X.astype(np.float32)})
            return [{"prediction": p, "probabilities": q} for p, q in zip(labels.tolist(), proba.tolist())]
        if self.kind == "pt2":
            import torch

            with torch.inference_mode():
                out = self.module(torch.from_numpy(X.astype(np.float32)))[:, 0].numpy()
            return [{"prediction": p} for p in out.tolist()]
        proba = self.model.predict_proba(X)
        preds = self.model.classes_[np.argmax(proba, axis=1)]
        return [{"prediction": p, "probabilities": q} for p, q in zip(preds.tolist(), proba.tolist())]
'''


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

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], health: str, log: Path,
                 urls: dict[str, str], scripts: dict[str, Path], cwd: Path | None = None) -> None:
        self.name, self.health = name, health
        self.log = log
        self.urls, self.scripts = urls, scripts  # per model it serves
        started = time.monotonic()
        with log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                         cwd=cwd)
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


def load_average() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


Results = dict[str, dict[tuple[str, int], list[dict[str, float]]]]


def batch_totals(predict_url: str, model: str) -> tuple[float, float] | None:
    """(rows, predict calls) of a shipyard deployment so far, from its /metrics; None for a peer."""
    if "/v1/deployments/" not in predict_url:
        return None
    text = urllib.request.urlopen(predict_url.split("/v1/")[0] + "/metrics", timeout=5).read().decode()
    found = {}
    for kind in ("sum", "count"):
        m = re.search(rf'^shipyard_serving_batch_size_{kind}{{deployment="{model}"[^}}]*}} (\S+)$', text, re.M)
        found[kind] = float(m.group(1)) if m else 0.0
    return found["sum"], found["count"]


def measure(servers: list[Server], models: list[str], seconds: float, repeat: int) -> Results:
    """Every point of every server, round-robin, ``repeat`` times (each server a turn per point)."""
    results: Results = {server.name: {} for server in servers}
    for server in servers:
        for model, url in server.urls.items():
            wrk(url, server.scripts[model], 8, min(2.0, seconds))  # warm-up: threads, batcher, caches
    for rep in range(repeat):
        for model in models:
            for c in CONCURRENCY:
                turn = [s for s in servers if model in s.urls]
                for server in turn[rep % len(turn):] + turn[:rep % len(turn)]:  # a different first each round
                    before = batch_totals(server.urls[model], model)
                    r = wrk(server.urls[model], server.scripts[model], c, seconds)
                    r["load"] = os.getloadavg()[0]
                    after = batch_totals(server.urls[model], model)
                    if before and after and after[1] > before[1]:  # mean rows per forward pass in this point
                        r["batch"] = (after[0] - before[0]) / (after[1] - before[1])
                    results[server.name].setdefault((model, c), []).append(r)
                    print(f"  [{rep + 1}/{repeat}] {server.name:<28} {model} c={c:<3} {r['rps']:>8.0f} req/s  "
                          f"p50 {r['p50']:6.2f} ms  p99 {r['p99']:6.2f} ms  errors {r['errors']:.0f}  "
                          f"load {r['load']:.2f}", file=sys.stderr, flush=True)
    return results


def _peer_or_reason(name: str, requirements: list[str], modules: list[str]) -> tuple[Path | None, str]:
    """The peer's python, or None and why it could not be installed (the run goes on without it)."""
    try:
        return ensure_peer(name, requirements, modules), ""
    except (subprocess.CalledProcessError, RuntimeError, OSError) as exc:
        return None, f"{name} could not be installed in its own virtualenv: {exc}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 s per point instead of 20 s")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per point")
    parser.add_argument("--repeat", type=int, default=1, help="rounds over every point; tables give medians")
    parser.add_argument("--skip-mlflow", action="store_true", help="no MLflow servers (ratios left blank)")
    parser.add_argument("--skip-bentoml", action="store_true", help="no BentoML servers (ratios left blank)")
    parser.add_argument("--setups", default="all", help="comma-separated subset of: one,nolog,two (default all)")
    parser.add_argument("--models", default="lr,rf,mlp,onnx",
                        help="comma-separated subset of: lr,rf,mlp (PyTorch),onnx (lr converted; default all)")
    args = parser.parse_args()
    seconds = args.seconds or (5.0 if args.quick else 20.0)
    models = [m.strip() for m in args.models.split(",") if m.strip() in MODELS]
    import importlib.util

    if not (importlib.util.find_spec("torch") and importlib.util.find_spec("onnxruntime")):
        models = [m for m in models if m in PEER_MODELS]  # SHIPYARD_BUILD made no mlp/onnx deployments
    if shutil.which("wrk") is None:
        print("wrk is needed as the load generator: apt-get install -y wrk", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="shipyard-bench-serving-"))
    print(f"# serving benchmark: {seconds:g} s per point x {args.repeat}, {os.cpu_count()} cores, "
          f"load average {load_average()}", file=sys.stderr)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_HOME"] = str(work / "home")
    subprocess.run([sys.executable, "-c", SHIPYARD_BUILD, str(work / "dl")], env=env, check=True)
    scripts = {"shipyard": lua_script(work / "shipyard.lua", "records"),
               "mlflow": lua_script(work / "mlflow.lua", "dataframe_records")}

    versions = {"mlflow": "-", "bentoml": "-"}
    notes: list[str] = []
    setups = {"one": ("shipyard, 1 worker", []), "nolog": ("shipyard, 1 worker, no log", ["--no-prediction-log"]),
              "two": ("shipyard, --workers 2", ["--workers", "2"])}
    chosen = list(setups) if args.setups == "all" else [s.strip() for s in args.setups.split(",") if s.strip()]
    servers: list[Server] = []
    healthy: dict[str, float] = {}
    try:
        for name, extra in (setups[key] for key in chosen):
            port = free_port()
            cmd = [sys.executable, "-m", "shipyard", "serve", *models, "--port", str(port), "--log-level", "warning",
                   *extra]
            servers.append(Server(name, cmd, env, f"http://127.0.0.1:{port}/ready", work / f"{port}.log",
                                  {m: f"http://127.0.0.1:{port}/v1/deployments/{m}/predict" for m in models},
                                  dict.fromkeys(models, scripts["shipyard"])))
            healthy[name] = servers[-1].healthy_s
        if not args.skip_mlflow:
            python, why = _peer_or_reason("mlflow", ["mlflow==3.17.*", "scikit-learn"], ["mlflow", "sklearn"])
            if python is None:
                notes.append(why)
            else:
                versions["mlflow"] = version_of(python, "mlflow")
                subprocess.run([str(python), "-c", MLFLOW_BUILD, str(work / "mlflow-models")], check=True,
                               env={**env, "MLFLOW_TRACKING_URI": f"file://{work / 'mlruns'}"})
                # as an activated venv would: mlflow runs `uvicorn` from PATH
                menv = {**env, "PATH": f"{python.parent}{os.pathsep}{env.get('PATH', '')}"}
                for model in (m for m in models if m in PEER_MODELS):
                    port = free_port()
                    cmd = [str(python.parent / "mlflow"), "models", "serve", "-m", str(work / "mlflow-models" / model),
                           "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
                    servers.append(Server(f"mlflow ({model})", cmd, menv, f"http://127.0.0.1:{port}/ping",
                                          work / f"mlflow-{model}.log", {model: f"http://127.0.0.1:{port}/invocations"},
                                          {model: scripts["mlflow"]}))
                    healthy[f"mlflow ({model})"] = servers[-1].healthy_s
        if not args.skip_bentoml:
            dl = [m for m in models if m not in PEER_MODELS]
            python, why = _peer_or_reason("bentoml", ["bentoml==1.4.*", "scikit-learn"]
                                          + (["torch==2.13.0", "onnxruntime"] if dl else []),
                                          ["bentoml", "sklearn"] + (["torch", "onnxruntime"] if dl else []))
            if python is None:
                notes.append(why)
            else:
                versions["bentoml"] = version_of(python, "bentoml")
                folder = work / "bentoml"
                folder.mkdir()
                (folder / "service.py").write_text(BENTOML_SERVICE)
                subprocess.run([str(python), "-c", BENTOML_BUILD, str(folder)], check=True, env=env)
                files = {"mlp": work / "dl" / "mlp.pt2", "onnx": work / "dl" / "onnx.onnx"}
                for model in models:
                    port = free_port()
                    benv = {**env, "SHIPYARD_BENCH_MODEL": str(files.get(model, folder / f"{model}.pkl")),
                            "BENTOML_DO_NOT_TRACK": "true", "BENTOML_HOME": str(folder / "home")}
                    cmd = [str(python.parent / "bentoml"), "serve", "service:Model", "--host", "127.0.0.1",
                           "--port", str(port)]
                    servers.append(Server(f"bentoml ({model})", cmd, benv, f"http://127.0.0.1:{port}/readyz",
                                          work / f"bentoml-{model}.log", {model: f"http://127.0.0.1:{port}/predict"},
                                          {model: scripts["shipyard"]}, cwd=folder))
                    healthy[f"bentoml ({model})"] = servers[-1].healthy_s
        results = measure(servers, models, seconds, args.repeat)
    finally:
        for server in servers:
            server.stop()

    merged: Results = {}
    for name, points in results.items():  # one row set per peer, whichever model its server had
        merged.setdefault(name.split(" (")[0], {}).update(points)
    report(merged, healthy, seconds, args.repeat, versions, notes)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def report(results: Results, healthy: dict[str, float], seconds: float, repeat: int, versions: dict[str, str],
           notes: list[str]) -> None:
    mlflow, bento = results.get("mlflow", {}), results.get("bentoml", {})
    loads = [r["load"] for points in results.values() for runs in points.values() for r in runs]
    print(f"\n{seconds:g} s per point, {repeat} round(s), medians; wrk keep-alive, single-row requests; "
          f"1-min load average during the points {min(loads, default=0):.2f}-{max(loads, default=0):.2f} "
          f"(now {load_average()}); MLflow {versions['mlflow']}, BentoML {versions['bentoml']}\n")
    for note in notes:
        print(f"Note: {note}\n")
    print("| server | model | c | req/s | (min-max) | p50 ms | p99 ms | errors | mean batch | x MLflow | x BentoML "
          "| load |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, points in results.items():
        for (model, c), runs in sorted(points.items()):
            rps = _median(runs, "rps")
            ratios = []
            for peer in (mlflow, bento):
                base = peer.get((model, c))
                ok = base and name not in ("mlflow", "bentoml")
                ratios.append(f"{rps / _median(base, 'rps'):.1f}x" if ok else "-")
            spread = f"{min(r['rps'] for r in runs):.0f}-{max(r['rps'] for r in runs):.0f}"
            batch = f"{_median(runs, 'batch'):.1f}" if all("batch" in r for r in runs) else "-"
            print(f"| {name} | {model} | {c} | {rps:.0f} | {spread} | {_median(runs, 'p50'):.2f} | "
                  f"{_median(runs, 'p99'):.2f} | {sum(r['errors'] for r in runs):.0f} | {batch} | {ratios[0]} | "
                  f"{ratios[1]} | {_median(runs, 'load'):.1f} |")
    print("\nTime to healthy: " + ", ".join(f"{k} {v:.1f} s" for k, v in healthy.items()))

    one, off, two = (results.get(k, {}) for k in ("shipyard, 1 worker", "shipyard, 1 worker, no log",
                                                 "shipyard, --workers 2"))

    def rps(points: dict[tuple[str, int], list[dict[str, float]]], model: str, c: int) -> float | None:
        runs = points.get((model, c))
        return _median(runs, "rps") if runs else None

    checks: list[tuple[str, bool | None, str]] = []
    peers = (("MLflow", mlflow, ((8, 10.0), (64, 20.0))), ("BentoML", bento, ((8, 2.0), (64, 2.0))))
    for peer_name, peer, targets in peers:
        for model in PEER_MODELS if peer_name == "MLflow" else MODELS:
            for c, target in targets:
                best = max((rps(s, model, c) or 0.0 for s in (one, two)), default=0.0)
                base = rps(peer, model, c)
                ok = None if not base or not best else best >= target * base
                ratio = f"{best / base:.1f}x" if base and best else f"no {peer_name} run"
                checks.append((f"{model} c={c}: >= {target:.0f}x {peer_name} (best shipyard set-up)", ok, ratio))
    lr1 = one.get(("lr", 1))
    checks.append(("lr c=1, 1 worker: p99 < 5 ms", None if not lr1 else _median(lr1, "p99") < 5.0,
                   f"{_median(lr1, 'p99'):.2f} ms (no log: {_median(off[('lr', 1)], 'p99'):.2f} ms)"
                   if lr1 and ("lr", 1) in off else f"{_median(lr1, 'p99'):.2f} ms" if lr1 else "-"))
    lr2 = two.get(("lr", 1))
    checks.append(("lr c=1, --workers 2: p50 < 5 ms", None if not lr2 else _median(lr2, "p50") < 5.0,
                   f"{_median(lr2, 'p50'):.2f} ms" if lr2 else "-"))
    for model in MODELS:
        costs = {c: 1 - rps(one, model, c) / rps(off, model, c) for c in (8, 64)  # type: ignore[operator]
                 if rps(one, model, c) and rps(off, model, c)}
        worst = max(costs.values()) if costs else None
        checks.append((f"{model}: prediction log costs <= 10 % throughput (c=8, c=64)",
                       None if worst is None else worst <= 0.10,
                       ", ".join(f"c={c} {100 * v:.1f} %" for c, v in costs.items()) or "-"))
    print("\n| target | result | measured |\n| --- | --- | --- |")
    for what, ok, measured in checks:
        print(f"| {what} | {'-' if ok is None else ('PASS' if ok else 'FAIL')} | {measured} |")


if __name__ == "__main__":
    raise SystemExit(main())
