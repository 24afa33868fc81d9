"""Benchmark: the serving app's own work per request, in instructions (callgrind), without HTTP.

On a shared machine a throughput point moves ±30 % with the neighbours' load, more than most
changes to the request path. Instructions do not: this counts them with ``valgrind --tool=callgrind``
for 64 coroutines calling the ASGI app with one-row ``records`` bodies of the LR model of
``benchmarks/serving.py``, at concurrency 64, as the difference of two runs of different length
(start-up cancels out) divided by the extra requests. Two set-ups:

- ``app``: the model call replaced by a slice of fixed arrays, no prediction log (the app's own work);
- ``real``: the model and the prediction log (its writer thread included).

    python benchmarks/serving_instructions.py            # needs valgrind (apt-get install -y valgrind)

The result is per request, all threads; a whole server over HTTP also runs uvicorn (about 124,000
instructions a request for the no-op endpoint on 2026-12-07, RESULTS-serving.md).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _serving_apps import SHIPYARD_BUILD  # noqa: E402

# Runs under valgrind: SETUP HOME N. Instrumentation is switched on after a warm-up, off after N requests.
DRIVER = """
import asyncio, os, subprocess, sys
setup, home, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.environ["SHIPYARD_HOME"] = home
import numpy as np, uvloop
from shipyard.config import resolve_settings
from shipyard.serving import runtime
from shipyard.serving.app import create_app
from shipyard.serving.predlog import PredictionLogger
from shipyard.serving.server import prediction_log_root
from shipyard.store import open_store

if setup == "app":
    P, Q = np.zeros(64, dtype=np.int64), np.zeros((64, 2))
    runtime.ServedModel._predict = lambda self, data: (P[:len(data)], Q[:len(data)])
settings = resolve_settings(None, None)
log = None if setup == "app" else PredictionLogger(prediction_log_root(settings), wal_dir=os.path.join(home, "wal"))
app = create_app(open_store(settings.store_uri, settings.artifact_uri), deployments=["lr"], prediction_logger=log)
body = open(os.path.join(home, "body.json"), "rb").read()
scope = {"type": "http", "method": "POST", "path": "/v1/deployments/lr/predict",
         "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}
message = {"type": "http.request", "body": body, "more_body": False}

async def receive():
    return message

async def send(_):
    pass

async def client(n):
    for _ in range(n):
        await app(scope, receive, send)

def callgrind(switch):
    subprocess.run(["callgrind_control", "-i", switch, str(os.getpid())], check=True, capture_output=True)

async def main():
    await app.start()
    await asyncio.gather(*(client(50) for _ in range(64)))
    callgrind("on")
    await asyncio.gather(*(client(count // 64) for _ in range(64)))
    callgrind("off")
    os._exit(0)

uvloop.run(main())
"""


def instructions(setup: str, home: Path, count: int, env: dict[str, str]) -> int:
    out = subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=/dev/null",
                          sys.executable, "-c", DRIVER, setup, str(home), str(count)],
                         env=env, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from callgrind:\n{out.stderr[-2000:]}")
    return int(found.group(1))


def main() -> int:
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind is needed: apt-get install -y valgrind", file=sys.stderr)
        return 2
    home = Path(tempfile.mkdtemp(prefix="shipyard-bench-instructions-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_HOME"] = str(home)
    try:
        subprocess.run([sys.executable, "-c", SHIPYARD_BUILD], env=env, check=True, capture_output=True)
        import orjson

        row = {f"f{i}": 0.1 * i - 0.7 for i in range(20)}
        (home / "body.json").write_bytes(orjson.dumps({"records": [row]}))
        print("| set-up | instructions per request |\n| --- | --- |")
        for setup in ("app", "real"):
            short, long = instructions(setup, home, 1600, env), instructions(setup, home, 4800, env)
            print(f"| {setup} | {(long - short) / 3200:,.0f} |", flush=True)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
