"""What ``benchmarks/serving.py`` runs: the models it trains and the servers it starts, as source text.

Each build script runs in the environment of the server it feeds (shipyard's dev venv, MLflow's or
BentoML's own venv), on the same seeded data, so every server answers for the same models.
"""

from __future__ import annotations

# Runs in any of the environments: the same seeded data and models (fitted on NumPy arrays).
TRAIN = """
import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

X, y = make_classification(n_samples=5000, n_features=20, n_informative=10, random_state=7)
FEATURES = [f"f{i}" for i in range(20)]
MAKE = {"lr": lambda: LogisticRegression(max_iter=1000),
        "rf": lambda: RandomForestClassifier(n_estimators=100, random_state=7, n_jobs=1)}
MODELS = {name: make().fit(X, y) for name, make in MAKE.items()}
"""

# The benchmark's own models (NumPy-fitted, logged with an input example) as deployments ``lr`` and
# ``rf``; and the README's way -- fitted on a pandas DataFrame -- logged three ways, as deployments
# ``lr-df-training`` (training_data only), ``lr-df-example`` (an input example), ``lr-df-signature``
# (an explicit signature), the same for ``rf``.
SHIPYARD_BUILD = TRAIN + """
import pandas as pd
import shipyard, shipyard.sklearn
from shipyard.models import infer_signature

client = shipyard.Client()
example = {f: X[:3, i].tolist() for i, f in enumerate(FEATURES)}
frame = pd.DataFrame(X, columns=FEATURES)
for name, model in MODELS.items():
    with shipyard.start_run():
        shipyard.sklearn.log_model(model, "model", registered_model_name=name, input_example=example)
    client.create_deployment(name, routes=[{"model": name, "version": 1}])
    fitted = MAKE[name]().fit(frame, y)
    ways = {"training": {"training_data": frame}, "example": {"input_example": frame.head(3)},
            "signature": {"signature": infer_signature(frame.head(3), fitted.predict(frame.head(3)))}}
    for way, kwargs in ways.items():
        model_name = f"{name}-df-{way}"
        with shipyard.start_run():
            shipyard.sklearn.log_model(fitted, "model", registered_model_name=model_name, **kwargs)
        client.create_deployment(model_name, routes=[{"model": model_name, "version": 1}])
"""

# The deep-learning rows, on the same data: a PyTorch MLP (20 -> 64 -> 64 -> 2, softmax) and the
# ``lr`` model converted to ONNX with shipyard.onnx.from_sklearn. Trained and converted once, here, in
# shipyard's environment; the weights (``mlp.pt``, a state dict) and the graph (``onnx.onnx``) go to
# ``sys.argv[1]`` so BentoML serves exactly the same models. Deployments ``mlp`` and ``onnx``.
MLP_NET = """
import torch
def make_mlp():
    return torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
                               torch.nn.Linear(64, 2), torch.nn.Softmax(dim=1))
"""

TENSOR_BUILD = TRAIN + MLP_NET + """
import sys
import shipyard, shipyard.onnx, shipyard.pytorch

torch.set_num_threads(1)  # training a small net on 2 busy cores: one thread wastes nothing
torch.manual_seed(7)
net = make_mlp()
inputs, targets = torch.from_numpy(X.astype("float32")), torch.from_numpy(y)
optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
for _ in range(200):
    optimizer.zero_grad()
    loss = torch.nn.functional.nll_loss(torch.log(net(inputs) + 1e-7), targets)
    loss.backward()
    optimizer.step()
net.eval()
torch.save(net.state_dict(), f"{sys.argv[1]}/mlp.pt")
proto = shipyard.onnx.from_sklearn(MODELS["lr"], X)
with open(f"{sys.argv[1]}/onnx.onnx", "wb") as fh:
    fh.write(proto.SerializeToString())

client = shipyard.Client()
example = {f: X[:3, i].tolist() for i, f in enumerate(FEATURES)}
with shipyard.start_run():
    shipyard.pytorch.log_model(net, "model", input_example=example, classes=[0, 1], registered_model_name="mlp")
    shipyard.onnx.log_model(proto, "onnx", input_example=example, registered_model_name="onnx")
for name in ("mlp", "onnx"):
    client.create_deployment(name, routes=[{"model": name, "version": 1}])
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

# BentoML's production settings for a CPU model with adaptive batching, as its docs give them:
# ``workers`` processes (here the same number as shipyard's), ``batchable`` with a batch size cap,
# ``traffic.concurrency`` set to the batch size ("if your Service supports adaptive batching, set
# concurrency to match the batch size"), and the access log off as shipyard's is.
BENTOML_SERVICE = '''"""The benchmark's BentoML service: a pickled scikit-learn classifier, JSON records in."""
import os
import pickle

import bentoml
import numpy as np

FEATURES = [f"f{i}" for i in range(20)]


@bentoml.service(workers=int(os.environ.get("SHIPYARD_BENCH_WORKERS", "1")),
                 traffic={"timeout": 30, "concurrency": 64}, logging={"access": {"enabled": False}})
