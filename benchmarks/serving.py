"""Benchmark: ``shipyard serve`` against ``mlflow models serve`` and BentoML, single-row requests over HTTP.

Two scikit-learn models on 20 numeric features (LogisticRegression, RandomForestClassifier with 100
trees), trained on the same seeded data in each environment (see ``_serving_apps.py``). Every server
runs with 1 worker and with 2 (``--workers``), so each ratio compares equal numbers of processes:

- shipyard (batching on, defaults): the benchmark's models (fitted on NumPy arrays, logged with an
  input example) with the prediction log, and with 1 worker without it (to price the log); and the
  README's way, a model fitted on a pandas DataFrame logged with ``training_data`` only, with an input
  example, or with an explicit signature (1 worker, log on), as rows of their own;
- MLflow 3.17: ``mlflow models serve --env-manager local --workers N`` (models saved with cloudpickle,
  since its default skops format refuses a forest without trusted types), ``dataframe_records`` bodies;
- BentoML 1.4 with its production settings for a batched CPU model: a service class wrapping the
  pickled model, ``workers=N``, adaptive batching (``batchable=True``, at most 64 rows),
  ``traffic.concurrency`` = the batch size as its docs advise, the access log off as shipyard's is;
  ``{"records": [row]}`` bodies, the same bytes shipyard gets;
- deep-learning rows (``--models mlp,onnx``): a PyTorch MLP (20 -> 64 -> 64 -> 2, logged with
  ``shipyard.pytorch.log_model(..., classes=[0, 1])``) and the LogisticRegression converted to ONNX
  with ``shipyard.onnx.from_sklearn``, against BentoML serving the same weights and graph (torch /
  onnxruntime in its venv, the same batching settings); no MLflow rows for them;
- a no-op endpoint on shipyard's own stack (the same uvicorn settings, sockets and worker model)
  that reads the body and answers the bytes shipyard answered for that model: the ceiling of the
  HTTP path on this machine; each shipyard row gives its share of it (same workers).

The peers run from their own virtualenvs under ``~/.cache/shipyard-bench/`` (created on first use,
never in shipyard's dependencies), one server per model. The load generator is wrk (a separate
process, keep-alive, 64 different rows cycled by a Lua script) at concurrency 1, 8 and 64 for 20 s
each (``--quick``: 3 s, one round). For servers with one worker the mean batch size of each point
is read from ``/metrics`` before and after it (shipyard's ``shipyard_serving_batch_size``
histogram, BentoML's adaptive-batching histogram): dynamic batching made visible. Every server is
started first (time to healthy: from process start to the first 200 on ``/ready``, ``/ping`` or
``/readyz``) and stays up; the points are then measured round-robin over the servers, ``--repeat``
times, each round in another order, and the tables give medians. On a shared machine the load of
other jobs drifts over minutes: interleaving puts every server under the same drift, so the ratios
measured in one run stay comparable.

    python benchmarks/serving.py --seconds 10 --repeat 3     # the published run
    python benchmarks/serving.py --quick                     # 3 s per point, one round
    python benchmarks/serving.py --quick --skip-mlflow --skip-bentoml --workers 1 --models lr
    python benchmarks/serving.py --seconds 5 --workers 1 --models mlp,onnx --skip-mlflow --logged none
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _peer import ensure_peer, version_of
from _serving_apps import (
    BENTOML_BUILD,
    BENTOML_SERVICE,
    BENTOML_TENSOR_SERVICE,
    FASTPATH_PROBE,
    MLFLOW_BUILD,
    NOOP_SERVER,
    SHIPYARD_BUILD,
    TENSOR_BUILD,
)

ROOT = Path(__file__).resolve().parent.parent
N_FEATURES = 20
FEATURES = [f"f{i}" for i in range(N_FEATURES)]
MODELS = ("lr", "rf", "mlp", "onnx")
SKLEARN_MODELS = ("lr", "rf")  # the ones MLflow serves and the DataFrame-fitted set-ups exist for
#: The deep-learning rows: model -> what BentoML runs it with (``SHIPYARD_BENCH_KIND``).
TENSOR_MODELS = {"mlp": "torch", "onnx": "onnx"}
#: BentoML's venv for the deep-learning rows also needs torch (the CPU build of the pinned version:
#: the default PyPI wheel pulls gigabytes of CUDA) and onnxruntime.
TORCH_CPU = "torch==2.13.0+cpu"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
CONCURRENCY = (1, 8, 64)
#: How the DataFrame-fitted models were logged: deployment suffix -> row label.
LOGGED = {"training": "DataFrame-fitted, training_data only", "example": "DataFrame-fitted, input example",
          "signature": "DataFrame-fitted, signature"}


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
    path.with_suffix(".first").write_text(bodies[0])
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


def batch_stats(metrics_url: str, match: str) -> tuple[float, float] | None:
    """(sum, count) of the batch-size histogram on ``metrics_url`` (Prometheus text; every histogram
    whose name has ``batch_size``, label sets containing ``match``), or None when it has none."""
    try:
        with urllib.request.urlopen(metrics_url, timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    total, count, seen = 0.0, 0.0, False
    for line in text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if line.startswith("#") or "batch_size" not in name or match not in line:
            continue
        if name.endswith("_sum"):
            total += float(line.rsplit(" ", 1)[1])
            seen = True
        elif name.endswith("_count"):
            count += float(line.rsplit(" ", 1)[1])
    return (total, count) if seen else None


def load_average() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())




@dataclass
class Endpoint:
    """One row of the table: a server answering one model (several rows may share a process)."""

    name: str  # the row label, e.g. "shipyard, 2 workers"
    kind: str  # shipyard, shipyard-nolog, shipyard-df-<way>, shipyard-threads1, mlflow, bentoml, noop
    workers: int
    model: str
    url: str
    script: Path
    #: /metrics to read the mean batch size from (one-worker servers only: a scrape of a multi-worker
    #: server reaches one worker, so two scrapes may not see the same histogram) and its label filter
    metrics: str | None = None
    match: str = ""


Results = dict[tuple[str, str, int], list[dict[str, float]]]  # (row name, model, c) -> rounds
Rps = Callable[[str, int, str, int], "float | None"]  # (kind, workers, model, c) -> median req/s


def measure(endpoints: list[Endpoint], seconds: float, repeat: int) -> Results:
    """Every point of every endpoint, round-robin, ``repeat`` times (each round starts elsewhere)."""
    results: Results = {}
    for ep in endpoints:
        wrk(ep.url, ep.script, 8, min(2.0, seconds))  # warm-up: threads, batcher, caches
    models = list(dict.fromkeys(ep.model for ep in endpoints))
    for rep in range(repeat):
        for model in models:
            for c in CONCURRENCY:
                turn = [ep for ep in endpoints if ep.model == model]
                for ep in turn[rep % len(turn):] + turn[:rep % len(turn)]:
                    before = batch_stats(ep.metrics, ep.match) if ep.metrics else None
                    r = wrk(ep.url, ep.script, c, seconds)
                    r["load"] = os.getloadavg()[0]
                    after = batch_stats(ep.metrics, ep.match) if before else None
                    if before and after and after[1] > before[1]:
                        r["batch"] = (after[0] - before[0]) / (after[1] - before[1])
                    results.setdefault((ep.name, model, c), []).append(r)
                    print(f"  [{rep + 1}/{repeat}] {ep.name:<52} {model} c={c:<3} {r['rps']:>8.0f} req/s  "
                          f"p50 {r['p50']:6.2f} ms  p99 {r['p99']:6.2f} ms  errors {r['errors']:.0f}  "
                          f"batch {r.get('batch', float('nan')):5.1f}  "
                          f"load {r['load']:.2f}", file=sys.stderr, flush=True)
    return results


def _peer_or_reason(name: str, requirements: list[str], modules: list[str]) -> tuple[Path | None, str]:
    """The peer's python, or None and why it could not be installed (the run goes on without it)."""
    try:
        return ensure_peer(name, requirements, modules), ""
    except (subprocess.CalledProcessError, RuntimeError, OSError) as exc:
        return None, f"{name} could not be installed in its own virtualenv: {exc}"


