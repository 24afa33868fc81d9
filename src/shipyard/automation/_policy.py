"""Retraining policies: trigger -> retrain -> gate against the champion -> progressive rollout.

    policy = Policy("rain-retrain", deployment="rain-api", model="rain", retrain=retrain_on_recent_rows,
                    triggers=[{"monitor": "rain", "checks": ["performance.roc_auc"]}],
                    gate={"metric": "roc_auc", "min_delta": 0.01, "minimums": {"accuracy": 0.7}},
                    rollout={"steps": [10, 50, 100], "dwell": "10m", "metric": "roc_auc"}, cooldown="1h")
    policy.tick(client)        # what the scheduler does every ``check_every``
    policy.trigger(client)     # `shipyard policies trigger rain-retrain`

``retrain`` is a shipyard Pipeline or a callable. A callable gets the trigger context (a dict: what
fired, why, the numbers, the monitor's window) and returns the new version (an int, a ModelVersion,
or a :class:`Candidate` with held-out data). A pipeline gets the context as its ``trigger`` parameter
when it declares one; its candidate is the newest version of ``model`` registered by a tracking run of
that pipeline run's tasks (or, when its tasks closed their own runs, registered while it ran). The
held-out data for the gate comes from the Candidate, else ``holdout(context)``, else what the
candidate's run logged with :func:`log_holdout`.

Every step is a PolicyEvent in the store (``shipyard policies history NAME``). Aliases move only
here: ``challenger`` when the gate passes, ``champion`` and ``previous`` when the rollout promotes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard.automation._gate import Gate, GateResult, evaluate_gate
from shipyard.automation._holdout import load_holdout
from shipyard.automation._rollout import RolloutPlan, advance_rollout, start_rollout
from shipyard.automation._triggers import Trigger, parse_trigger
from shipyard.entities import PolicyEvent
from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.monitoring._spec import parse_window
from shipyard.store import validation as v

if TYPE_CHECKING:
    from shipyard.entities import Rollout
    from shipyard.registry.client import RegistryClient

__all__ = ["Candidate", "Outcome", "Policy"]

logger = logging.getLogger("shipyard.automation")


@dataclass
class Candidate:
    """What a retraining produced: a registered version, and optionally its held-out (X, y)."""

    version: int
    holdout: tuple[Any, Any] | None = None


@dataclass
class Outcome:
    """How one trigger ended: "rolling_out", "rejected" (by the gate), "failed" (the retraining),
    "skipped" (cool-down, same incident, rollout in progress), "held" (passed the gate, but the
    deployment has a manual canary a rollout would drop) or "advanced" (a rollout tick)."""

    state: str
    message: str
    candidate_version: int | None = None
    gate: GateResult | None = None
    rollout: Rollout | None = None


def _seconds(value: Any, what: str) -> int:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    window = parse_window(value)
    if "seconds" not in window:
        raise InvalidInput(f"{what} must be a time span such as '1h', got {value!r}")
    return window["seconds"]


class Policy:
    """A deployment's retraining policy (see the module docstring)."""

    def __init__(self, name: str, *, deployment: str, model: str, retrain: Any,
                 triggers: list[Any] | tuple[Any, ...] = (), gate: Gate | dict[str, Any] | None = None,
                 rollout: RolloutPlan | dict[str, Any] | None = None, cooldown: Any = "1h",
                 holdout: Callable[[dict[str, Any]], tuple[Any, Any]] | None = None,
                 check_every: str = "every 30s", description: str = "") -> None:
        v.check_model_name(name)
        if retrain is None or not callable(retrain):
            raise InvalidInput(f"policy {name!r}: retrain must be a pipeline or a callable, got {retrain!r}")
        self.name, self.deployment, self.model, self.retrain = name, deployment, model, retrain
        self.triggers: list[Trigger] = [parse_trigger(t) for t in triggers]
        self.gate = Gate.from_dict(gate)
        self.rollout = RolloutPlan.from_dict(rollout)
        self.cooldown_s = _seconds(cooldown, "cooldown")
        self.holdout, self.check_every, self.description = holdout, check_every, description
        self.created_ms: int | None = None

    def describe(self) -> dict[str, Any]:
        """The policy as data, for ``shipyard policies show`` and the UI."""
        retrain = getattr(self.retrain, "name", None) or getattr(self.retrain, "__qualname__", repr(self.retrain))
        return {"name": self.name, "deployment": self.deployment, "model": self.model, "retrain": retrain,
                "triggers": [t.to_dict() for t in self.triggers], "gate": self.gate.get_params(),
                "rollout": {"steps": list(self.rollout.steps), "dwell": self.rollout.dwell,
                            **self.rollout.criteria()},
                "cooldown_s": self.cooldown_s, "check_every": self.check_every, "description": self.description}

    # --- the loop ---------------------------------------------------------------------------------

    def _event(self, client: RegistryClient, kind: str, message: str, **data: Any) -> None:
        client.store.add_policy_event(PolicyEvent(self.name, self.deployment, kind, message, data))
        logger.info("policy %s: %s", self.name, message)

    def tick(self, client: RegistryClient, *, now: int | None = None, root: str | None = None,
             executor: Any = None) -> Outcome | None:
        """Advance a rollout in progress, or check the triggers and act on the first that fires.
        ``executor``: where a retraining pipeline runs (unless the pipeline names its own)."""
        now = int(time.time() * 1000) if now is None else now
        active = client.store.get_active_rollout(self.deployment)
        if active is not None:
            moved = advance_rollout(client, active, now=now, root=root)
            return Outcome("advanced", f"rollout at {moved.percent:g}% ({moved.state})", active.candidate_version,
                           rollout=moved)
        for trigger in self.triggers:
            context = trigger.check(client.store, self, now)
            if context is None:
                continue
            why_not = self._hold(client, context, now)
            if why_not:
                return Outcome("skipped", why_not)
            return self._run(client, context, executor)
        return None

    def _hold(self, client: RegistryClient, context: dict[str, Any], now: int) -> str | None:
        """Why a fired trigger must not start a retraining now (None: go)."""
        last = client.store.list_policy_events(self.name, kinds=["triggered"], max_results=1)
        if not last:
            return None
        if now - last[0].time < self.cooldown_s * 1000:
            return f"cool-down: the last retraining started {(now - last[0].time) / 1000:.0f} s ago"
        if context.get("incident") and context["incident"] == last[0].data.get("incident"):
            return "this incident started a retraining already"
        return None

    def trigger(self, client: RegistryClient, reason: str = "manual", *, executor: Any = None,
                **context: Any) -> Outcome:
        """Retrain now, whatever the triggers and the cool-down say (not while a rollout runs)."""
        if client.store.get_active_rollout(self.deployment) is not None:
            raise Conflict(f"deployment {self.deployment!r} has a rollout in progress; wait for it to finish")
        return self._run(client, {"trigger": "manual", "reason": reason, **context}, executor)

    def _run(self, client: RegistryClient, context: dict[str, Any], executor: Any = None) -> Outcome:
        self._event(client, "triggered", f"triggered by {context.get('trigger')}: {context.get('reason', '')}",
                    **context)
        self._event(client, "training_started", f"retraining with {self.describe()['retrain']}")
        try:
            candidate = self._retrain(client, context, executor)
        except Exception as exc:
            self._event(client, "training_failed", f"retraining failed: {type(exc).__name__}: {exc}",
                        error=f"{type(exc).__name__}: {exc}")
            return Outcome("failed", f"retraining failed: {exc}")
        version = client.get_model_version(self.model, candidate.version)
        self._event(client, "training_finished", f"{self.model} v{version.version} registered",
                    candidate_version=int(version.version), run_id=version.run_id)
        try:
            X, y = candidate.holdout or (self.holdout(context) if self.holdout else
                                        load_holdout(client, _run_id(version)))
            gate = evaluate_gate(self.gate, client, self.model, int(version.version), X, y,
                                 context={"policy": self.name, "trigger": context.get("trigger")})
        except Exception as exc:
            self._event(client, "gate_rejected", f"gate could not evaluate v{version.version}: {exc}",
                        candidate_version=int(version.version), error=str(exc))
            return Outcome("rejected", f"gate could not evaluate: {exc}", int(version.version))
        numbers = gate.to_dict()
        if not gate.passed:
            self._event(client, "gate_rejected", f"v{version.version} {gate.summary(self.gate.metric)}", **numbers)
            return Outcome("rejected", gate.summary(), int(version.version), gate)
        self._event(client, "gate_passed", f"v{version.version} {gate.summary(self.gate.metric)}", **numbers)
        client.set_registered_model_alias(self.model, "challenger", version.version,
                                          reason=f"policy {self.name}: passed the gate (run {gate.run_id})")
        self._event(client, "alias_moved", f"challenger -> v{version.version}", alias="challenger",
                    version=int(version.version))
        try:
            rollout = start_rollout(client, self.deployment, self.model, int(version.version), self.rollout,
                                    policy=self.name, reason=f"policy {self.name}: {context.get('reason', '')}")
        except Conflict as exc:  # a manual canary on the deployment (or a rollout begun meanwhile): an operator's call
            self._event(client, "rollout_refused", f"v{version.version} stays challenger: {exc}",
                        candidate_version=int(version.version), error=str(exc))
            return Outcome("held", f"rollout refused: {exc}", int(version.version), gate)
        return Outcome("rolling_out", f"v{version.version} rolling out", int(version.version), gate, rollout)

    def _retrain(self, client: RegistryClient, context: dict[str, Any], executor: Any = None) -> Candidate:
        from shipyard.pipelines import Pipeline

        if isinstance(self.retrain, Pipeline):
            return self._run_pipeline(client, self.retrain, context, executor)
        produced = self.retrain(context)
        if isinstance(produced, Candidate):
            return produced
        version = getattr(produced, "version", produced)
        if isinstance(version, bool) or not isinstance(version, int | str):
            raise InvalidInput(f"retrain returned {produced!r}: return a version number, a ModelVersion or a "
                               "Candidate")
        return Candidate(int(version))

    def _run_pipeline(self, client: RegistryClient, pipeline: Any, context: dict[str, Any],
                      executor: Any = None) -> Candidate:
        params = {"trigger": context} if "trigger" in pipeline.signature.parameters else {}
        run = pipeline.run(executor=pipeline.executor or executor, **params)
        if run.state != "SUCCEEDED":
            raise RuntimeError(f"pipeline {pipeline.name} run {run.run_id} ended {run.state}: {run.error or ''}")
        run_ids = {t.tracking_run_id for t in run.task_runs if t.tracking_run_id}
        versions = [mv for rid in run_ids for mv in client.search_model_versions(self.model, run_id=rid)]
        if not versions:  # a task that opened and closed its own run: what was registered while it ran
            start, end = run.start_time or run.created_time, run.end_time or int(time.time() * 1000)
            versions = [mv for mv in client.search_model_versions(self.model, max_results=1000)
                        if start <= mv.creation_timestamp <= end]
        if not versions:
            raise NotFound(f"pipeline run {run.run_id} registered no version of model {self.model!r}")
        return Candidate(max(int(mv.version) for mv in versions))


def _run_id(version: Any) -> str:
    if not version.run_id:
        raise NotFound(f"{version.name} v{version.version} has no run, so no logged held-out data")
    return str(version.run_id)

