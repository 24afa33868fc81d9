"""Deployments: the current traffic split, every revision with who made it and why, the rollback
button (admins only when auth is on), progressive rollouts and the automation's events."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from shipyard.errors import ShipyardError
from shipyard.server.ui._session import ViewerDep, check_form, read_form
from shipyard.server.ui._web import make_router, render

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
    return render(request, "deployment.html", deployment=current, split=_shares(current.current.routes),
                  revisions=revisions, rollouts=store.list_rollouts(name, max_results=50),
                  events=store.list_policy_events(deployment=name, max_results=100),
                  monitors=store.list_monitors(deployment=name), error="")


@router.post("/deployments/{name}/rollback")
async def rollback(request: Request, name: str, who: ViewerDep) -> Response:
    """Make the previous revision current again (a new revision copying it); admins only with auth on."""
    form = await read_form(request)
    check_form(request, who, form.get("csrf", ""), "admin")
    store = request.app.state.store
    reason = form.get("reason", "").strip() or "rolled back from the web UI"
    try:
        await run_in_threadpool(store.rollback_deployment, name, who.name or "web UI", reason)
    except ShipyardError as exc:
        return render(request, "_error.html", exc.http_status, message=exc.message)
    return Response(status_code=200, headers={"HX-Redirect": f"/deployments/{name}"})
