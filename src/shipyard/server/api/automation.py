"""``/api/v1/policy-events`` and ``/api/v1/rollouts``: the AutomationStore over HTTP.

Writing here is an admin's: a rollout moves a deployment's traffic (what ``PATCH /deployments``
does, admins only), and policy events steer the policies (cool-downs, incidents already handled).
A scheduler that advances rollouts against a remote server therefore runs with an admin token.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from shipyard import entities as e
from shipyard.server.api import schemas as w
from shipyard.server.api._common import ERRORS, StoreDep, entities, entity, parse
from shipyard.server.auth import ADMIN, READ

__all__ = ["router"]

router = APIRouter(tags=["automation"], responses=ERRORS)


class PolicyEvents(w.Wire):
    events: list[w.PolicyEvent]


class Rollouts(w.Wire):
    rollouts: list[w.Rollout]


class ActiveRollout(w.Wire):
    rollout: w.Rollout | None


class UpdateRollout(w.Wire):
    expected_step: w.Int32
    step: w.Int32 | None = None
    state: str | None = None
    step_started_time: w.Int64 | None = None
    reason: str | None = None
    event: w.PolicyEvent | None = None  # recorded in the same transaction as the step


@router.post("/policy-events", dependencies=[ADMIN], response_model=w.PolicyEvent)
def add_policy_event(request: Request, body: w.PolicyEvent, store: StoreDep) -> Response:
    return entity(request, store.add_policy_event(parse(request, e.PolicyEvent, body)))


@router.get("/policy-events", dependencies=[READ], response_model=PolicyEvents)
def list_policy_events(request: Request, store: StoreDep, policy: str | None = None, deployment: str | None = None,
                       kinds: list[str] | None = Query(None), since: w.Int64 | None = None,
                       max_results: w.MaxResults = 100) -> Response:
    return entities(request, "events", store.list_policy_events(policy, deployment, kinds, since, max_results))


@router.post("/rollouts", dependencies=[ADMIN], response_model=w.Rollout)
def create_rollout(request: Request, body: w.Rollout, store: StoreDep) -> Response:
    return entity(request, store.create_rollout(parse(request, e.Rollout, body)))


@router.get("/rollouts", dependencies=[READ], response_model=Rollouts)
def list_rollouts(request: Request, store: StoreDep, deployment: str | None = None, state: str | None = None,
                  max_results: w.MaxResults = 100) -> Response:
    return entities(request, "rollouts", store.list_rollouts(deployment, state, max_results))


@router.get("/rollouts/{rollout_id}", dependencies=[READ], response_model=w.Rollout)
def get_rollout(request: Request, rollout_id: str, store: StoreDep) -> Response:
    return entity(request, store.get_rollout(rollout_id))


@router.post("/rollouts/{rollout_id}/update", dependencies=[ADMIN], response_model=w.Rollout)
def update_rollout(request: Request, rollout_id: str, body: UpdateRollout, store: StoreDep) -> Response:
    event = parse(request, e.PolicyEvent, body.event) if body.event is not None else None
    rollout = store.update_rollout(rollout_id, body.expected_step, step=body.step, state=body.state,
                                   step_started_time=body.step_started_time, reason=body.reason, event=event)
    return entity(request, rollout)


@router.get("/deployments/{name}/active-rollout", dependencies=[READ], response_model=ActiveRollout)
def get_active_rollout(request: Request, name: str, store: StoreDep) -> Response:
    return entity(request, store.get_active_rollout(name), key="rollout")
