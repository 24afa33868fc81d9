#!/usr/bin/env python3
"""Tracking benchmark: shipyard against MLflow 3.17, side by side, same machine, same run.

    .venv/bin/python benchmarks/tracking.py              # full run (15-25 min on 2 shared cores)
    .venv/bin/python benchmarks/tracking.py --quick      # smoke run: small sizes, 1 repeat (~2 min)
    .venv/bin/python benchmarks/tracking.py --skip-large # no 1M-point storage, no 100k-run search
    .venv/bin/python benchmarks/tracking.py --only shipyard --repeats 3

Every measurement runs in a fresh subprocess with a fresh temporary directory and a SQLite store:
shipyard with this interpreter (``SHIPYARD_HOME=<tmp>``), MLflow with the peer venv's python
(``~/.cache/shipyard-bench/mlflow``, created by :mod:`_peer` if missing; MLflow is never installed
into the dev venv) with ``sqlite:///<tmp>/mlflow.db`` and the experiment's artifacts in ``<tmp>``.
The two sides' repeats are interleaved so that load on the shared machine hits both alike; each
figure is the median of the repeats. Ratios are MLflow / shipyard (higher = shipyard better).

What is timed (setup such as creating the database and the experiment is never timed):

1. ``log_metric`` x N in one run, from before the loop until the run has ended (every point
   durable): shipyard's buffered ``log_metric``; MLflow synchronous; MLflow ``synchronous=False``
   with its defaults (one queued batch per call) and with ``MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS=1``
   ("with buffering": the worker drains the queue once a second). Afterwards each side reads
   ``get_metric_history`` and the row shows how many points are stored.
2. One ``log_batch`` of N metric points (the entity list is built before the clock starts;
   ``MlflowClient.log_batch`` splits it into its 1,000-metric requests itself).
3. N runs through the fluent API: ``start_run``; ``log_params`` (5); ``log_metrics`` (5); end.
4. ``search_runs(filter "metrics.m0 > 0.5 and params.p0 = 'a'", order_by m1 DESC, 100 results)``
   over those runs (about 1 in 6 match), as lists of Run on both sides (MLflow
   ``output_format="list"``, which spares it the DataFrame); median of 5 calls in the process, the
   first included. shipyard alone: the same over 100,000 runs, written straight into its tables.
5. ``sklearn.log_model`` and load + ``predict(X[:5])`` of a 100-tree RandomForest (20 features,
   5,000 rows) pickled once by the parent. MLflow saves with ``serialization_format="cloudpickle"``,
   the format shipyard uses (its default, skops, cannot load a forest without ``skops_trusted_types``)
   and infers pip requirements as it does by default. Extra row: shipyard with ``training_data=X``.
6. ``import``: wall time of ``python -c "import X"`` (median of 5 fresh processes) and the
   cumulative ``-X importtime`` of the package.
7. Storage: 1,000,000 points (10 keys x 100,000 steps) into one run with ``log_batch`` in chunks
   (shipyard 10,000, MLflow 1,000), run ended, the database closed and checkpointed
   (``PRAGMA wal_checkpoint(TRUNCATE)``); bytes = database + -wal file. MLflow stops at 100,000
   points when the first 100,000 project to more than 3 minutes for the million (said in the row).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHIPYARD_PY = REPO / ".venv" / "bin" / "python"
EXPERIMENT = "bench"
FILTER = "metrics.m0 > 0.5 and params.p0 = 'a'"
ORDER_BY = ["metrics.m1 DESC"]


# =====================================================================================  workers
# Run inside the measured subprocess (shipyard venv or MLflow peer venv): standard library at the top.

def _emit(result: dict) -> None:
    print("RESULT " + json.dumps(result), flush=True)


def _mlflow_setup(tmp: Path):  # type: ignore[no-untyped-def]
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlflow.db'}")
    exp_id = mlflow.create_experiment(EXPERIMENT, artifact_location=(tmp / "artifacts").as_uri())
    mlflow.set_experiment(experiment_id=exp_id)
    return mlflow, exp_id


def _shipyard_setup():  # type: ignore[no-untyped-def]
    import shipyard

    exp = shipyard.set_experiment(EXPERIMENT)
    return shipyard, exp.experiment_id


def w_metric_loop(side: str, tmp: Path, n: int, mode: str) -> dict:
    if side == "shipyard":
        sy, _ = _shipyard_setup()
        run_id = sy.start_run().info.run_id
        t0 = time.perf_counter()
        for i in range(n):
            sy.log_metric("loss", 1.0 / (i + 1), step=i)
        sy.end_run()
        elapsed = time.perf_counter() - t0
        stored = len(sy.Client().get_metric_history(run_id, "loss"))
    else:
        mlflow, _ = _mlflow_setup(tmp)
        from mlflow import MlflowClient

        sync = mode == "sync"
        run_id = mlflow.start_run().info.run_id
        t0 = time.perf_counter()
        for i in range(n):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i, synchronous=sync)
        mlflow.end_run()
        elapsed = time.perf_counter() - t0
        stored = len(MlflowClient().get_metric_history(run_id, "loss"))
    return {"seconds": elapsed, "stored": stored}


def w_batch(side: str, tmp: Path, n: int, mode: str) -> dict:
    ts = int(time.time() * 1000)
    if side == "shipyard":
        sy, exp_id = _shipyard_setup()
        from shipyard.entities import Metric

        client = sy.Client()
        run_id = client.create_run(exp_id).info.run_id
        metrics = [Metric("loss", 1.0 / (i + 1), ts + i, i) for i in range(n)]
    else:
        _, exp_id = _mlflow_setup(tmp)
        from mlflow import MlflowClient
        from mlflow.entities import Metric

        client = MlflowClient()
        run_id = client.create_run(exp_id).info.run_id
        metrics = [Metric("loss", 1.0 / (i + 1), ts + i, i) for i in range(n)]
    t0 = time.perf_counter()
    client.log_batch(run_id, metrics=metrics)
    elapsed = time.perf_counter() - t0
    return {"seconds": elapsed, "stored": len(client.get_metric_history(run_id, "loss"))}


def _run_values(i: int) -> tuple[dict, dict]:
    import random

    rng = random.Random(i)
    params = {"p0": "abc"[i % 3], **{f"p{j}": f"v{rng.randrange(100)}" for j in range(1, 5)}}
    metrics = {f"m{j}": rng.random() for j in range(5)}
    return params, metrics


def w_runs(side: str, tmp: Path, n: int, mode: str) -> dict:
    data = [_run_values(i) for i in range(n)]
    if side == "shipyard":
        sy, _ = _shipyard_setup()
        t0 = time.perf_counter()
        for params, metrics in data:
            sy.start_run()
            sy.log_params(params)
            sy.log_metrics(metrics)
            sy.end_run()
        create = time.perf_counter() - t0

        def search():  # type: ignore[no-untyped-def]
            return sy.search_runs(experiment_names=[EXPERIMENT], filter_string=FILTER, order_by=ORDER_BY,
                                  max_results=100, output_format="list")
    else:
        mlflow, _ = _mlflow_setup(tmp)
        t0 = time.perf_counter()
        for params, metrics in data:
            mlflow.start_run()
            mlflow.log_params(params)
            mlflow.log_metrics(metrics)
            mlflow.end_run()
        create = time.perf_counter() - t0

        def search():  # type: ignore[no-untyped-def]
            return mlflow.search_runs(experiment_names=[EXPERIMENT], filter_string=FILTER, order_by=ORDER_BY,
                                      max_results=100, output_format="list")
    times, found = [], []
    for _ in range(5):
        t1 = time.perf_counter()
        runs = search()
        times.append(time.perf_counter() - t1)
        found = runs
    expected = sorted((m["m1"] for p, m in data if m["m0"] > 0.5 and p["p0"] == "a"), reverse=True)[:100]
    got = [r.data.metrics["m1"] for r in found]
    return {"seconds": create, "search": statistics.median(times), "search_first": times[0],
            "found": len(got), "correct": got == expected}


def w_search_large(side: str, tmp: Path, n: int, mode: str) -> dict:
    """shipyard only: n runs written straight into the tables (setup), then the timed search."""
    import uuid

    from shipyard.store.sql import schema as s

    sy, exp_id = _shipyard_setup()
    client = sy.Client()
    store = client.store
    # One run through the API, so the bulk rows below are checked against what the store writes.
    first = client.create_run(exp_id, run_name="api-run")
    params0, metrics0 = _run_values(0)
    from shipyard.entities import Metric, Param

    now = int(time.time() * 1000)
    client.log_batch(first.info.run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics0.items()],
                     params=[Param(k, v) for k, v in params0.items()])
    client.set_terminated(first.info.run_id)
    ref = store.get_run(first.info.run_id)
    t_setup = time.perf_counter()
    artifact_root = ref.info.artifact_uri.rsplit("/", 2)[0]
    with store._engine.connect().execution_options(shipyard_write=True) as conn, conn.begin():
        next_series = conn.exec_driver_sql("SELECT coalesce(max(series_id), 0) FROM metric_series").scalar() + 1
        for start in range(1, n, 10_000):
            runs, params, series, points = [], [], [], []
            for i in range(start, min(start + 10_000, n)):
                run_id = uuid.uuid4().hex
                p, m = _run_values(i)
                runs.append({"run_id": run_id, "experiment_id": exp_id, "name": f"run-{i}", "status": "FINISHED",
                             "start_time": now + i, "end_time": now + i + 1,
                             "artifact_uri": f"{artifact_root}/{run_id}/artifacts", "lifecycle_stage": "active",
                             "user_id": "bench", "parent_run_id": None})
                params += [{"run_id": run_id, "key": k, "value": v} for k, v in p.items()]
                for k, v in m.items():
                    series.append({"series_id": next_series, "run_id": run_id, "key": k, "value": v, "step": 0,
                                   "timestamp": now + i})
                    points.append({"series_id": next_series, "step": 0, "timestamp": now + i, "value": v})
                    next_series += 1
            conn.execute(s.runs.insert(), runs)
            conn.execute(s.params.insert(), params)
            conn.execute(s.metric_series.insert(), series)
            conn.execute(s.metrics.insert(), points)
    setup = time.perf_counter() - t_setup
    times, found = [], []
    for _ in range(7):
        t1 = time.perf_counter()
        found = sy.search_runs(experiment_names=[EXPERIMENT], filter_string=FILTER, order_by=ORDER_BY,
                               max_results=100, output_format="list")
        times.append(time.perf_counter() - t1)
    data = [_run_values(i) for i in range(n)]
    expected = sorted((m["m1"] for p, m in data if m["m0"] > 0.5 and p["p0"] == "a"), reverse=True)[:100]
    got = [r.data.metrics["m1"] for r in found]
    count = store.count_runs([exp_id])
    return {"seconds": statistics.median(times), "search_first": times[0], "setup": setup, "runs": count,
            "found": len(got), "correct": got == expected}


def w_model(side: str, tmp: Path, n: int, mode: str) -> dict:
    import pickle

    with open(tmp.parent / "model.pkl", "rb") as fh:
        model, X = pickle.load(fh)
    expected = model.predict(X[:5])
    if side == "shipyard":
        sy, _ = _shipyard_setup()
        import shipyard.sklearn

        with sy.start_run():
            t0 = time.perf_counter()
            if mode == "training_data":
                info = shipyard.sklearn.log_model(model, "model", training_data=X)
            else:
                info = shipyard.sklearn.log_model(model, "model")
            t1 = time.perf_counter()
        t2 = time.perf_counter()
        pred = sy.load_model(info.model_uri).predict(X[:5])
        t3 = time.perf_counter()
    else:
        _mlflow_setup(tmp)
        import mlflow
        import mlflow.pyfunc
        import mlflow.sklearn

        with mlflow.start_run():
            t0 = time.perf_counter()
            info = mlflow.sklearn.log_model(model, name="model", serialization_format="cloudpickle")
            t1 = time.perf_counter()
        t2 = time.perf_counter()
        pred = mlflow.pyfunc.load_model(info.model_uri).predict(X[:5])
        t3 = time.perf_counter()
    import numpy as np

    return {"seconds": t1 - t0, "load": t3 - t2, "correct": bool(np.array_equal(np.asarray(pred), expected))}


def w_storage(side: str, tmp: Path, n: int, mode: str) -> dict:
    keys, steps = 10, n // 10
    base = int(time.time() * 1000)
    limit_s = float(mode or 180)
    if side == "shipyard":
        sy, exp_id = _shipyard_setup()
        from shipyard.entities import Metric

        client = sy.Client()
        chunk = 10_000
    else:
        _, exp_id = _mlflow_setup(tmp)
        from mlflow import MlflowClient
        from mlflow.entities import Metric

        client = MlflowClient()
        chunk = 1_000
    run_id = client.create_run(exp_id).info.run_id
    # step-major order (all keys at step 0, then step 1, ...), as a training loop logs them
    todo = ((f"metric_{k}", s) for s in range(steps) for k in range(keys))
    logged, stopped_early = 0, False
    t0 = time.perf_counter()
    while logged < n:
        batch = [Metric(key, (step % 977) / 977.0, base + step, step)
                 for key, step in (next(todo) for _ in range(min(chunk, n - logged)))]
        client.log_batch(run_id, metrics=batch)
        logged += len(batch)
        if logged == n // 10 and time.perf_counter() - t0 > limit_s / 10:
            stopped_early = True
            break
    client.set_terminated(run_id)
    elapsed = time.perf_counter() - t0
    if side == "shipyard":
        client.store.close()
    return {"seconds": elapsed, "points": logged, "stopped_early": stopped_early}


WORKERS = {"metric_loop": w_metric_loop, "batch": w_batch, "runs": w_runs, "search_large": w_search_large,
           "model": w_model, "storage": w_storage}


def worker_main(argv: list[str]) -> None:
    name, side, tmp, n, mode = argv
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    _emit(WORKERS[name](side, Path(tmp), int(n), mode))


# =====================================================================================  parent

class Bench:
    def __init__(self, args: argparse.Namespace, mlflow_py: Path | None) -> None:
        self.args = args
        self.py = {"shipyard": str(SHIPYARD_PY if SHIPYARD_PY.exists() else sys.executable),
                   "mlflow": str(mlflow_py) if mlflow_py else ""}
        self.sides = ["shipyard", "mlflow"] if args.only is None else [args.only]
        self.root = Path(tempfile.mkdtemp(prefix="shipyard-bench-tracking-"))

    def env(self, side: str, tmp: Path, extra: dict | None = None) -> dict:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SHIPYARD_", "MLFLOW_")) and k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        env["PYTHONHASHSEED"] = "0"
        if side == "shipyard":
            env["SHIPYARD_HOME"] = str(tmp)
        else:
            env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
        env.update(extra or {})
        return env

    def once(self, name: str, side: str, n: int, mode: str = "", extra_env: dict | None = None,
             keep: bool = False) -> dict:
        tmp = Path(tempfile.mkdtemp(prefix=f"{name}-{side}-", dir=self.root))
        proc = subprocess.run([self.py[side], str(Path(__file__).resolve()), "--_worker", name, side, str(tmp),
                               str(n), mode], cwd=tmp, env=self.env(side, tmp, extra_env),
                              capture_output=True, text=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"{name}/{side} failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}")
        result = json.loads(lines[-1][7:])
        if keep:
            result["dir"] = str(tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        return result

    def measure(self, name: str, n: int, repeats: dict[str, int], modes: dict[str, str] | None = None,
                envs: dict[str, dict] | None = None) -> dict[str, list[dict]]:
        """Interleaved repeats per side; returns {side: [result, ...]}."""
        out: dict[str, list[dict]] = {side: [] for side in repeats}
        spent = dict.fromkeys(repeats, 0.0)
        for r in range(max(repeats.values(), default=0)):
            for side in repeats:
                if r < repeats[side] and spent[side] < self.args.side_budget:
                    t0 = time.perf_counter()
                    real = side.split(":")[0]
                    res = self.once(name, real, n, (modes or {}).get(side, ""), (envs or {}).get(side))
                    out[side].append(res)
                    spent[side] += time.perf_counter() - t0
                    print(f"  {name:<12} {side:<16} #{r + 1}: " + ", ".join(
                        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in res.items()),
                        file=sys.stderr, flush=True)
        return out


def med(results: list[dict], key: str = "seconds") -> float | None:
    vals = [r[key] for r in results if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def fmt_t(x: float | None) -> str:
    if x is None:
        return "—"
    if x < 1:
        return f"{x * 1000:.1f} ms"
    return f"{x:.2f} s"


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("PASS" if ok else "FAIL")


def importtime(python: str, module: str, env: dict) -> float:
    """Cumulative microseconds ``-X importtime`` reports for ``module`` itself, in seconds."""
    proc = subprocess.run([python, "-X", "importtime", "-c", f"import {module}"], capture_output=True, text=True,
                          env=env)
    for line in proc.stderr.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == module:
            return int(parts[1]) / 1e6
    raise RuntimeError(f"no importtime line for {module}: {proc.stderr[-500:]}")


def checkpointed_size(db: Path) -> int:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    wal = db.with_name(db.name + "-wal")
    return db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, 1 repeat: a smoke run")
    ap.add_argument("--repeats", type=int, help="repeats of each measurement (default 5; --quick 1)")
    ap.add_argument("--slow-repeats", type=int, default=3,
                    help="repeats for MLflow's slow items: sync log_metric loop, N runs, log_model (default 3)")
    ap.add_argument("--only", choices=["shipyard", "mlflow"])
    ap.add_argument("--skip-large", action="store_true", help="skip the 1M-point storage and 100k-run search")
    ap.add_argument("--side-budget", type=float, default=240,
                    help="stop repeating a measurement on one side once it has taken this many seconds (default 240)")
    ap.add_argument("--markdown", type=Path, help="also write the table (with machine info) to this file")
    ap.add_argument("--sections", default="metric,batch,runs,model,import,storage",
                    help="comma-separated subset to run (metric, batch, runs, model, import, storage)")
    args = ap.parse_args()
    sections = set(args.sections.split(","))
    repeats = args.repeats or (1 if args.quick else 5)
    slow = max(1, min(repeats, args.slow_repeats))
    q = args.quick
    N_LOOP = 1_000 if q else 10_000
    N_BATCH = 1_000 if q else 10_000
    N_RUNS = 100 if q else 1_000
    N_LARGE = 10_000 if q else 100_000
    N_STORE = 100_000 if q else 1_000_000

    mlflow_py = None
    if args.only != "shipyard":
        sys.path.insert(0, str(HERE))
        from _peer import ensure_peer

        mlflow_py = ensure_peer("mlflow", ["mlflow==3.17.*", "scikit-learn"], ["mlflow", "sklearn"])
    b = Bench(args, mlflow_py)
    S, M = "shipyard" in b.sides, "mlflow" in b.sides
    versions = {}
    for side in b.sides:
        mod = "shipyard" if side == "shipyard" else "mlflow"
        versions[side] = subprocess.run([b.py[side], "-c", f"import sys, {mod}, sklearn; print({mod}.__version__, "
                                         "sklearn.__version__, sys.version.split()[0])"],
                                        capture_output=True, text=True, env=b.env(side, b.root)).stdout.strip()
    print(f"versions: {versions}", file=sys.stderr)
    rows: list[tuple] = []  # (measurement, shipyard, mlflow, ratio, target, verdict, note)

    def row(label: str, s: float | None, m: float | None, target: float | None, note: str = "",
            unit: str = "t", reps: str = "") -> None:
        note = "; ".join(x for x in (note, reps) if x)
        ratio = (m / s) if (s and m) else None
        ok = None if (ratio is None or target is None) else ratio >= target
        fs = fmt_t(s) if unit == "t" else ("—" if s is None else f"{s:.1f} B")
        fm = fmt_t(m) if unit == "t" else ("—" if m is None else f"{m:.1f} B")
        rows.append((label, fs, fm, "—" if ratio is None else f"{ratio:,.1f}x",
                     "" if target is None else f"≥{target:g}x", verdict(ok), note))
        print(f"{label:<44} {fs:>10} {fm:>10} {rows[-1][3]:>9} {rows[-1][4]:>6} {rows[-1][5]}  {note}",
              file=sys.stderr, flush=True)

    res: dict = {}

    def nrep(res: dict, *sides: str) -> str:
        return "n=" + "/".join(str(len(res.get(x, []))) for x in sides if x in res)

    def stored(side: str, n: int) -> str:
        vals = {r["stored"] for r in res.get(side, [])}
        return "" if not vals else ("all stored" if vals == {n} else f"stored {sorted(vals)} of {n}")

    t_start = time.time()
    # ---- 1. log_metric loop
    if "metric" in sections:
        rep = {}
        if S:
            rep["shipyard"] = repeats
        if M:
            rep.update({"mlflow:sync": slow, "mlflow:async": repeats, "mlflow:async-buf": repeats})
        res = b.measure("metric_loop", N_LOOP, rep, modes={"mlflow:sync": "sync", "mlflow:async": "async",
                                                              "mlflow:async-buf": "async"},
                        envs={"mlflow:async-buf": {"MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS": "1"}})


        s_loop = med(res.get("shipyard", []))
        row(f"log_metric x{N_LOOP:,} (vs MLflow sync)", s_loop, med(res.get("mlflow:sync", [])), 100,
            f"shipyard {stored('shipyard', N_LOOP)}; MLflow {stored('mlflow:sync', N_LOOP)}",
            reps=nrep(res, "shipyard", "mlflow:sync"))
        row("  … vs MLflow synchronous=False, defaults", s_loop, med(res.get("mlflow:async", [])), 10,
            f"MLflow {stored('mlflow:async', N_LOOP)}", reps=nrep(res, "shipyard", "mlflow:async"))
        row("  … vs MLflow synchronous=False, buffering 1 s", s_loop, med(res.get("mlflow:async-buf", [])), 10,
            f"MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS=1; {stored('mlflow:async-buf', N_LOOP)}",
            reps=nrep(res, "shipyard", "mlflow:async-buf"))

    # ---- 2. log_batch
    if "batch" in sections:
        res = b.measure("batch", N_BATCH, {side: repeats for side in b.sides})
        row(f"log_batch of {N_BATCH:,} points", med(res.get("shipyard", [])), med(res.get("mlflow", [])), None,
            "; ".join(f"{side} {stored(side, N_BATCH)}" for side in b.sides), reps=nrep(res, "shipyard", "mlflow"))

    # ---- 3 + 4. runs and search
    if "runs" in sections:
        res = b.measure("runs", N_RUNS, {"shipyard": repeats, "mlflow": slow} if S and M
                        else {side: (repeats if side == "shipyard" else slow) for side in b.sides})
        found = "; ".join(f"{side} {res[side][0]['found']} found"
                          + ("" if all(r["correct"] for r in res[side]) else " (WRONG RESULT)") for side in res)
        row(f"{N_RUNS:,} runs x (5 params, 5 metrics), fluent", med(res.get("shipyard", [])),
            med(res.get("mlflow", [])), 20, reps=nrep(res, "shipyard", "mlflow"))
        row(f"filtered search over {N_RUNS:,} runs", med(res.get("shipyard", []), "search"),
            med(res.get("mlflow", []), "search"), 10,
            found + "; first call " + ", ".join(f"{side} {fmt_t(med(res[side], 'search_first'))}" for side in res))
        if S and not args.skip_large:
            res = b.measure("search_large", N_LARGE, {"shipyard": max(1, min(repeats, 3))})
            t = med(res["shipyard"])
            r0 = res["shipyard"][0]
            rows.append((f"filtered search over {r0['runs']:,} runs (shipyard)", fmt_t(t), "—", "—", "< 50 ms",
                         verdict(t < 0.05) if N_LARGE >= 100_000 else "—",
                         f"median of 7 in-process calls; first call {fmt_t(med(res['shipyard'], 'search_first'))}; "
                         f"{r0['found']} found" + ("" if r0["correct"] else " (WRONG RESULT)")))
            print(rows[-1], file=sys.stderr)

    # ---- 5. log_model / load_model
    if "model" in sections:
        import pickle

        try:
            import numpy as np
            from sklearn.ensemble import RandomForestClassifier
        except ImportError:
            np = None
            print("scikit-learn is not importable here: skipping log_model", file=sys.stderr)
        if np is not None:
            rng = np.random.default_rng(0)
            X = rng.normal(size=(5_000, 20))
            y = (X[:, 0] + 0.5 * X[:, 1] - X[:, 2] + rng.normal(scale=0.5, size=5_000) > 0).astype(int)
            model = RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1).fit(X, y)
            with open(b.root / "model.pkl", "wb") as fh:
                pickle.dump((model, X), fh)
            rep = {"shipyard": repeats, "shipyard:td": repeats} if S else {}
            if M:
                rep["mlflow"] = slow
            res = b.measure("model", 0, rep, modes={"shipyard:td": "training_data"})
            ok = "; ".join(f"{side} predictions {'match' if all(r['correct'] for r in res[side]) else 'DIFFER'}"
                           for side in res)
            row("sklearn.log_model (100-tree forest)", med(res.get("shipyard", [])), med(res.get("mlflow", [])), 10,
                "MLflow: cloudpickle, pip requirements inferred", reps=nrep(res, "shipyard", "mlflow"))
            row("  … shipyard with training_data=X", med(res.get("shipyard:td", [])), med(res.get("mlflow", [])), 10,
                "profiles 5,000 x 20 for drift monitoring")
            row("load_model + predict(X[:5])", med(res.get("shipyard", []), "load"), med(res.get("mlflow", []), "load"),
                None, ok)

    # ---- 6. import
    if "import" in sections:
        imp: dict[str, list[float]] = {s: [] for s in b.sides}
        ipt: dict[str, list[float]] = {s: [] for s in b.sides}
        for _ in range(5):
            for side in b.sides:
                mod = "shipyard" if side == "shipyard" else "mlflow"
                env = b.env(side, b.root)
                t0 = time.perf_counter()
                subprocess.run([b.py[side], "-c", f"import {mod}"], check=True, env=env)
                imp[side].append(time.perf_counter() - t0)
                ipt[side].append(importtime(b.py[side], mod, env))
        gm = (lambda d, s: statistics.median(d[s]) if s in d else None)  # noqa: E731
        row("import (wall time of python -c 'import …')", gm(imp, "shipyard"), gm(imp, "mlflow"), 10,
            "fresh process each; includes interpreter start")
        row("  … -X importtime of the package", gm(ipt, "shipyard"), gm(ipt, "mlflow"), 10, "cumulative µs reported")

    # ---- 7. storage
    if "storage" in sections and not args.skip_large:
        sizes: dict[str, list[float]] = {}
        notes = []
        for side in b.sides:
            r = b.once("storage", side, N_STORE, "180", keep=True)
            db = Path(r["dir"]) / ("shipyard.db" if side == "shipyard" else "mlflow.db")
            size = checkpointed_size(db)
            # the same database with nothing logged, to show the per-point cost without the fixed part
            e = b.once("storage", side, 0, "180", keep=True)
            empty = checkpointed_size(Path(e["dir"]) / db.name)
            shutil.rmtree(r["dir"], ignore_errors=True)
            shutil.rmtree(e["dir"], ignore_errors=True)
            sizes[side] = [size / r["points"], (size - empty) / r["points"]]
            notes.append(f"{side}: {r['points']:,} points, {size / 1e6:.1f} MB, {fmt_t(r['seconds'])} to log"
                         + (" (stopped at 100k: 1M projected > 3 min)" if r["stopped_early"] else "")
                         + f"; empty db {empty / 1024:.0f} KiB")
            print(f"  storage {side}: {r}", file=sys.stderr)
        s_b = sizes.get("shipyard", [None, None])
        m_b = sizes.get("mlflow", [None, None])
        rows.append(("bytes per stored metric point (db+wal / points)",
                     "—" if s_b[0] is None else f"{s_b[0]:.1f} B", "—" if m_b[0] is None else f"{m_b[0]:.1f} B",
                     "—" if None in (s_b[0], m_b[0]) else f"{m_b[0] / s_b[0]:.1f}x", "≤ 80 B",
                     verdict(None if s_b[0] is None else s_b[0] <= 80), "; ".join(notes)))
        rows.append(("  … less the empty database",
                     "—" if s_b[1] is None else f"{s_b[1]:.1f} B", "—" if m_b[1] is None else f"{m_b[1]:.1f} B",
                     "—" if None in (s_b[1], m_b[1]) else f"{m_b[1] / s_b[1]:.1f}x", "", "", ""))

    # ---- table
    head = ("measurement", "shipyard", f"MLflow {versions.get('mlflow', '').split(' ')[0]}".strip(),
            "MLflow/shipyard", "target", "", "notes")
    table = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    table += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    text = "\n".join(table)
    machine = (f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
               f"Python {platform.python_version()}; versions (package, scikit-learn, python): {versions}; "
               f"repeats {repeats} (slow MLflow items {slow}); total {time.time() - t_start:.0f} s")
    print()
    print(text)
    print()
    print(machine)
    if args.markdown:
        args.markdown.write_text(text + "\n\n" + machine + "\n")
    shutil.rmtree(b.root, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--_worker":
        worker_main(sys.argv[2:])
    else:
        main()