class Model:
    def __init__(self) -> None:
        with open(os.environ["SHIPYARD_BENCH_MODEL"], "rb") as fh:
            self.model = pickle.load(fh)

    @bentoml.api(batchable=True, max_batch_size=64, max_latency_ms=10_000)
    def predict(self, records: list[dict[str, float]]) -> list[dict]:
        X = np.array([[r[f] for f in FEATURES] for r in records], dtype=np.float64)
        proba = self.model.predict_proba(X)
        preds = self.model.classes_[np.argmax(proba, axis=1)]
        return [{"prediction": p, "probabilities": q} for p, q in zip(preds.tolist(), proba.tolist())]
'''

# The same service for the deep-learning rows: the benchmark's MLP (its state dict, run by torch under
# inference_mode) or the ONNX graph (onnxruntime, default session options), by ``SHIPYARD_BENCH_KIND``;
# the same batching and traffic settings as BENTOML_SERVICE. Thread settings are left to BentoML and
# the libraries, as a user would leave them.
BENTOML_TENSOR_SERVICE = '''"""The benchmark's BentoML service for a PyTorch MLP or an ONNX graph, JSON records in."""
import os

import bentoml
import numpy as np

FEATURES = [f"f{i}" for i in range(20)]
KIND, PATH = os.environ["SHIPYARD_BENCH_KIND"], os.environ["SHIPYARD_BENCH_MODEL"]
''' + MLP_NET + '''

@bentoml.service(workers=int(os.environ.get("SHIPYARD_BENCH_WORKERS", "1")),
                 traffic={"timeout": 30, "concurrency": 64}, logging={"access": {"enabled": False}})
class Model:
    def __init__(self) -> None:
        if KIND == "torch":
            self.net = make_mlp()
            self.net.load_state_dict(torch.load(PATH))
            self.net.eval()
        else:
            import onnxruntime as ort
            self.session = ort.InferenceSession(PATH, providers=["CPUExecutionProvider"])
            self.input = self.session.get_inputs()[0].name

    @bentoml.api(batchable=True, max_batch_size=64, max_latency_ms=10_000)
    def predict(self, records: list[dict[str, float]]) -> list[dict]:
        X = np.array([[r[f] for f in FEATURES] for r in records], dtype=np.float32)
        if KIND == "torch":
            with torch.inference_mode():
                proba = self.net(torch.from_numpy(X)).numpy()
        else:
            proba = self.session.run(None, {self.input: X})[1]
        preds = np.argmax(proba, axis=1)
        return [{"prediction": p, "probabilities": q} for p, q in zip(preds.tolist(), proba.tolist())]
'''

# The ceiling of shipyard's stack: the same server (uvicorn with uvloop and httptools, access log
# and Server header off, the same SO_REUSEPORT + TCP_NODELAY sockets, N processes on one port), an
# ASGI app that reads the whole body and answers the bytes shipyard answered for that model, with
# the same headers -- no parsing, no model, no log. ``python -c NOOP_SERVER PORT WORKERS BODIES.json``.
NOOP_SERVER = """
import os, sys
import orjson, uvicorn
from shipyard.serving._workers import bind_socket

port, workers, bodies_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
with open(bodies_file, "rb") as fh:
    BODIES = {path: body.encode() for path, body in orjson.loads(fh.read()).items()}
READY = b'{"ready":true}'


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    body = BODIES.get(scope["path"], READY)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


for _ in range(workers - 1):  # N processes, as shipyard's supervisor runs N workers
    if os.fork() == 0:
        break
sock = bind_socket("127.0.0.1", port, reuse_port=workers > 1)
config = uvicorn.Config(app, lifespan="on", log_level="warning", loop="uvloop", http="httptools",
                        access_log=False, server_header=False)
uvicorn.Server(config).run(sockets=[sock])
"""

# The models' own side of serving, in process (no HTTP, no load generator, so far less noise than
# a wrk point): per set-up, the fastest of 7 interleaved rounds (the least disturbed, as timeit
# takes it) of what the app does per request
# (check and convert one record) and per call (predict_proba on 1 row, and on 64 prepared rows
# stacked). ``python -c FASTPATH_PROBE NAME...`` in the environment of the shipyard build.
FASTPATH_PROBE = """
import sys, time
import numpy as np
import shipyard
from shipyard.serving.batcher import concat_inputs

names = sys.argv[1:]
rng = np.random.default_rng(1)
records = [{f"f{i}": float(v) for i, v in enumerate(rng.normal(size=20))} for _ in range(64)]
models = {n: shipyard.load_model(f"models:/{n}/1") for n in names}
times = {n: {"prepare": [], "call1": [], "call64": []} for n in names}
def timed(fn, n):
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


for _ in range(7):
    for n, m in models.items():
        times[n]["prepare"].append(timed(lambda: [m.prepare([r]) for r in records], 1) / 64)
        one = m.prepare([records[0]])
        times[n]["call1"].append(timed(lambda: m.predict_proba(one), 20))
        batch = concat_inputs([m.prepare([r]) for r in records])
        times[n]["call64"].append(timed(lambda: m.predict_proba(batch), 5))
for n, m in models.items():
    med = {k: 1e6 * min(v) for k, v in times[n].items()}
    print(f"{n}\\t{m.input_mode}\\t{med['prepare']:.1f}\\t{med['call1']:.1f}\\t{med['call64']:.1f}")
"""
