"""Benchmark: shipyard.features against Feast, side by side on the same Parquet files.

Data: ``--views`` feature views (default 10) x ``--features`` float features (10), ``--feature-rows``
rows in all (10M), over ``--entities`` drivers (100k) and 30 days, each row created up to an hour
after its event (so the created column breaks ties and matters). Written once to a cache folder.

Tasks, each side in its own subprocess (so peak RSS is that side's alone):

- historical: ``get_historical_features`` of every view's features for N entity rows (``--entity-rows``,
  default 100k and 1M); event-time semantics on both sides (Feast uses the created column only to
  break ties: shipyard's ``as_known_at=False``). Results are compared value by value.
- materialize: ``--materialize-rows`` rows (1M) of one 10-feature view into each side's SQLite
  online store.
- online: after that, 100 entities x 10 features per lookup in process, p50/p99 over ``--lookups``
  (2,000), wall clock and this thread's CPU time (on a shared machine the wall-clock tail is mostly
  time spent waiting for a core).

Feast (current release from PyPI) lives in its own virtualenv (benchmarks/_peer.py), with its file
offline store and SQLite online store. A side that passes ``--timeout`` seconds is stopped and the
row says so, with its peak memory until then as a lower bound (``≥ N when stopped``: the kernel's
high-water mark of the worker, or the summed RSS of it and its children, polled every 0.5 s).
``peak MB`` is the worker's peak RSS (its data included), ``s`` the timed call alone. Where values
differ, the row counts the differing rows that are ties on event time resolved differently.

    python benchmarks/features.py                                   # the full run
    python benchmarks/features.py --feature-rows 1000000 --entity-rows 10000 100000 --timeout 300
    python benchmarks/features.py --no-feast
    python benchmarks/features.py --no-feast --tasks materialize       # materialization and lookups only
    python benchmarks/features.py --no-feast --tasks historical --dask 2   # also on 2 Dask worker processes
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_ROOT = Path(os.environ.get("SHIPYARD_BENCH_PEERS") or Path.home() / ".cache" / "shipyard-bench") / "features-data"
DAY = 86_400
SPAN_DAYS = 30
TTL_DAYS = 30  # entity rows fall in the second half of the span, so nearly every row finds a value


# -- data (main venv) --------------------------------------------------------------------------------

def make_data(folder: Path, views: int, features: int, rows: int, entities: int, mat_rows: int) -> None:
    import numpy as np
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    t0 = pd.Timestamp("2026-01-01").value // 1000  # microseconds
    rng = np.random.default_rng(0)

    def view_frame(n: int, prefix: str) -> pd.DataFrame:
        event = t0 + rng.integers(0, SPAN_DAYS * DAY, n) * 1_000_000
        frame = pd.DataFrame({"driver_id": rng.integers(0, entities, n),
                              "event_timestamp": _utc(pd.to_datetime(event, unit="us")),
                              "created": _utc(pd.to_datetime(event + rng.integers(0, 3600, n) * 1_000_000, unit="us"))})
        for j in range(features):
            frame[f"{prefix}_f{j}"] = rng.random(n).round(6)
        return frame

    for i in range(views):
        path = folder / f"v{i}.parquet"
        if not path.exists():
            view_frame(rows // views, f"v{i}").to_parquet(path, row_group_size=256_000)
    mat = folder / "mat.parquet"
    if not mat.exists():
        view_frame(mat_rows, "m").to_parquet(mat, row_group_size=256_000)


def _utc(times: object) -> object:
    """Nanosecond UTC timestamps: the type Feast's file offline store compares without complaint."""
    return times.astype("datetime64[ns]").tz_localize("UTC")  # type: ignore[attr-defined]


