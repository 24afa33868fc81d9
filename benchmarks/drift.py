"""Benchmark: shipyard.drift.compare against Evidently's DataDriftPreset, side by side.

20 numeric + 5 categorical columns, reference and current of the same size (10k, 100k, 1M rows).
Each side runs in its own subprocess under /usr/bin/time -v (wall time, peak RSS); each worker also
reports the time of the drift computation alone (data generation and imports excluded). Evidently
0.7 lives in its own virtualenv (created on first use). Both sides use their automatic test choice,
which at these sizes is Wasserstein/std >= 0.1 (numeric) and Jensen-Shannon >= 0.1 (categorical) for
Evidently; shipyard's calibrated choice gives chi-square to the columns with <= 5 categories;
the verdicts are compared column by column. `peak MB` is the subprocess's peak RSS (data included);
`drift MB` is what the drift call alone added at its peak over the RSS it started from (Linux:
the peak mark is reset through /proc/self/clear_refs just before the call).

    python benchmarks/drift.py                       # 10k, 100k, 1M
    python benchmarks/drift.py --quick               # skip 1M
    python benchmarks/drift.py --sizes 1000000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

EVIDENTLY_ENV = Path.home() / ".cache" / "shipyard-bench" / "evidently"
ROOT = Path(__file__).resolve().parent.parent


def make_data(n: int, seed: int, current: bool):  # type: ignore[no-untyped-def]
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed + (1 if current else 0))
    cols = {}
    for i in range(20):
        shift = (0.3 if i < 5 else 0.02) if current else 0.0  # 5 drifted numeric columns
        cols[f"num{i}"] = rng.normal(shift, 1.0 + i / 10, n) if i % 2 else rng.gamma(2.0 + i, 1.0, n) + shift * 3
    for j in range(5):
        k = 4 + j
        p = np.linspace(1, 2, k)
        if current and j < 2:
            p = p[::-1]  # 2 drifted categorical columns
        cols[f"cat{j}"] = rng.choice(np.array([f"v{c}" for c in range(k)], dtype=object), n, p=p / p.sum())
    return pd.DataFrame(cols)


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> int | None:
    """Reset the kernel's peak-RSS mark (Linux: clear_refs 5) and return the current RSS in kB."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return None
    return _status_kb("VmRSS")


def _drift_peak(before: int | None) -> int | None:
    """Bytes the drift call added at its peak over the RSS it started from (None off Linux)."""
    peak = _status_kb("VmHWM")
    return None if before is None or peak is None else max(peak - before, 0) * 1024


def worker_shipyard(n: int) -> dict[str, object]:
    import shipyard.drift as sd

    ref, cur = make_data(n, 0, False), make_data(n, 0, True)
    before = _reset_peak()
    t = time.perf_counter()
    report = sd.compare(ref, cur)
    elapsed = time.perf_counter() - t
    drift_peak = _drift_peak(before)
    t = time.perf_counter()
    ref_p = sd.DatasetProfile.from_dict(json.loads(json.dumps(sd.profile(ref).to_dict())))
    cur_p = sd.profile(cur, reference=ref_p)
    profiling = time.perf_counter() - t
    times = []
    for _ in range(30):
        t = time.perf_counter()
        sd.compare(ref_p, cur_p)
        times.append(time.perf_counter() - t)
    cols = {r.column: [r.test, r.statistic, r.drifted] for r in report.rows}
    return {"compute_s": elapsed, "profile_s": profiling, "p2p_ms": statistics.median(times) * 1e3,
            "columns": cols, "drift_peak_bytes": drift_peak}


def worker_evidently(n: int) -> dict[str, object]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    ref, cur = make_data(n, 0, False), make_data(n, 0, True)
    definition = DataDefinition(numerical_columns=[f"num{i}" for i in range(20)],
                                categorical_columns=[f"cat{j}" for j in range(5)])
    before = _reset_peak()
    t = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(Dataset.from_pandas(cur, data_definition=definition),
                                               Dataset.from_pandas(ref, data_definition=definition))
    elapsed = time.perf_counter() - t
    drift_peak = _drift_peak(before)
    cols = {}
    for m in snapshot.dict()["metrics"]:
        name = str(m.get("metric_name", ""))
        found = re.search(r"ValueDrift\(column=(.+?),method=(.+?),threshold=([0-9.]+)", name)
        if found:
            col, method, thr = found.group(1), found.group(2), float(found.group(3))
            value = float(m["value"])
            cols[col] = [method, value, value >= thr]
    return {"compute_s": elapsed, "columns": cols, "version": _evidently_version(),
            "drift_peak_bytes": drift_peak}


def _evidently_version() -> str:
    from importlib.metadata import version

    return version("evidently")


def ensure_evidently() -> Path:
    python = EVIDENTLY_ENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_ENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "evidently==0.7.*", "pandas<3"], check=True)
    return python


