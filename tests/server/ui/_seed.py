"""A store with real data for the UI tests: ``python -m tests.server.ui._seed DIR`` (a subprocess, so the
demo's environment changes stay out of the test process).

1. ``shipyard demo`` (no server): the rainfall model v1 trained and deployed, the replayed traffic,
   the monitor's windows with drift and alerts, the retrained v2 promoted by a canary and the bad v3
   rolled back: experiments, runs, model versions, aliases, deployment revisions, rollouts, policy
   events, monitor results and alerts, all real.
2. A ``sweep`` experiment: four runs with params and metric histories over 200 steps (one with a
   100,000-point history, for the chart's downsampling), tags; the first also logs a dataset input
   (rainfall rows), artifacts of every previewable kind and a model registered as ``sweep-model``.
3. A pipeline run with a failing task (logs, traceback, a skipped task downstream).
"""

from __future__ import annotations

import json
import math
import struct
import sys
import time
import zlib
from pathlib import Path

import numpy as np

LONG_POINTS = 100_000
SWEEP = [("0.1", "3", "forest"), ("0.1", "5", "forest"), ("0.01", "3", "boosting"), ("0.3", "8", "boosting")]
EVIL = "<script>window.__xss = 1</script>"


def png(width: int = 32, height: int = 16) -> bytes:
    """A small gradient PNG, written by hand (no imaging library in the test dependencies)."""
    rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in (x * 8 % 256, y * 16 % 256, 160))
                    for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def sweep() -> None:
    import shipyard
    from shipyard.datasets import RAINFALL_FEATURES, load_rainfall
    from shipyard.entities import Metric

    shipyard.set_experiment("sweep")
    data = load_rainfall()
    columns = {c: np.asarray(data[c])[:2000] for c in RAINFALL_FEATURES}
    client = shipyard.Client()
    for i, (lr, depth, model) in enumerate(SWEEP):
        with shipyard.start_run(run_name=f"sweep-{i}") as run:
            shipyard.log_params({"lr": lr, "depth": depth, "model": model, "note": EVIL if i == 0 else "plain"})
            shipyard.set_tags({"team": "rain", "stage": "dev"})
            now = int(time.time() * 1000)
            rate = float(lr)
            points = [Metric("loss", math.exp(-rate * s / 20) + 0.05 * (i + 1), now + s, s) for s in range(200)]
            points += [Metric("accuracy", 0.5 + 0.4 * (1 - math.exp(-rate * s / 20)) - 0.02 * i, now + s, s)
                       for s in range(200)]
            client.log_batch(run.info.run_id, metrics=points)
            if i == 0:
                shipyard.log_input(columns, name="rainfall-2000", targets=np.asarray(data["rain"])[:2000])
                for start in range(0, LONG_POINTS, 20_000):
                    client.log_batch(run.info.run_id, metrics=[
                        Metric("long", math.sin(s / 500) + (5.0 if s == 77_777 else 0.0), now + s, s)
                        for s in range(start, start + 20_000)])
                shipyard.log_text("epoch 1 done\nepoch 2 done\n" + EVIL + "\n", "logs/train.txt")
                shipyard.log_dict({"lr": rate, "layers": [8, 4], "note": EVIL}, "config.json")
                csv = "day,temperature,rain\n" + "".join(f"{d},{10 + d % 7},{d % 2}\n" for d in range(300))
                shipyard.log_text(csv, "data/sample.csv")
                client.log_bytes(run.info.run_id, png(), "plots/curve.png")
                client.log_bytes(run.info.run_id, bytes(range(256)) * 4, "blob.bin")
                log_sweep_model(columns, np.asarray(data["rain"])[:2000])


def log_sweep_model(columns: dict[str, np.ndarray], y: np.ndarray) -> None:
    """A model logged by the run that logged the dataset: its version's lineage reaches the data."""
    from sklearn.linear_model import LogisticRegression

    import shipyard.sklearn

    X = np.column_stack(list(columns.values()))
    fitted = LogisticRegression(max_iter=500).fit(X, y)
    shipyard.sklearn.log_model(fitted, "model", registered_model_name="sweep-model",
                               input_example={c: X[:2, j].tolist() for j, c in enumerate(columns)})


def pipelines() -> None:
    from shipyard import pipeline, task

    @task
    def extract(rows: int) -> list[int]:
        print(f"extracted {rows} rows")
        return list(range(rows))

    @task
    def validate(values: list[int]) -> list[int]:
        print("checking", len(values), "values")
        raise ValueError("3 rows have no label")

    @task
    def train(values: list[int]) -> int:
        return sum(values)

    @task
    def report(values: list[int]) -> int:
        print("report written")
        return len(values)

    @pipeline(name="rain-retrain")
    def retrain(rows: int = 10) -> None:
        values = extract(rows)
        train(validate(values))
        report(values)

    retrain.run(rows=12)


def main(home: str) -> None:
    from shipyard._demo import run_demo

    run_demo(Path(home), say=lambda text: None)
    sweep()
    pipelines()
    import shipyard

    shipyard.flush()
    (Path(home) / "seeded.json").write_text(json.dumps({"ok": True}))


if __name__ == "__main__":
    main(sys.argv[1])
