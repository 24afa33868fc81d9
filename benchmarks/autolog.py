"""Autolog overhead on a 100-fit grid search: shipyard.autolog() vs mlflow.autolog(), side by side.

A ``GridSearchCV`` of ``LogisticRegression`` over 20 values of C with 5 folds (100 fits, plus the
refit) on a 2,000 x 20 frame, timed in a fresh interpreter per tool: without autolog (the bare
fit), then with each tool's autolog on (defaults: params, training metrics, model, child runs for
the 5 best candidates), each into a fresh SQLite store. The overhead is the time autolog adds to
the bare fit of the same interpreter. MLflow 3.17 runs in its own venv (benchmarks/_peer.py).

    python benchmarks/autolog.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _peer import ensure_peer, version_of

CHILD = r"""
import sys, time
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

tool, store, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = np.random.default_rng(0)
X = pd.DataFrame(rng.normal(size=(2000, 20)), columns=[f"f{i}" for i in range(20)])
y = (X.f0 + X.f1 * 0.5 + rng.normal(size=2000) > 0).astype(int)
grid = {"C": list(np.logspace(-3, 2, 20))}

def search():
    GridSearchCV(LogisticRegression(max_iter=300), grid, cv=5).fit(X, y)

if tool == "mlflow":
    import mlflow
    mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
    on = mlflow.autolog
else:
    import shipyard
    shipyard.set_tracking_uri(f"sqlite:///{store}/shipyard.db")
    on = shipyard.autolog
on()
search()  # warm: imports, store creation, the first model save
bare, logged = [], []
for _ in range(repeats):  # alternate, so a change of machine load hits both columns alike
    on(disable=True)
    t = time.perf_counter(); search(); bare.append(time.perf_counter() - t)
    on()
    t = time.perf_counter(); search(); logged.append(time.perf_counter() - t)
print(" ".join(f"{v:.4f}" for v in bare), "|", " ".join(f"{v:.4f}" for v in logged))
"""


def measure(python: Path, tool: str, repeats: int, env: dict[str, str]) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as store:
        out = subprocess.run([str(python), "-c", CHILD, tool, store, str(repeats)], check=True, capture_output=True,
                             text=True, env={**env, "SHIPYARD_HOME": store}, cwd=store).stdout.strip().splitlines()[-1]
    bare, logged = (list(map(float, part.split())) for part in out.split("|"))
    return statistics.median(bare), statistics.median(logged)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-mlflow", action="store_true")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPYARD_", "MLFLOW_"))}
    rows = [("shipyard", *measure(Path(sys.executable), "shipyard", args.repeats, env))]
    if not args.no_mlflow:
        peer = ensure_peer("mlflow", ["mlflow==3.17.*", "scikit-learn"], ["mlflow", "sklearn"])
        rows.append((f"MLflow {version_of(peer, 'mlflow')}", *measure(peer, "mlflow", args.repeats,
                                                                       {**env, "PYTHONPATH": ""})))
    print(f"100-fit GridSearchCV, median of {args.repeats}; load {os.getloadavg()[0]:.1f}")
    print("| tool | bare fit s | with autolog s | overhead s | overhead % |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, bare, logged in rows:
        print(f"| {name} | {bare:.2f} | {logged:.2f} | {logged - bare:.2f} | {100 * (logged - bare) / bare:.0f} % |")


if __name__ == "__main__":
    main()
