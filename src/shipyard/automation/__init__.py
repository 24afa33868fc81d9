"""Closing the loop: retraining policies, the gate against the champion, progressive rollout.

    from shipyard.automation import Policy
    policy = Policy("rain-retrain", deployment="rain-api", model="rain", retrain=retrain,
                    triggers=[{"monitor": "rain", "checks": ["performance.roc_auc"]}],
                    gate={"metric": "roc_auc", "min_delta": 0.01}, rollout={"steps": [10, 50, 100], "dwell": "10m"})

Policies are ticked by ``shipyard scheduler`` (found in ``--module`` files or ``shipyard.yaml``); the
gate and the rollout are also commands (``shipyard models validate``, ``shipyard deployments
rollout``) for a team's CI. Every step is a PolicyEvent in the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.automation._gate import GATE_EXPERIMENT, Gate, GateResult, evaluate_gate
    from shipyard.automation._holdout import load_holdout, log_holdout
    from shipyard.automation._joblist import JobList
    from shipyard.automation._jobs import PolicyJob, RolloutJob
    from shipyard.automation._policy import Candidate, Outcome, Policy
    from shipyard.automation._rollout import (
        RolloutPlan,
        StepAnalysis,
        VersionNumbers,
        advance_rollout,
        analyze,
        start_rollout,
    )

_LAZY = {
    "GATE_EXPERIMENT": "_gate", "Gate": "_gate", "GateResult": "_gate", "evaluate_gate": "_gate",
    "load_holdout": "_holdout", "log_holdout": "_holdout",
    "JobList": "_joblist", "PolicyJob": "_jobs", "RolloutJob": "_jobs",
    "Candidate": "_policy", "Outcome": "_policy", "Policy": "_policy",
    "RolloutPlan": "_rollout", "StepAnalysis": "_rollout", "VersionNumbers": "_rollout",
    "advance_rollout": "_rollout", "analyze": "_rollout", "start_rollout": "_rollout",
}

__all__ = [
    "GATE_EXPERIMENT",
    "Candidate",
    "Gate",
    "GateResult",
    "JobList",
    "Outcome",
    "Policy",
    "PolicyJob",
    "RolloutJob",
    "RolloutPlan",
    "StepAnalysis",
    "VersionNumbers",
    "advance_rollout",
    "analyze",
    "evaluate_gate",
    "load_holdout",
    "log_holdout",
    "start_rollout",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f"shipyard.automation.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'shipyard.automation' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
