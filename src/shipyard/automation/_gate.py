"""The gate: a candidate model version against the champion on the same held-out data.

Like TFX's blessing: absolute bounds (``minimums``/``maximums``) that any model must meet, and a
change against the baseline on one ``metric`` in that metric's direction (the candidate must beat
the champion by ``min_delta``). With no champion yet only the absolute bounds apply. Every
evaluation is a tracking run in experiment ``shipyard-gates`` holding both models' numbers
(``candidate.<metric>``, ``champion.<metric>``) and the verdict, so a gate decision can always be
looked up later.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.errors import InvalidInput, NotFound
from shipyard.monitoring._messages import passes, show
from shipyard.monitoring._metrics import CLASSIFICATION_METRICS, HIGHER_IS_BETTER, REGRESSION_METRICS, performance

if TYPE_CHECKING:
    from shipyard.registry.client import RegistryClient

__all__ = ["GATE_EXPERIMENT", "Gate", "GateResult", "evaluate_gate"]

GATE_EXPERIMENT = "shipyard-gates"
_METRICS = CLASSIFICATION_METRICS + REGRESSION_METRICS


class Gate:
    """``Gate(metric="roc_auc", min_delta=0.01, minimums={"accuracy": 0.7})``.

    Keyword-only settings, stored as given (``get_params`` rebuilds the gate exactly):

    - ``metric``: compared with the champion's on the same data, in its direction (higher is better
      for accuracy, precision, recall, F1, ROC AUC, R²; lower for log loss, MAE, RMSE, MAPE).
    - ``min_delta``: how much better the candidate must be (0: at least as good).
    - ``minimums`` / ``maximums``: absolute bounds on any metric, champion or not.
    """

    def __init__(self, *, metric: str = "roc_auc", min_delta: float = 0.0, minimums: dict[str, float] | None = None,
                 maximums: dict[str, float] | None = None) -> None:
        self.metric, self.min_delta = metric, min_delta
        self.minimums, self.maximums = dict(minimums or {}), dict(maximums or {})
        for name in [metric, *self.minimums, *self.maximums]:
            if name not in _METRICS:
                raise InvalidInput(f"gate: unknown metric {name!r} (known: {', '.join(_METRICS)})")
        if not isinstance(min_delta, int | float) or isinstance(min_delta, bool):
            raise InvalidInput(f"gate: min_delta must be a number, got {min_delta!r}")

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in inspect.signature(type(self).__init__).parameters
                if name != "self"}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | Gate | None) -> Gate:
        if d is None:
            return cls()
        if isinstance(d, Gate):
            return d
        unknown = set(d) - {"metric", "min_delta", "minimums", "maximums"}
        if unknown:
            raise InvalidInput(f"gate: unknown setting(s) {', '.join(sorted(unknown))}")
        return cls(**d)

    def __repr__(self) -> str:
        return f"Gate({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"


@dataclass
class GateResult:
    """The verdict with both models' numbers; ``reasons`` says what failed (empty when it passed)."""

    passed: bool
    model: str
    candidate_version: int
    champion_version: int | None
    candidate: dict[str, float]
    champion: dict[str, float] | None
    reasons: list[str] = field(default_factory=list)
    run_id: str | None = None
    rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "model": self.model, "candidate_version": self.candidate_version,
                "champion_version": self.champion_version, "candidate": self.candidate, "champion": self.champion,
                "reasons": self.reasons, "run_id": self.run_id, "rows": self.rows}

    def summary(self, metric: str | None = None) -> str:
        verdict = "passed" if self.passed else "rejected: " + "; ".join(self.reasons)
        if metric and metric in self.candidate:
            numbers = f"{metric} {self.candidate[metric]:.3f}"
            if self.champion and metric in self.champion:
                numbers += f" vs champion v{self.champion_version} {self.champion[metric]:.3f}"
            return f"gate {verdict} ({numbers}, {self.rows} held-out rows)"
        return f"gate {verdict}"


