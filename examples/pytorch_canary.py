"""A PyTorch model through the whole loop: train, log, register, serve, feedback, canary rollout.

    python examples/pytorch_canary.py          # about 15-30 s on 2 shared cores

1. Train a small MLP on rainfall rows 0-6,000 (NOAA daily weather, drift injected from row 12,000;
   see src/shipyard/_data/ATTRIBUTION.md), log it with ``shipyard.pytorch.log_model`` (exported with
   torch.export; the input example fixes the input, ``training_data`` gives monitors their reference,
   ``classes`` makes it a classifier with probabilities), register it as ``champion`` and deploy it.
2. Serve the deployment over HTTP on 127.0.0.1 (the same app ``shipyard serve`` runs, in a thread
   here) and replay rows 10,000-14,000 as traffic, the ground truth sent back as feedback: the AUC
   collapses after the drift at row 12,000.
3. Train v2 on the labeled rows since the drift, read back from the prediction log, and roll it out
   with the canary machinery the scikit-learn demo's policy uses (``start_rollout`` /
   ``advance_rollout``: 25 % -> 100 %, each step judged on roc_auc from feedback against the
   champion): it is promoted.
4. Roll out a bad v3 (trained on inverted labels) the same way: the canary rolls it back.

Everything lands in ./.shipyard (or $SHIPYARD_HOME): see it afterwards with `shipyard models show
rain-mlp` and `shipyard deployments show rain-mlp-api`.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import numpy as np
import torch

import shipyard
import shipyard.pytorch
from shipyard.automation import RolloutPlan, advance_rollout, start_rollout
from shipyard.datasets import RAINFALL_FEATURES, load_rainfall
from shipyard.serving import PredictionLogger, ServingSettings, create_app, read_prediction_log

MODEL, DEPLOYMENT = "rain-mlp", "rain-mlp-api"
REQUEST_ROWS = 20
# The replay is faster than real traffic, so the canary is paced by rows rather than a dwell: a step
# is judged once the candidate answered 100 rows with 40 labeled. It judges quality (roc_auc from
# feedback, at most 0.02 worse than the champion); the latency ratio is left wide because on a
# shared 2-core machine one scheduler hiccup in a step's few requests decides a p99.
CANARY = RolloutPlan(steps=(25.0, 100.0), dwell=0, metric="roc_auc", min_rows=100, min_labeled=40,
                     max_latency_ratio=1000.0)

# One thread: the model is tiny (8 -> 32 -> 1), a forward pass of 64 rows takes microseconds, and a
# server answering requests in parallel does better with each pass on one core than with a pool per
# call competing for two cores (torch starts one thread per core by default).
torch.set_num_threads(1)


def train_mlp(X: np.ndarray, y: np.ndarray, *, epochs: int = 300, seed: int = 0) -> torch.nn.Module:
    """A sigmoid-ended MLP fitted full-batch with Adam (a few seconds at most for 6,000 rows)."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 32), torch.nn.ReLU(), torch.nn.Linear(32, 1),
                              torch.nn.Sigmoid())
    inputs, targets = torch.from_numpy(X.astype(np.float32)), torch.from_numpy(y.astype(np.float32))[:, None]
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy(net(inputs), targets)
        loss.backward()
        optimizer.step()
    shipyard.log_metric("train_log_loss", loss.item())
    return net.eval()


def log_and_register(X: np.ndarray, y: np.ndarray, run_name: str) -> int:
    """Train in a tracked run, log the model with its training profile and register it; its version."""
    with shipyard.start_run(run_name=run_name):
        shipyard.log_params({"rows": len(y), "hidden": 32, "epochs": 300})
        net = train_mlp(X, y)
        columns = {name: X[:, i] for i, name in enumerate(RAINFALL_FEATURES)}
        info = shipyard.pytorch.log_model(
            net, "model", input_example={n: v[:5] for n, v in columns.items()}, training_data=columns,
            classes=[0, 1], registered_model_name=MODEL)
    return int(info.registered_model_version)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(client: shipyard.Client) -> Iterator[tuple[httpx.Client, Any]]:
    """The serving app under uvicorn on 127.0.0.1 (what `shipyard serve rain-mlp-api` runs), with the
    prediction log on; yields an HTTP client for it and the app."""
    import uvicorn

    logger = PredictionLogger(f"{client.store.artifact_root}/prediction-logs", replica_id="example")
    app = create_app(client.store, deployments=[DEPLOYMENT], settings=ServingSettings(poll_interval_s=0.5),
                     prediction_logger=logger)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the serving endpoint did not start")
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield http, app
    finally:
        server.should_exit = True
        thread.join(15)


