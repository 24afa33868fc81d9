"""``/api/v1/deployments``: the DeploymentStore over HTTP.

Creating, changing, rolling back and deleting a deployment is an admin's job; sending feedback
(ground-truth labels) is a writer's. ``created_by`` defaults to the calling token's name.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from shipyard import entities as e
from shipyard.server.api import schemas as w
from shipyard.server.api._common import ERRORS, StoreDep, entities, entity, ok, parse
from shipyard.server.auth import ADMIN, READ, WRITE, principal_name

__all__ = ["router"]

router = APIRouter(tags=["deployments"], responses=ERRORS)


class CreateDeployment(w.Wire):
    name: str
    routes: list[w.Route]
    shadow: list[w.Route] = []
    batching: dict[str, Any] | None = None
    created_by: str = ""
    reason: str = ""
    description: str = ""
    features: w.FeatureBinding | None = None


class UpdateDeployment(w.Wire):
    routes: list[w.Route] | None = None
    shadow: list[w.Route] | None = None
    batching: dict[str, Any] | None = None
    created_by: str = ""
    reason: str = ""
    features: w.FeatureBinding | None = None
    no_features: bool = False


class Rollback(w.Wire):
    created_by: str = ""
    reason: str = ""
    force: bool = False  # restore a revision an automatic rollout rolled back


class Deployments(w.Wire):
    deployments: list[w.Deployment]


class Revisions(w.Wire):
    revisions: list[w.DeploymentRevision]


class LogFeedback(w.Wire):
    feedback: list[w.Feedback]


class Stored(w.Wire):
    stored: int


class FeedbackQuery(w.Wire):
    request_ids: list[str] | None = None
    start: w.Int64 | None = None
    end: w.Int64 | None = None


class FeedbackList(w.Wire):
    feedback: list[w.Feedback]


def _routes(request: Request, routes: list[w.Route] | None) -> list[e.Route] | None:
    return None if routes is None else [parse(request, e.Route, r) for r in routes]


def _binding(request: Request, binding: w.FeatureBinding | None) -> e.FeatureBinding | None:
    return None if binding is None else parse(request, e.FeatureBinding, binding)


@router.post("/deployments", dependencies=[ADMIN], response_model=w.Deployment)
def create_deployment(request: Request, body: CreateDeployment, store: StoreDep) -> Response:
    deployment = store.create_deployment(
        body.name, _routes(request, body.routes) or [], _routes(request, body.shadow) or [], body.batching,
        body.created_by or principal_name(request), body.reason, body.description,
        features=_binding(request, body.features))
    return entity(request, deployment)


@router.get("/deployments", dependencies=[READ], response_model=Deployments)
def list_deployments(request: Request, store: StoreDep) -> Response:
    return entities(request, "deployments", store.list_deployments())


@router.get("/deployments/{name}", dependencies=[READ], response_model=w.Deployment)
def get_deployment(request: Request, name: str, store: StoreDep) -> Response:
    return entity(request, store.get_deployment(name))


@router.patch("/deployments/{name}", dependencies=[ADMIN], response_model=w.Deployment)
def update_deployment(request: Request, name: str, body: UpdateDeployment, store: StoreDep) -> Response:
    deployment = store.update_deployment(name, _routes(request, body.routes), _routes(request, body.shadow),
                                         body.batching, body.created_by or principal_name(request), body.reason,
                                         features=_binding(request, body.features), no_features=body.no_features)
    return entity(request, deployment)


@router.post("/deployments/{name}/rollback", dependencies=[ADMIN], response_model=w.Deployment)
def rollback_deployment(request: Request, name: str, body: Rollback, store: StoreDep) -> Response:
    return entity(request, store.rollback_deployment(name, body.created_by or principal_name(request), body.reason,
                                                         force=body.force))


@router.get("/deployments/{name}/revisions", dependencies=[READ], response_model=Revisions)
def list_deployment_revisions(request: Request, name: str, store: StoreDep) -> Response:
    return entities(request, "revisions", store.list_deployment_revisions(name))


@router.delete("/deployments/{name}", dependencies=[ADMIN])
def delete_deployment(name: str, store: StoreDep) -> Response:
    store.delete_deployment(name)
    return ok()


@router.post("/deployments/{name}/feedback", dependencies=[WRITE], response_model=Stored)
def log_feedback(request: Request, name: str, body: LogFeedback, store: StoreDep) -> Response:
    return ok({"stored": store.log_feedback(name, [parse(request, e.Feedback, f) for f in body.feedback])})


@router.post("/deployments/{name}/feedback/query", dependencies=[READ], response_model=FeedbackList)
def get_feedback(request: Request, name: str, body: FeedbackQuery, store: StoreDep) -> Response:
    return entities(request, "feedback", store.get_feedback(name, body.request_ids, body.start, body.end))