def _scores(client: RegistryClient, model: str, version: int, X: Any, y: np.ndarray) -> dict[str, float]:
    from shipyard.models._log import load_model

    loaded = load_model(f"models:/{model}/{version}", client=client)
    preds = np.asarray(loaded.predict(X))
    proba = np.asarray(loaded.predict_proba(X)) if loaded.has_predict_proba else None
    return performance(y, preds, proba)


def _better(metric: str, candidate: float, champion: float, delta: float) -> bool:
    if metric in HIGHER_IS_BETTER:
        return candidate >= champion + delta
    return candidate <= champion - delta


def evaluate_gate(gate: Gate, client: RegistryClient, model: str, candidate_version: int, X: Any, y: Any, *,
                  against: str = "champion", context: dict[str, Any] | None = None) -> GateResult:
    """Evaluate ``model`` version ``candidate_version`` against the version holding alias
    ``against`` on (X, y), record it as a tracking run, and return the verdict."""
    y = np.asarray(y)
    try:
        champion_version: int | None = int(client.get_model_version_by_alias(model, against).version)
    except NotFound:
        champion_version = None
    if champion_version == int(candidate_version):
        champion_version = None  # a version is not gated against itself
    candidate = _scores(client, model, candidate_version, X, y)
    champion = _scores(client, model, champion_version, X, y) if champion_version is not None else None
    reasons = []
    for name, bound in gate.minimums.items():
        value = candidate.get(name)
        if value is None or not passes("min", value, bound):
            reasons.append(f"{name} {show(value, bound)} < minimum {show(bound, value)}")
    for name, bound in gate.maximums.items():
        value = candidate.get(name)
        if value is None or not passes("max", value, bound):
            reasons.append(f"{name} {show(value, bound)} > maximum {show(bound, value)}")
    if champion is not None:
        cand, champ = candidate.get(gate.metric), champion.get(gate.metric)
        if cand is None or champ is None:
            reasons.append(f"{gate.metric} cannot be computed on this data")
        elif not _better(gate.metric, cand, champ, gate.min_delta):
            word = "+" if gate.metric in HIGHER_IS_BETTER else "-"
            reasons.append(f"{gate.metric} {cand:.4g} does not beat champion v{champion_version} "
                           f"{champ:.4g} {word} {gate.min_delta:g}")
    result = GateResult(not reasons, model, int(candidate_version), champion_version, candidate, champion, reasons,
                        rows=len(y))
    result.run_id = _record(client, gate, result, context or {})
    return result


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _record(client: RegistryClient, gate: Gate, result: GateResult, context: dict[str, Any]) -> str:
    from shipyard.entities import Metric, Param, RunStatus

    experiment_id = client.get_or_create_experiment(GATE_EXPERIMENT)
    name = f"{result.model} v{result.candidate_version} vs " + (
        f"v{result.champion_version}" if result.champion_version is not None else "no champion")
    run = client.create_run(experiment_id, run_name=name, tags={
        "shipyard.gate.verdict": "passed" if result.passed else "rejected", "shipyard.gate.model": result.model,
        "shipyard.gate.reasons": "; ".join(result.reasons)[:5000], **{f"shipyard.trigger.{k}": str(v)[:500]
                                                                     for k, v in context.items()}})
    params = [Param("candidate_version", str(result.candidate_version)),
              Param("champion_version", str(result.champion_version)), Param("rows", str(result.rows)),
              *(Param(f"gate.{k}", str(v)) for k, v in gate.get_params().items())]
    now = int(time.time() * 1000)
    metrics = [Metric(f"candidate.{k}", v, now, 0) for k, v in result.candidate.items()]
    metrics += [Metric(f"champion.{k}", v, now, 0) for k, v in (result.champion or {}).items()]
    client.log_batch(run.info.run_id, metrics=metrics, params=params)
    client.set_terminated(run.info.run_id, RunStatus.FINISHED)
    return run.info.run_id