def run_side(python: Path, side: str, n: int) -> dict[str, object]:
    cmd = [str(python), str(Path(__file__).resolve()), "--worker", side, "--rows", str(n)]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    if Path("/usr/bin/time").exists():
        proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=env)
        peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1)) * 1024
    else:
        import resource

        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        peak = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) * 1024
    if proc.returncode:
        raise RuntimeError(f"{side} worker failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["peak_bytes"] = peak
    return out


SAME_TEST = {"Wasserstein distance (normed)": "wasserstein", "Jensen-Shannon distance": "jensenshannon"}


def _mb(x: float | None) -> str:
    return f"{'-':>8}" if x is None else f"{x / 2**20:8.0f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", choices=["shipyard", "evidently"])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--quick", action="store_true", help="skip the 1M-row size")
    ap.add_argument("--sizes", type=int, nargs="+", help="row counts to run (default 10k 100k 1M)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per side (medians); Evidently runs once at 1M")
    args = ap.parse_args()
    if args.worker:
        fn = worker_shipyard if args.worker == "shipyard" else worker_evidently
        print(json.dumps(fn(args.rows)))
        return
    evidently = ensure_evidently()
    sizes = args.sizes or [10_000, 100_000] + ([] if args.quick else [1_000_000])
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    head = (f"{'rows':>9} | {'side':9} | {'compute s':>9} | {'process s':>9} | {'peak MB':>8} | "
            f"{'drift MB':>8} | {'speed-up':>8} | {'mem ratio':>9} | agree")
    print(head)
    print("-" * len(head))
    version, p2p = "?", []
    for n in sizes:
        res = {}
        for side, python in (("shipyard", Path(sys.executable)), ("evidently", evidently)):
            repeat = 1 if side == "evidently" and n >= 1_000_000 else args.repeat
            runs = []
            for _ in range(repeat):
                t = time.perf_counter()
                r = run_side(python, side, n)
                r["process_s"] = time.perf_counter() - t
                runs.append(r)
            drift = [r["drift_peak_bytes"] for r in runs if r.get("drift_peak_bytes") is not None]
            res[side] = {
                "compute_s": statistics.median(r["compute_s"] for r in runs),
                "compute_all": [r["compute_s"] for r in runs],
                "process_s": statistics.median(r["process_s"] for r in runs),
                "peak_bytes": statistics.median(r["peak_bytes"] for r in runs),
                "drift_bytes": statistics.median(drift) if drift else None,
                "columns": runs[0]["columns"],
                "p2p_ms": statistics.median(r.get("p2p_ms", 0.0) for r in runs),
            }
            version = runs[0].get("version", version)
        s, e = res["shipyard"], res["evidently"]
        agree = [c for c in s["columns"] if e["columns"].get(c, [None, None, None])[2] == s["columns"][c][2]]
        differ = sorted(set(s["columns"]) - set(agree))
        other_test = sorted(c for c, v in s["columns"].items()
                            if SAME_TEST.get(e["columns"].get(c, [None])[0]) != v[0])
        gap = max(abs(v[1] - e["columns"][c][1]) for c, v in s["columns"].items() if c in e["columns"])
        speed = e["compute_s"] / s["compute_s"]
        mem = s["peak_bytes"] / e["peak_bytes"]
        call_mem = (f"{s['drift_bytes'] / e['drift_bytes']:.2f}" if s["drift_bytes"] is not None
                    and e["drift_bytes"] else "?")
        for side, r in (("shipyard", s), ("evidently", e)):
            extra = (f"{speed:8.1f}x | {mem:9.2f} | {len(agree)}/{len(s['columns'])} {differ or ''}"
                     if side == "shipyard" else f"{'':8}  | {'':9} |")
            print(f"{n:>9,} | {side:9} | {r['compute_s']:9.3f} | {r['process_s']:9.2f} | "
                  f"{_mb(r['peak_bytes'])} | {_mb(r['drift_bytes'])} | {extra}")
        print(f"{'':9}   runs (compute s): shipyard {[round(x, 3) for x in s['compute_all']]}, "
              f"evidently {[round(x, 2) for x in e['compute_all']]}; largest statistic difference "
              f"{gap:.2g}; columns on another test: {other_test or 'none'}; drift MB ratio {call_mem}")
        p2p.append((n, s["p2p_ms"]))
        sys.stdout.flush()
    ours = sorted({v[0] for v in s["columns"].values()})
    theirs = sorted({v[0] for v in e["columns"].values()})
    print(f"\nEvidently {version}; shipyard tests used: {ours}; Evidently: {theirs}")
    for n, ms in p2p:
        print(f"profile-to-profile compare, 25 columns, profiles of {n:,} rows: {ms:.2f} ms (median of 30)")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
