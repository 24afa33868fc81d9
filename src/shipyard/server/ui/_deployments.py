"""Deployments: the current traffic split, every revision with who made it and why, the rollback
button (admins only when auth is on), progressive rollouts and the automation's events."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from shipyard.errors import ShipyardError
from shipyard.server.ui._session import ViewerDep, check_form, read_form
from shipyard.server.ui._web import make_router, render
from shipyard.store.rollback import refusal, undone_by

if TYPE_CHECKING:
    from shipyard.entities import Route

__all__ = ["router"]

router = make_router()


def _shares(routes: list[Route]) -> list[tuple[Route, float]]:
    """Each route with its share of the traffic in percent (weights need not sum to 100)."""
    total = sum(r.weight for r in routes) or 1.0
    return [(r, 100.0 * r.weight / total) for r in routes]


@router.get("/deployments")
def deployments(request: Request, who: ViewerDep) -> Response:
    store = request.app.state.store
    found = store.list_deployments()
    return render(request, "deployments.html", deployments=[(d, _shares(d.current.routes)) for d in found])


@router.get("/deployments/{name}")
def deployment(request: Request, name: str, who: ViewerDep) -> Response:
    store = request.app.state.store
    current = store.get_deployment(name)
    revisions = store.list_deployment_revisions(name)
    rollouts = store.list_rollouts(name, max_results=50)
    # What the rollback button would restore, shown before it is pressed (revisions: newest first).
    target = revisions[1] if len(revisions) > 1 else None
    undone = None if target is None else undone_by(target, rollouts)
    return render(request, "deployment.html", deployment=current, split=_shares(current.current.routes),
                  target=target, target_split=_shares(target.routes) if target else [],
                  target_refusal=refusal(target, undone) if target and undone else "",
                  revisions=revisions, rollouts=rollouts,
                  events=store.list_policy_events(deployment=name, max_results=100),
                  monitors=store.list_monitors(deployment=name), error="")


@router.post("/deployments/{name}/rollback")
async def rollback(request: Request, name: str, who: ViewerDep) -> Response:
    """Make the previous revision current again (a new revision copying it); admins only with auth on."""
    form = await read_form(request)
    check_form(request, who, form.get("csrf", ""), "admin")
    store = request.app.state.store
    reason = form.get("reason", "").strip() or "rolled back from the web UI"
    force = form.get("force", "") == "yes"
    try:
        await run_in_threadpool(functools.partial(store.rollback_deployment, name, who.name or "web UI", reason,
                                                  force=force))
    except ShipyardError as exc:
        return render(request, "_error.html", exc.http_status, message=exc.message)
    return Response(status_code=200, headers={"HX-Redirect": f"/deployments/{name}"})
