"""Registered models: the list, a model (versions, aliases with their history, a form to move an
alias), and a version's lineage (version -> run -> datasets) with its signature."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from shipyard.errors import InvalidInput, ShipyardError
from shipyard.registry import RegistryClient
from shipyard.server.ui._modelinfo import manifest_of_source
from shipyard.server.ui._session import ViewerDep, check_form, read_form
from shipyard.server.ui._web import make_router, render

__all__ = ["router"]

router = make_router()


@router.get("/models")
def models(request: Request, who: ViewerDep, q: str = "", page: str = "") -> Response:
    store = request.app.state.store
    pattern = f"%{q}%" if q else None
    found = store.search_registered_models(name_like=pattern, max_results=100, page_token=page or None)
    return render(request, "models.html", models=list(found), next_token=found.token, q=q)


def _model_context(request: Request, name: str) -> dict[str, Any]:
    store = request.app.state.store
    model = store.get_registered_model(name)
    versions = list(store.search_model_versions(name=name, max_results=1000))
    history = list(reversed(store.get_alias_history(name)))
    deployments = [d for d in store.list_deployments()
                   if any(r.model == name for r in [*d.current.routes, *d.current.shadow])]
    return {"model": model, "versions": versions, "history": history, "deployments": deployments,
            "choices": [v.version for v in versions if not v.archived]}


@router.get("/models/{name}")
def model(request: Request, name: str, who: ViewerDep) -> Response:
    return render(request, "model.html", **_model_context(request, name), form_error="", form={})


@router.post("/models/{name}/aliases")
async def set_alias(request: Request, name: str, who: ViewerDep) -> Response:
    """Point an alias at a version (writers and admins when auth is on); answers the alias panel."""
    form = await read_form(request)
    check_form(request, who, form.get("csrf", ""), "writer")
    store = request.app.state.store
    alias, version, reason = form.get("alias", "").strip(), form.get("version", ""), form.get("reason", "").strip()
    error, status = "", 200
    try:
        if not alias:
            raise InvalidInput("name the alias to set (champion, challenger, ...)")
        if not version.isdigit():
            raise InvalidInput("choose a version")
        by = f" (by {who.name} in the web UI)" if who.name else " (web UI)"
        await run_in_threadpool(store.set_registered_model_alias, name, alias, int(version), (reason or "set") + by)
    except ShipyardError as exc:
        error, status = exc.message, exc.http_status
    context = await run_in_threadpool(_model_context, request, name)
    return render(request, "_aliases.html", status, **context, form_error=error,
                  form={"alias": alias, "version": version, "reason": reason} if error else {})


@router.get("/models/{name}/versions/{version}")
def version_page(request: Request, name: str, version: str, who: ViewerDep) -> Response:
    store = request.app.state.store
    if not version.isdigit():
        raise InvalidInput(f"version must be a number, got {version!r}")
    mv = store.get_model_version(name, int(version))
    lineage = RegistryClient(store=store).get_model_version_lineage(name, mv.version)
    manifest, problem = manifest_of_source(store, mv.source)
    serving = [(d, r) for d in store.list_deployments() for r in d.current.routes
               if (r.model, r.version) == (name, mv.version)]
    return render(request, "model_version.html", mv=mv, lineage=lineage, manifest=manifest, problem=problem,
                  serving=serving)