def make_entities(folder: Path, n: int, entities: int) -> Path:
    import numpy as np
    import pandas as pd

    path = folder / f"entities-{n}.parquet"
    if not path.exists():
        rng = np.random.default_rng(n)
        t0 = pd.Timestamp("2026-01-01").value // 1000
        pd.DataFrame({"row_id": np.arange(n), "driver_id": rng.integers(0, entities, n),
                      "event_timestamp": _utc(pd.to_datetime(
                          t0 + rng.integers(SPAN_DAYS // 2 * DAY, SPAN_DAYS * DAY, n) * 1_000_000, unit="us"))}
                     ).to_parquet(path)
    return path


# -- workers (each side's own venv; stdlib at the top) --------------------------------------------------

def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _shipyard_worker(args: argparse.Namespace) -> dict[str, object]:
    from datetime import timedelta

    import pandas as pd

    from shipyard.features import Entity, FeatureStore, FeatureView

    data, work = Path(args.data), Path(args.work)
    os.environ["SHIPYARD_HOME"] = str(work / "home")
    driver = Entity("driver", join_keys=["driver_id"])
    store = FeatureStore(online_store=f"sqlite:///{work / 'online.db'}")
    if args.task == "historical":
        views = [FeatureView(f"v{i}", entities=[driver], source=data / f"v{i}.parquet",
                             features=[f"v{i}_f{j}" for j in range(args.features)], created_timestamp_column="created",
                             ttl=timedelta(days=TTL_DAYS)) for i in range(args.views)]
        store.apply(*views)
        entity_df = pd.read_parquet(args.entity_file)
        refs = [f"v{i}:v{i}_f{j}" for i in range(args.views) for j in range(args.features)]
        cluster = client = None
        if args.dask:  # started before the clock: a cluster outlives one call
            from distributed import Client, LocalCluster

            cluster = LocalCluster(n_workers=args.dask, threads_per_worker=1, processes=True, dashboard_address=":0")
            client = Client(cluster)
        start = time.perf_counter()
        result = store.get_historical_features(entity_df, refs, as_known_at=False, executor=client)
        seconds = time.perf_counter() - start
        if client is not None and cluster is not None:
            client.close()
            cluster.close()
        result.sort_values("row_id").to_parquet(args.out)
        return {"seconds": seconds, "peak_mb": _peak_mb(), "rows": len(result)}
    view = FeatureView("mat", entities=[driver], source=data / "mat.parquet", features=[f"m_f{j}" for j in range(10)],
                       created_timestamp_column="created", ttl=timedelta(days=TTL_DAYS))
    store.apply(view)
    start = time.perf_counter()
    store.materialize(end=pd.Timestamp("2026-03-01").to_pydatetime())
    seconds = time.perf_counter() - start
    refs = [f"mat:m_f{j}" for j in range(10)]
    result = {"seconds": seconds, "peak_mb": _peak_mb(),
              **_lookups(lambda rows: store.get_online_features(rows, refs), args)}
    # Over HTTP: `shipyard server` with this online store, POST /api/v1/features/online.
    command = [sys.executable, "-m", "shipyard", "server", "--port", "0", "--online-store",
               f"sqlite:///{work / 'online.db'}"]
    with _Server(command, work / "server.log", r"listening on http://[^:]+:(\d+)") as port:
        def over_http(rows: list[dict[str, object]]) -> dict[str, list[object]]:
            answer = _post(port, "/api/v1/features/online", {"entity_rows": rows, "features": refs})
            return answer["features"]  # type: ignore[no-any-return]

        result["http"] = _lookups(over_http, args)
    return result


def _lookups(call: object, args: argparse.Namespace) -> dict[str, object]:
    import random

    rnd = random.Random(1)
    samples, cpu = [], []
    got = None
    for i in range(args.lookups + 20):
        rows = [{"driver_id": rnd.randrange(args.entities)} for _ in range(100)]
        start, start_cpu = time.perf_counter(), time.thread_time()
        got = call(rows)  # type: ignore[operator]
        if i >= 20:  # warm-up excluded
            samples.append(time.perf_counter() - start)
            # This thread's CPU time: on a loaded machine the wall-clock p99 is mostly time spent
            # waiting for a core; CPU time is the lookup's own cost (I/O waits excluded, too).
            cpu.append(time.thread_time() - start_cpu)
    samples.sort()
    cpu.sort()
    found = sum(v is not None for v in list(got.values())[-1])  # type: ignore[union-attr]
    return {"p50_ms": samples[len(samples) // 2] * 1000, "p99_ms": samples[int(len(samples) * 0.99)] * 1000,
            "cpu_p50_ms": cpu[len(cpu) // 2] * 1000, "cpu_p99_ms": cpu[int(len(cpu) * 0.99)] * 1000,
            "found_of_100": found}


def _feast_worker(args: argparse.Namespace) -> dict[str, object]:
    import warnings
    from datetime import datetime, timedelta

    import pandas as pd
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64

    warnings.filterwarnings("ignore")
    data, work = Path(args.data), Path(args.work)
    repo = work / "repo"
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "feature_store.yaml").write_text(
        f"project: bench\nregistry: {repo / 'registry.db'}\nprovider: local\noffline_store:\n  type: file\n"
        f"online_store:\n  type: sqlite\n  path: {repo / 'online.db'}\nentity_key_serialization_version: 3\n")
    fs = FeatureStore(repo_path=str(repo))
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)

    def view(name: str, path: Path, prefix: str, n: int) -> FeatureView:
        source = FileSource(path=str(path), timestamp_field="event_timestamp", created_timestamp_column="created")
        return FeatureView(name=name, entities=[driver], ttl=timedelta(days=TTL_DAYS), source=source,
                           schema=[Field(name=f"{prefix}_f{j}", dtype=Float64) for j in range(n)])

    if args.task == "historical":
        views = [view(f"v{i}", data / f"v{i}.parquet", f"v{i}", args.features) for i in range(args.views)]
        fs.apply([driver, *views])
        entity_df = pd.read_parquet(args.entity_file)
        refs = [f"v{i}:v{i}_f{j}" for i in range(args.views) for j in range(args.features)]
        start = time.perf_counter()
        result = fs.get_historical_features(entity_df=entity_df, features=refs).to_df()
        seconds = time.perf_counter() - start
        result.sort_values("row_id").to_parquet(args.out)
        return {"seconds": seconds, "peak_mb": _peak_mb(), "rows": len(result)}
    mat = view("mat", data / "mat.parquet", "m", 10)
    fs.apply([driver, mat])
    start = time.perf_counter()
    fs.materialize(start_date=datetime(2025, 12, 1), end_date=datetime(2026, 3, 1))
    seconds = time.perf_counter() - start
    refs = [f"mat:m_f{j}" for j in range(10)]
    result = {"seconds": seconds, "peak_mb": _peak_mb(),
              **_lookups(lambda rows: fs.get_online_features(features=refs, entity_rows=rows).to_dict(), args)}
    # Over HTTP: Feast's own feature server (`feast serve`, 1 worker, access log off), POST /get-online-features.
    port = _free_port()
    command = [str(Path(sys.executable).parent / "feast"), "serve", "-h", "127.0.0.1", "-p", str(port),
               "--no-access-log"]
    with _Server(command, work / "feast-serve.log", None, port=port, cwd=repo, health="/health"):
        def over_http(rows: list[dict[str, object]]) -> dict[str, list[object]]:
            answer = _post(port, "/get-online-features",
                           {"features": refs, "entities": {"driver_id": [r["driver_id"] for r in rows]}})
            names = answer["metadata"]["feature_names"]
            return {n: r["values"] for n, r in zip(names, answer["results"], strict=True)}

        result["http"] = _lookups(over_http, args)
    return result


# -- HTTP helpers (standard library only: they run in Feast's virtual environment too) -----------------

def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_CONNECTIONS: dict[int, object] = {}


def _post(port: int, path: str, body: object) -> dict[str, object]:
    """One POST on a kept-alive connection (as a feature client keeps one), the JSON answer."""
    import http.client

    conn = _CONNECTIONS.get(port)
    if conn is None:
        conn = _CONNECTIONS[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})  # type: ignore[attr-defined]
    response = conn.getresponse()  # type: ignore[attr-defined]
    data = response.read()
    if response.status != 200:
        raise RuntimeError(f"POST {path}: {response.status} {data[:300]!r}")
    return json.loads(data)  # type: ignore[no-any-return]


class _Server:
    """A server process for the HTTP lookups: started, waited for (its port read from its log, or its
    health path answering), stopped by its own process id on exit."""

    def __init__(self, command: list[str], log: Path, port_pattern: str | None, *, port: int = 0,
                 cwd: Path | None = None, health: str = "/health") -> None:
        self.command, self.log, self.pattern, self.port, self.cwd, self.health = (
            command, log, port_pattern, port, cwd, health)

    def __enter__(self) -> int:
        import re
        import subprocess
        import urllib.request

        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(self.command, stdout=out, stderr=subprocess.STDOUT, cwd=self.cwd)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.command[0]} exited: {self.log.read_text()[-2000:]}")
            if self.pattern and (m := re.search(self.pattern, self.log.read_text(errors="replace"))):
                self.port = int(m.group(1))
            if self.port:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{self.health}", timeout=2):
                        return self.port
                except OSError:
                    pass
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"{self.command[0]} did not answer in 120 s: {self.log.read_text()[-2000:]}")

    def __exit__(self, *exc: object) -> None:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except Exception:
                self.proc.kill()
                self.proc.wait()


# -- driver (main venv) --------------------------------------------------------------------------------

def _proc_kb(pid: int, field: str) -> int:
    """A /proc/PID/status field in kB (VmHWM: the peak RSS so far, VmRSS: now); 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except (OSError, ValueError):
                continue
            found.extend(children)
            todo.extend(children)
    return found


def _tree_peak_kb(pid: int) -> int:
    """A lower bound of the worker's peak memory so far: the kernel's high-water mark of the worker
    itself (exact even between polls), or the sum of the current RSS of it and its children (a
    worker that forks its work, as Dask's process scheduler would, peaks in the children)."""
    kids = _descendants(pid)
    return max(_proc_kb(pid, "VmHWM"), _proc_kb(pid, "VmRSS") + sum(_proc_kb(k, "VmRSS") for k in kids))


def _run(side: str, python: str, task: str, args: argparse.Namespace, extra: list[str]) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{side}-") as work:
        cmd = [python, __file__, "--worker", side, "--task", task, "--work", work, "--data", str(args.data),
               "--views", str(args.views), "--features", str(args.features), "--entities", str(args.entities),
               "--lookups", str(args.lookups), *extra]
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        # Polled rather than subprocess.run(timeout=...): a side stopped at the timeout still has a
        # peak memory to report (a lower bound, since it had not finished), which the issue's
        # memory ratio needs when Feast cannot finish in a bounded time.
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                start_new_session=True)  # its own process group: stopping it stops its children
        start = time.monotonic()
        peak_kb = 0
        while True:
            try:
                out, err = proc.communicate(timeout=0.5)  # retried communicate() loses no output
                break
            except subprocess.TimeoutExpired:
                peak_kb = max(peak_kb, _tree_peak_kb(proc.pid))
                if time.monotonic() - start > args.timeout:
                    os.killpg(proc.pid, 9)
                    proc.communicate()
                    return {"error": f"stopped after {args.timeout:.0f} s", "stopped_s": time.monotonic() - start,
                            "peak_mb_at_stop": peak_kb / 1024}
        if proc.returncode != 0:
            tail = (err or out).strip().splitlines()[-1:] or ["?"]
            return {"error": f"failed ({proc.returncode}): {tail[0][:160]}"}
        return dict(json.loads(out.strip().splitlines()[-1]))


def _stopped(r: dict[str, object]) -> tuple[str, str]:
    """The s and peak MB cells of a side that did not finish: lower bounds where it was stopped."""
    if "peak_mb_at_stop" not in r:
        return "-", "-"
    return f"> {r['stopped_s']:.0f}", f"≥ {r['peak_mb_at_stop']:.0f} when stopped"


def _ties(both: object, data: Path) -> str:
    """Why rows differ: count those whose view has several rows at the latest event time, where
    shipyard returned the latest created one (the documented tie-break, Feast's too) and the peer
    another of the tied rows."""
    import numpy as np
    import pandas as pd

    assert isinstance(both, pd.DataFrame)
    tie = rows = 0
    for path in sorted(data.glob("v*.parquet")):
        c = f"{path.stem}_f0"
        if c not in both.columns:
            continue
        bad = both[~np.isclose(both[c].to_numpy(dtype=float), both[f"{c}__peer"].to_numpy(dtype=float),
                               equal_nan=True)]
        if bad.empty:
            continue
        source = pd.read_parquet(path, columns=["driver_id", "event_timestamp", "created", c])
        for _, r in bad.iterrows():
            s = source[(source.driver_id == r.driver_id) & (source.event_timestamp <= r.event_timestamp)]
            last = s[s.event_timestamp == s.event_timestamp.max()].sort_values("created")
            rows += 1
            tie += len(last) > 1 and last[c].iloc[-1] == r[c] and r[f"{c}__peer"] in set(last[c])
    return (f"{rows} rows; {tie} of them are ties on event time where shipyard has the latest created row "
            "and the peer an earlier one")


def _same(a: Path, b: Path, data: Path) -> str:
    import numpy as np
    import pandas as pd

    x, y = pd.read_parquet(a), pd.read_parquet(b)
    features = [c for c in x.columns if "_f" in c]
    both = x.merge(y[["row_id", *features]], on="row_id", suffixes=("", "__peer"))
    bad = 0
    for c in features:
        u, v = both[c].to_numpy(dtype=float), both[f"{c}__peer"].to_numpy(dtype=float)
        bad += int((~np.isclose(u, v, equal_nan=True)).sum())
    verdict = "identical values" if bad == 0 else f"{bad} values differ ({_ties(both, data)})"
    filled = float(x[features].notna().to_numpy().mean())
    dropped = len(x) - len(y)
    note = f"Feast returned {len(y):,} of {len(x):,} rows (drops rows lacking a view's value)" if dropped else \
        "same rows"
    return f"{verdict} on the {len(both):,} common rows; {note}; shipyard {filled:.1%} of values filled"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--views", type=int, default=10)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--feature-rows", type=int, default=10_000_000)
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--entity-rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--materialize-rows", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--no-feast", action="store_true")
    parser.add_argument("--dask", type=int, default=0, metavar="N",
                        help="also shipyard on a local Dask cluster of N worker processes (historical only)")
    parser.add_argument("--tasks", nargs="+", choices=["historical", "materialize"],
                        default=["historical", "materialize"], help="materialize includes the online lookups")
    parser.add_argument("--feast-max-entity-rows", type=int, default=10**9,
                        help="skip Feast above this many entity rows (said in the row)")
    # worker-only
    parser.add_argument("--worker", default=None)
    parser.add_argument("--task", default=None)
    parser.add_argument("--work", default=None)
    parser.add_argument("--data", default=None)
    parser.add_argument("--entity-file", default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.worker:
        result = (_shipyard_worker if args.worker.startswith("shipyard") else _feast_worker)(args)
        print(json.dumps(result))
        return

    args.data = DATA_ROOT / f"{args.views}x{args.features}-{args.feature_rows}-{args.entities}-{args.materialize_rows}"
    start = time.perf_counter()
    print(f"preparing the data in {args.data} (once per size) ...", file=sys.stderr, flush=True)
    make_data(args.data, args.views, args.features, args.feature_rows, args.entities, args.materialize_rows)
    print(f"data: {args.data} ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    sides = [("shipyard", sys.executable, "")]
    if args.dask:
        sides.append(("shipyard-dask", sys.executable, f"{args.dask} workers"))
    if not args.no_feast:
        sys.path.insert(0, str(Path(__file__).parent))
        from _peer import ensure_peer, version_of

        feast = ensure_peer("feast", ["feast"], ["feast"])
        sides.append(("feast", str(feast), version_of(feast, "feast")))
    print(f"# features benchmark: {args.views} views x {args.features} features, {args.feature_rows:,} feature rows, "
          f"{args.entities:,} entities; {os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d')}")
    print("| task | side | s | peak MB | result |\n|---|---|---|---|---|")
    outs = {}
    for n in args.entity_rows if "historical" in args.tasks else []:
        entity_file = make_entities(args.data, n, args.entities)
        for side, python, version in sides:
            label = f"{side} {version}".strip()
            extra = ["--dask", str(args.dask)] if side == "shipyard-dask" else []
            if side == "feast" and n > args.feast_max_entity_rows:
                print(f"| historical {n:,} rows | {label} | - | - | not run (over --feast-max-entity-rows) |")
                continue
            out = Path(tempfile.gettempdir()) / f"features-bench-{side}-{n}.parquet"
            r = _run(side, python, "historical", args, ["--entity-file", str(entity_file), "--out", str(out), *extra])
            if "error" in r:
                secs, mb = _stopped(r)
                print(f"| historical {n:,} rows | {label} | {secs} | {mb} | {r['error']} |", flush=True)
                continue
            outs[(side, n)] = out
            note = ""
            if side == "feast" and ("shipyard", n) in outs:
                note = _same(outs[("shipyard", n)], out, args.data)
            elif side == "shipyard-dask" and ("shipyard", n) in outs:
                import pandas as pd

                same = pd.read_parquet(out).equals(pd.read_parquet(outs[("shipyard", n)]))
                note = "identical to shipyard in one process" if same else "DIFFERS from shipyard in one process"
            print(f"| historical {n:,} rows | {label} | {r['seconds']:.2f} | {r['peak_mb']:.0f} | {note} |", flush=True)
    for side, python, version in sides if "materialize" in args.tasks else []:
        if side == "shipyard-dask":  # materialization runs in one process
            continue
        label = f"{side} {version}".strip()
        r = _run(side, python, "materialize", args, [])
        if "error" in r:
            secs, mb = _stopped(r)
            print(f"| materialize {args.materialize_rows:,} rows + online | {label} | {secs} | {mb} | {r['error']} |")
            continue
        print(f"| materialize {args.materialize_rows:,} rows | {label} | {r['seconds']:.2f} | {r['peak_mb']:.0f} | |")
        print(f"| online 100 entities x 10 features, {args.lookups:,} lookups | {label} | p50 {r['p50_ms']:.2f} ms, "
              f"p99 {r['p99_ms']:.2f} ms | | CPU time p50 {r['cpu_p50_ms']:.2f} ms, p99 {r['cpu_p99_ms']:.2f} ms; "
              f"{r['found_of_100']}/100 found in the last lookup |", flush=True)
        h = r.get("http")
        if isinstance(h, dict):
            server = "shipyard server" if side == "shipyard" else "feast serve"
            print(f"| online over HTTP ({server}), {args.lookups:,} lookups | {label} | p50 {h['p50_ms']:.2f} ms, "
                  f"p99 {h['p99_ms']:.2f} ms | | client CPU time p50 {h['cpu_p50_ms']:.2f} ms; "
                  f"{h['found_of_100']}/100 found in the last lookup |", flush=True)


if __name__ == "__main__":
    main()
