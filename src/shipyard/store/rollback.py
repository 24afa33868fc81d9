"""Which revision a rollback restores, and whether an automatic rollout already undid it.

A rollback makes the revision before the current one current again. Right after a canary was
rolled back automatically, that revision is the canary's own split: restoring it would put the
rejected version back on traffic. :func:`undone_by` names the rollout that rolled it back, so the
store refuses such a rollback unless forced, and the UI can say so before the button is pressed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipyard.entities import DeploymentRevision, Rollout

__all__ = ["refusal", "undone_by"]


def undone_by(revision: DeploymentRevision, rollouts: Iterable[Rollout]) -> Rollout | None:
    """The rolled-back rollout whose candidate ``revision`` sends traffic to, written while it ran."""
    for rollout in rollouts:
        if rollout.state != "ROLLED_BACK" or rollout.deployment != revision.deployment:
            continue
        ended = rollout.finished_time if rollout.finished_time is not None else rollout.updated_time
        if not rollout.started_time <= revision.created_time <= ended:
            continue
        if any(r.model == rollout.model and r.version == rollout.candidate_version and r.weight > 0
               for r in revision.routes):
            return rollout
    return None


def refusal(revision: DeploymentRevision, rollout: Rollout) -> str:
    """Why restoring ``revision`` is refused, and how to do it anyway."""
    total = sum(max(0.0, r.weight) for r in revision.routes) or 1.0
    share = sum(r.weight for r in revision.routes
                if r.model == rollout.model and r.version == rollout.candidate_version) / total
    return (f"rolling {revision.deployment!r} back would restore revision {revision.revision}, which sends "
            f"{share:.0%} of its traffic to {rollout.model} v{rollout.candidate_version}: rollout "
            f"{rollout.rollout_id[:8]} rolled that version back ({rollout.reason or 'no reason recorded'}). "
            "The current revision is what that rollback restored. Pass force (--force) to restore "
            f"revision {revision.revision} anyway, or write the split you want with 'deployments update'")