def _workers_label(n: int) -> str:
    return f"{n} worker" + ("s" if n > 1 else "")


class Bench:
    """Starts the servers of one run and keeps the endpoints they answer on."""

    def __init__(self, work: Path, env: dict[str, str], models: list[str]) -> None:
        self.work, self.env, self.models = work, env, models
        self.servers: list[Server] = []
        self.endpoints: list[Endpoint] = []
        self.healthy: dict[str, float] = {}
        self.notes: list[str] = []
        self.versions = {"mlflow": "-", "bentoml": "-"}
        self.scripts = {"records": lua_script(work / "records.lua", "records"),
                        "mlflow": lua_script(work / "mlflow.lua", "dataframe_records")}
        self.answers: dict[str, bytes] = {}  # model -> shipyard's response bytes, for the no-op

    def _start(self, name: str, cmd: list[str], health: str, env: dict[str, str] | None = None,
               cwd: Path | None = None) -> None:
        server = Server(name, cmd, env or self.env, health, self.work / f"{len(self.servers)}.log", {}, {}, cwd=cwd)
        self.servers.append(server)
        self.healthy[name] = server.healthy_s

    def shipyard(self, workers: int, log: bool, logged: list[str], wal: bool = True,
                 threads: int | None = None) -> None:
        """A ``shipyard serve`` of the models; ``threads``: SHIPYARD_MODEL_THREADS for the deep-learning
        models (such a server answers only those)."""
        port = free_port()
        name = f"shipyard, {_workers_label(workers)}" + ("" if log else ", no log") + ("" if wal else ", no WAL") \
            + ("" if threads is None else f", {threads} model thread" + ("s" if threads > 1 else ""))
        models = self.models if threads is None else [m for m in self.models if m in TENSOR_MODELS]
        names = [*models, *(f"{m}-df-{way}" for m in models if m in SKLEARN_MODELS for way in logged)]
        cmd = [sys.executable, "-m", "shipyard", "serve", *names, "--port", str(port), "--log-level", "warning",
               "--workers", str(workers), *([] if log else ["--no-prediction-log"]), *([] if wal else ["--no-wal"])]
        env = self.env if threads is None else {**self.env, "SHIPYARD_MODEL_THREADS": str(threads)}
        self._start(name, cmd, f"http://127.0.0.1:{port}/ready", env)
        base = f"http://127.0.0.1:{port}/v1/deployments"
        kind = ("shipyard" if wal else "shipyard-nowal") if log else "shipyard-nolog"
        kind += "" if threads is None else f"-threads{threads}"
        metrics = f"http://127.0.0.1:{port}/metrics" if workers == 1 else None
        for model in models:
            url = f"{base}/{model}/predict"
            self.endpoints.append(Endpoint(name, kind, workers, model, url, self.scripts["records"], metrics,
                                           f'deployment="{model}"'))
            if model not in self.answers:
                body = self.scripts["records"].with_suffix(".first").read_bytes()
                req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=10) as resp:
                    self.answers[model] = resp.read()
            for way in logged if model in SKLEARN_MODELS else []:
                self.endpoints.append(Endpoint(f"{name}, {LOGGED[way]}", f"shipyard-df-{way}", workers, model,
                                               f"{base}/{model}-df-{way}/predict", self.scripts["records"], metrics,
                                               f'deployment="{model}-df-{way}"'))

    def noop(self, workers: int) -> None:
        import orjson

        port = free_port()
        bodies = self.work / "noop-bodies.json"
        bodies.write_bytes(orjson.dumps({f"/{m}": self.answers[m].decode() for m in self.answers}))
        name = f"no-op on shipyard's stack, {_workers_label(workers)}"
        self._start(name, [sys.executable, "-c", NOOP_SERVER, str(port), str(workers), str(bodies)],
                    f"http://127.0.0.1:{port}/ready")
        for model in self.answers:
            self.endpoints.append(Endpoint(name, "noop", workers, model, f"http://127.0.0.1:{port}/{model}",
                                           self.scripts["records"]))

    def mlflow(self, workers_list: list[int]) -> None:
        models = [m for m in self.models if m in SKLEARN_MODELS]
        if not models:
            return
        python, why = _peer_or_reason("mlflow", ["mlflow==3.17.*", "scikit-learn"], ["mlflow", "sklearn"])
        if python is None:
            self.notes.append(why)
            return
        self.versions["mlflow"] = version_of(python, "mlflow")
        folder = self.work / "mlflow-models"
        subprocess.run([str(python), "-c", MLFLOW_BUILD, str(folder)], check=True,
                       env={**self.env, "MLFLOW_TRACKING_URI": f"file://{self.work / 'mlruns'}"})
        # as an activated venv would: mlflow runs `uvicorn` from PATH
        menv = {**self.env, "PATH": f"{python.parent}{os.pathsep}{self.env.get('PATH', '')}"}
        for workers in workers_list:
            name = f"mlflow models serve, {_workers_label(workers)}"
            for model in models:
                port = free_port()
                cmd = [str(python.parent / "mlflow"), "models", "serve", "-m", str(folder / model),
                       "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "--workers", str(workers)]
                self._start(f"{name} ({model})", cmd, f"http://127.0.0.1:{port}/ping", menv)
                self.endpoints.append(Endpoint(name, "mlflow", workers, model,
                                               f"http://127.0.0.1:{port}/invocations", self.scripts["mlflow"]))

    def bentoml(self, workers_list: list[int], tensors: Path | None = None) -> None:
        """BentoML servers, one per model; ``tensors``: the folder of the deep-learning models' files."""
        requirements, modules = ["bentoml==1.4.*", "scikit-learn"], ["bentoml", "sklearn"]
        if any(m in TENSOR_MODELS for m in self.models):
            requirements += ["onnxruntime", *_torch_cpu()]
            modules += ["onnxruntime", "torch"]
        python, why = _peer_or_reason("bentoml", requirements, modules)
        if python is None:
            self.notes.append(why)
            return
        self.versions["bentoml"] = version_of(python, "bentoml")
        folder = self.work / "bentoml"
        folder.mkdir()
        (folder / "service.py").write_text(BENTOML_SERVICE)
        (folder / "tensor_service.py").write_text(BENTOML_TENSOR_SERVICE)
        subprocess.run([str(python), "-c", BENTOML_BUILD, str(folder)], check=True, env=self.env)
        for workers in workers_list:
            name = f"BentoML, {_workers_label(workers)}"
            for model in self.models:
                port = free_port()
                kind = TENSOR_MODELS.get(model)
                suffix = {None: "pkl", "torch": "pt", "onnx": "onnx"}[kind]
                path = (folder if kind is None or tensors is None else tensors) / f"{model}.{suffix}"
                benv = {**self.env, "SHIPYARD_BENCH_MODEL": str(path), "SHIPYARD_BENCH_KIND": kind or "sklearn",
                        "SHIPYARD_BENCH_WORKERS": str(workers), "BENTOML_DO_NOT_TRACK": "true",
                        # a home per server: servers sharing one merge their Prometheus metrics
                        "BENTOML_HOME": str(folder / f"home-{model}-{workers}")}
                service = "service:Model" if kind is None else "tensor_service:Model"
                cmd = [str(python.parent / "bentoml"), "serve", service, "--host", "127.0.0.1", "--port", str(port)]
                self._start(f"{name} ({model})", cmd, f"http://127.0.0.1:{port}/readyz", benv, cwd=folder)
                self.endpoints.append(Endpoint(name, "bentoml", workers, model, f"http://127.0.0.1:{port}/predict",
                                               self.scripts["records"],
                                               f"http://127.0.0.1:{port}/metrics" if workers == 1 else None))

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def _torch_cpu() -> list[str]:
    """pip arguments for the CPU build of torch: from a local wheel folder (``PIP_FIND_LINKS``) when it
    has one, else from PyTorch's CPU index (PyPI has no ``+cpu`` builds)."""
    links = os.environ.get("PIP_FIND_LINKS", "")
    version = TORCH_CPU.split("==")[1]
    if links and any(Path(d).is_dir() and list(Path(d).glob(f"torch-{version}-*.whl")) for d in links.split()):
        return [TORCH_CPU]
    return ["--extra-index-url", TORCH_CPU_INDEX, TORCH_CPU]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s per point and one round")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per point (default 20)")
    parser.add_argument("--repeat", type=int, default=None, help="rounds over every point; medians (default 1)")
    parser.add_argument("--workers", default="1,2", help="worker counts every server runs with (default 1,2)")
    parser.add_argument("--models", default="lr,rf",
                        help="comma-separated subset of: lr,rf,mlp,onnx (default lr,rf; mlp and onnx need torch, "
                             "onnxruntime and skl2onnx)")
    parser.add_argument("--logged", default="training,example,signature",
                        help="DataFrame-fitted set-ups to add as rows: training,example,signature, or none")
    parser.add_argument("--skip-mlflow", action="store_true", help="no MLflow servers (ratios left blank)")
    parser.add_argument("--skip-bentoml", action="store_true", help="no BentoML servers (ratios left blank)")
    parser.add_argument("--skip-noop", action="store_true", help="no no-op endpoint (shares left blank)")
    parser.add_argument("--skip-nolog", action="store_true", help="no shipyard server without the prediction log")
    parser.add_argument("--nowal", action="store_true",
                        help="also a shipyard server with the log but no write-ahead file (prices the file)")
    args = parser.parse_args()
    seconds = args.seconds or (3.0 if args.quick else 20.0)
    repeat = args.repeat or 1
    models = [m.strip() for m in args.models.split(",") if m.strip() in MODELS]
    workers = sorted({int(w) for w in args.workers.split(",") if w.strip()})
    logged = [w.strip() for w in args.logged.split(",") if w.strip() in LOGGED]
    if shutil.which("wrk") is None:
        print("wrk is needed as the load generator: apt-get install -y wrk", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="shipyard-bench-serving-"))
    print(f"# serving benchmark: {seconds:g} s per point x {repeat}, {os.cpu_count()} cores, "
          f"load average {load_average()}", file=sys.stderr)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_HOME"] = str(work / "home")
    subprocess.run([sys.executable, "-c", SHIPYARD_BUILD], env=env, check=True)
    tensors = None
    if any(m in TENSOR_MODELS for m in models):
        tensors = work / "tensor-models"
        tensors.mkdir()
        subprocess.run([sys.executable, "-c", TENSOR_BUILD, str(tensors)], env=env, check=True)
    probe = subprocess.run([sys.executable, "-c", FASTPATH_PROBE, *models,
                            *(f"{m}-df-{way}" for m in models if m in SKLEARN_MODELS for way in logged)],
                           env=env, check=True, capture_output=True, text=True).stdout
    bench = Bench(work, env, models)
    try:
        for n in workers:
            bench.shipyard(n, log=True, logged=logged if n == workers[0] else [])
        if any(m in TENSOR_MODELS for m in models):  # what one intra-op thread does for them
            bench.shipyard(workers[0], log=True, logged=[], threads=1)
        if not args.skip_nolog:
            bench.shipyard(workers[0], log=False, logged=[])
        if args.nowal:  # the prediction log without its write-ahead file: what the file costs
            bench.shipyard(workers[0], log=True, logged=[], wal=False)
        if not args.skip_noop:
            for n in workers:
                bench.noop(n)
        if not args.skip_mlflow:
            bench.mlflow(workers)
        if not args.skip_bentoml:
            bench.bentoml(workers, tensors)
        results = measure(bench.endpoints, seconds, repeat)
    finally:
        bench.stop()
    report(results, bench, seconds, repeat)
    report_fastpath(probe)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def report_fastpath(probe: str) -> None:
    """The in-process table: each set-up's input mode and costs, and its share of the NumPy model's."""
    rows = [line.split("\t") for line in probe.strip().splitlines()]
    base = {r[0]: r for r in rows if "-df-" not in r[0]}
    print("\nIn process, the fastest of 7 interleaved rounds (µs): checking one record, predict_proba on 1 row "
          "and on 64 rows; time relative to the NumPy-fitted model logged with an input example\n")
    print("| set-up | input mode | check 1 record | call, 1 row | call, 64 rows | relative (1 row + check / 64) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, mode, prep, one, many in rows:
        ref = base[name.split("-df-")[0]]
        rel = (float(prep) + float(one)) / (float(ref[2]) + float(ref[3])), float(many) / float(ref[4])
        print(f"| {name} | {mode} | {float(prep):.1f} | {float(one):.1f} | {float(many):.1f} | "
              f"{100 * rel[0]:.0f} % / {100 * rel[1]:.0f} % |")


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def report(results: Results, bench: Bench, seconds: float, repeat: int) -> None:
    by_name = {ep.name: ep for ep in bench.endpoints}

    def rps(kind: str, workers: int, model: str, c: int) -> float | None:
        for ep in bench.endpoints:
            if ep.kind == kind and ep.workers == workers and ep.model == model and (ep.name, model, c) in results:
                return _median(results[(ep.name, model, c)], "rps")
        return None

    loads = [r["load"] for runs in results.values() for r in runs]
    print(f"\n{seconds:g} s per point, {repeat} round(s), medians; wrk keep-alive, single-row requests; "
          f"1-min load average during the points {min(loads, default=0):.2f}-{max(loads, default=0):.2f} "
          f"(now {load_average()}); MLflow {bench.versions['mlflow']}, BentoML {bench.versions['bentoml']}; "
          "ratios and shares against the peer or no-op with the same number of workers\n")
    for note in bench.notes:
        print(f"Note: {note}\n")
    print("| server | model | c | req/s | (min-max) | p50 ms | p99 ms | errors | mean batch | x MLflow | x BentoML "
          "| % of no-op | load |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for (name, model, c), runs in results.items():
        ep = by_name[name]
        value = _median(runs, "rps")
        cells = []
        for peer in ("mlflow", "bentoml"):
            base = rps(peer, ep.workers, model, c)
            cells.append(f"{value / base:.1f}x" if base and ep.kind.startswith("shipyard") else "-")
        noop = rps("noop", ep.workers, model, c)
        cells.append(f"{100 * value / noop:.0f} %" if noop and ep.kind.startswith("shipyard") else "-")
        spread = f"{min(r['rps'] for r in runs):.0f}-{max(r['rps'] for r in runs):.0f}"
        batches = [r["batch"] for r in runs if "batch" in r]
        batch = f"{statistics.median(batches):.1f}" if batches else "-"
        print(f"| {name} | {model} | {c} | {value:.0f} | {spread} | {_median(runs, 'p50'):.2f} | "
              f"{_median(runs, 'p99'):.2f} | {sum(r['errors'] for r in runs):.0f} | {batch} | {' | '.join(cells)} | "
              f"{_median(runs, 'load'):.1f} |")
    print("\nTime to healthy: " + ", ".join(f"{k} {v:.1f} s" for k, v in bench.healthy.items()))
    print_targets(results, bench, rps)


def print_targets(results: Results, bench: Bench, get: Rps) -> None:
    """The issue's targets, each PASS / FAIL with what was measured (``get``: a median req/s)."""
    checks: list[tuple[str, bool | None, str]] = []
    workers = sorted({ep.workers for ep in bench.endpoints})
    models = sorted({ep.model for ep in bench.endpoints})

    def ratio_check(what: str, value: float | None, base: float | None, target: float) -> None:
        ok = None if not value or not base else value >= target * base
        checks.append((what, ok, f"{value / base:.2f}x" if value and base else "-"))

    for n in workers:
        for model in models:
            for peer, targets in (("mlflow", ((8, 10.0), (64, 20.0))), ("bentoml", ((8, 2.0), (64, 2.0)))):
                for c, target in targets:
                    ratio_check(f"{model} c={c}, {_workers_label(n)}: >= {target:g}x {peer}",
                                get("shipyard", n, model, c), get(peer, n, model, c), target)
        for model in (m for m in models if m in TENSOR_MODELS):
            ratio_check(f"{model} c=64, {_workers_label(n)}, SHIPYARD_MODEL_THREADS=1: >= 2x bentoml",
                        get("shipyard-threads1", n, model, 64), get("bentoml", n, model, 64), 2.0)
        for kind in ("shipyard", "shipyard-df-training"):
            ratio_check(f"lr c=64, {_workers_label(n)}: {kind} >= 50 % of the no-op", get(kind, n, "lr", 64),
                        get("noop", n, "lr", 64), 0.5)
        name = f"shipyard, {_workers_label(n)}"
        p99 = results.get((name, "lr", 1))
        checks.append((f"lr c=1, {_workers_label(n)}, log on: p99 < 5 ms",
                       None if not p99 else _median(p99, "p99") < 5.0, f"{_median(p99, 'p99'):.2f} ms" if p99 else "-"))
    n = workers[0]
    for model in models:
        for way in LOGGED if model in SKLEARN_MODELS else ():
            worst = [(c, get(f"shipyard-df-{way}", n, model, c), get("shipyard", n, model, c)) for c in CONCURRENCY]
            shares = [(c, a / b) for c, a, b in worst if a and b]
            checks.append((f"{model}, {LOGGED[way]}: within 10 % of the NumPy-fitted model (c=1/8/64)",
                           None if not shares else min(s for _, s in shares) >= 0.9,
                           ", ".join(f"c={c} {100 * s:.0f} %" for c, s in shares) or "-"))
        costs = [(c, 1 - a / b) for c in (8, 64)
                 if (a := get("shipyard", n, model, c)) and (b := get("shipyard-nolog", n, model, c))]
        checks.append((f"{model}: the prediction log costs <= 10 % throughput (c=8, c=64)",
                       None if not costs else max(v for _, v in costs) <= 0.10,
                       ", ".join(f"c={c} {100 * v:.1f} %" for c, v in costs) or "-"))
    if len(workers) > 1:
        for model in models:
            for kind in ("shipyard", "noop"):
                pairs = [(c, get(kind, workers[-1], model, c), get(kind, workers[0], model, c)) for c in (8, 64)]
                checks.append((f"{model}, {kind}: {workers[-1]} workers / {workers[0]} (c=8, c=64)", None,
                               ", ".join(f"c={c} {a / b:.2f}x" for c, a, b in pairs if a and b) or "-"))
    print("\n| target | result | measured |\n| --- | --- | --- |")
    for what, ok, measured in checks:
        print(f"| {what} | {'-' if ok is None else ('PASS' if ok else 'FAIL')} | {measured} |")


if __name__ == "__main__":
    raise SystemExit(main())