def send(http: httpx.Client, X: np.ndarray, y: np.ndarray, start: int) -> tuple[list[int], list[float]]:
    """One request of REQUEST_ROWS rows from ``start``, then its ground truth as feedback; returns the
    versions that answered and the probabilities of rain."""
    rows = slice(start, start + REQUEST_ROWS)
    body = {"columns": {n: X[rows, i].tolist() for i, n in enumerate(RAINFALL_FEATURES)}}
    answer = http.post(f"/v1/deployments/{DEPLOYMENT}/predict", json=body).raise_for_status().json()
    feedback = [{"request_id": i, "label": int(v)} for i, v in zip(answer["request_ids"], y[rows], strict=True)]
    http.post(f"/v1/deployments/{DEPLOYMENT}/feedback", json={"feedback": feedback}).raise_for_status()
    return [answer["version"]] * REQUEST_ROWS, [p[1] for p in answer["probabilities"]]


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by ranks (the Mann-Whitney statistic); ties count a half."""
    from scipy.stats import rankdata

    pos = labels == 1
    ranks = rankdata(scores)
    return float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum()))


def canary(client: shipyard.Client, http: httpx.Client, app: Any, X: np.ndarray, y: np.ndarray,
           version: int, start: int, why: str) -> int:
    """Roll ``version`` out with CANARY on traffic from row ``start`` until it is promoted or rolled
    back (the canary's verdict printed); returns the next row to send."""
    rollout = start_rollout(client, DEPLOYMENT, MODEL, version, CANARY, reason=why)
    app.runtime.refresh()  # the new split now (the endpoint also polls the store every 0.5 s)
    print(f"\ncanary: {MODEL} v{version} gets {rollout.percent:g}% of the traffic ({why})")
    seen = len(client.store.list_policy_events(deployment=DEPLOYMENT, max_results=10_000))
    row = start
    while rollout.state == "RUNNING":
        if row + REQUEST_ROWS > len(y):
            raise RuntimeError("the canary ran out of traffic before its verdict")
        for _ in range(10):
            send(http, X, y, row)
            row += REQUEST_ROWS
        app.prediction_logger.flush()  # the analysis reads the prediction log, feedback joined
        rollout = advance_rollout(client, rollout)
        app.runtime.refresh()
        events = client.store.list_policy_events(deployment=DEPLOYMENT, max_results=10_000)
        for event in reversed(events[: len(events) - seen]):
            print(f"  {event.kind}: {event.message}{_numbers(event.data.get('analysis'))}")
        seen = len(events)
    champion = client.get_model_version_by_alias(MODEL, "champion").version
    verdict = "PROMOTED" if rollout.state == "PROMOTED" else "ROLLED BACK"
    print(f"verdict: v{version} {verdict} after rows {start:,}-{row:,}; champion is v{champion}")
    return row


def _numbers(analysis: dict[str, Any] | None) -> str:
    """What a step was judged on: each side's roc_auc over its labeled rows."""
    if not analysis or analysis.get("stable") is None:
        return ""
    cand, stable = analysis["candidate"], analysis["stable"]
    if cand["metric"] is None or stable["metric"] is None:
        return ""
    return (f" (candidate roc_auc {cand['metric']:.2f} on {cand['labeled']} labeled rows, "
            f"champion {stable['metric']:.2f} on {stable['labeled']})")


def main() -> None:
    started = time.perf_counter()
    data = load_rainfall()
    X = np.column_stack([data[n] for n in RAINFALL_FEATURES]).astype(np.float64)
    y = np.asarray(data["rain"], dtype=int)
    shipyard.set_experiment("rainfall-pytorch")
    client = shipyard.Client()
    print(f"store: {shipyard.get_tracking_uri()}")

    v1 = log_and_register(X[:6000], y[:6000], "mlp on rows 0-6,000")
    client.set_registered_model_alias(MODEL, "champion", v1, reason="example: first model")
    client.create_deployment(DEPLOYMENT, routes=[{"model": MODEL, "alias": "champion"}], reason="example")
    print(f"trained {MODEL} v{v1} (PyTorch MLP) on rows 0-6,000, registered as champion, deployed as {DEPLOYMENT}")

    with serve(client) as (http, app):
        print(f"serving {DEPLOYMENT} at {http.base_url}; rows 10,000-14,000 as traffic, feedback after each request")
        for window in range(10_000, 14_000, 1000):
            scores = [p for start in range(window, window + 1000, REQUEST_ROWS) for p in send(http, X, y, start)[1]]
            value = auc(y[window:window + 1000], np.array(scores))
            print(f"  rows {window:,}-{window + 1000:,}: v{v1} AUC {value:.2f}")
        app.prediction_logger.flush()

        # retrain on what production saw since the drift: the logged features and their feedback
        table = read_prediction_log(DEPLOYMENT, with_feedback=True)
        table = table.filter(table["label"].is_valid())
        features = np.column_stack([table[f"feature.{n}"].to_numpy() for n in RAINFALL_FEATURES])
        since_drift = slice(-2000, None)  # the last 2,000 labeled rows: 12,000-14,000
        v2 = log_and_register(features[since_drift], table["label"].to_numpy()[since_drift].astype(int),
                              "mlp on logged rows 12,000-14,000")
        row = canary(client, http, app, X, y, v2, 14_000, "retrained after the drift")

        v3 = log_and_register(X[12_000:14_000], 1 - y[12_000:14_000], "a bad candidate (inverted labels)")
        canary(client, http, app, X, y, v3, row, "a bad candidate, trained on inverted labels")
    print(f"\ndone in {time.perf_counter() - started:.0f} s; next: `shipyard models show {MODEL}`, "
          f"`shipyard deployments show {DEPLOYMENT}`")


if __name__ == "__main__":
    main()
