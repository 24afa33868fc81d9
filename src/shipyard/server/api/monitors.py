"""``/api/v1/monitors``, monitor results and alerts: the MonitorStore over HTTP.

Monitor runs and alert bookkeeping are a writer's job (a scheduler with a writer token can run
monitors against a remote server); deleting a monitor is an admin's. A spec's ``command`` and
``webhook`` channels must be ones the server's operator configured (:mod:`shipyard.server_config`),
whatever the caller's role: what runs on the scheduler's host and which hosts it contacts are the
operator's choice, never a spec's.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from shipyard import entities as e
from shipyard.server.api import schemas as w
from shipyard.server.api._common import ERRORS, StoreDep, entities, entity, ok, parse
from shipyard.server.auth import ADMIN, READ, WRITE
from shipyard.store._wire import to_wire

__all__ = ["router"]

router = APIRouter(tags=["monitors"], responses=ERRORS)


class CreateMonitor(w.Wire):
    name: str
    deployment: str
    spec: dict[str, Any]
    description: str = ""


class UpdateMonitor(w.Wire):
    spec: dict[str, Any] | None = None
    description: str | None = None


class Monitors(w.Wire):
    monitors: list[w.Monitor]


class MonitorResults(w.Wire):
    results: list[w.MonitorResult]


class OpenAlert(w.Wire):
    alert: w.Alert


class OpenedAlert(w.Wire):
    alert: w.Alert
    created: bool


class ResolveAlert(w.Wire):
    resolved_time: w.Int64
    message: str = ""


class AlertDelivery(w.Wire):
    delivery: dict[str, Any]


class Alerts(w.Wire):
    alerts: list[w.Alert]


def _check_channels(spec: dict[str, Any] | None) -> None:
    from shipyard.server_config import load_server_config

    if spec is not None:
        load_server_config().check_spec(spec)


@router.post("/monitors", dependencies=[WRITE], response_model=w.Monitor)
def create_monitor(request: Request, body: CreateMonitor, store: StoreDep) -> Response:
    _check_channels(body.spec)
    return entity(request, store.create_monitor(body.name, body.deployment, body.spec, body.description))


@router.get("/monitors", dependencies=[READ], response_model=Monitors)
def list_monitors(request: Request, store: StoreDep, deployment: str | None = None) -> Response:
    return entities(request, "monitors", store.list_monitors(deployment))


@router.get("/monitors/{name}", dependencies=[READ], response_model=w.Monitor)
def get_monitor(request: Request, name: str, store: StoreDep) -> Response:
    return entity(request, store.get_monitor(name))


@router.patch("/monitors/{name}", dependencies=[WRITE], response_model=w.Monitor)
def update_monitor(request: Request, name: str, body: UpdateMonitor, store: StoreDep) -> Response:
    _check_channels(body.spec)
    return entity(request, store.update_monitor(name, body.spec, body.description))


@router.delete("/monitors/{name}", dependencies=[ADMIN])
def delete_monitor(name: str, store: StoreDep) -> Response:
    store.delete_monitor(name)
    return ok()


@router.post("/monitor-results", dependencies=[WRITE], response_model=MonitorResults)
def log_monitor_results(request: Request, body: MonitorResults, store: StoreDep) -> Response:
    stored = store.log_monitor_results([parse(request, e.MonitorResult, r) for r in body.results])
    return entities(request, "results", stored)


@router.get("/monitors/{name}/results", dependencies=[READ], response_model=MonitorResults)
def list_monitor_results(request: Request, name: str, store: StoreDep, model: str | None = None,
                         version: w.Int32 | None = None, since: w.Int64 | None = None, until: w.Int64 | None = None,
                         max_results: w.MaxResults = 1000) -> Response:
    return entities(request, "results", store.list_monitor_results(name, model, version, since, until, max_results))


@router.post("/alerts", dependencies=[WRITE], response_model=OpenedAlert)
def open_alert(request: Request, body: OpenAlert, store: StoreDep) -> Response:
    alert, created = store.open_alert(parse(request, e.Alert, body.alert))
    return ok({"alert": to_wire(alert), "created": created})


@router.post("/alerts/{alert_id}/resolve", dependencies=[WRITE], response_model=w.Alert)
def resolve_alert(request: Request, alert_id: str, body: ResolveAlert, store: StoreDep) -> Response:
    return entity(request, store.resolve_alert(alert_id, body.resolved_time, body.message))


@router.post("/alerts/{alert_id}/deliveries", dependencies=[WRITE])
def add_alert_delivery(alert_id: str, body: AlertDelivery, store: StoreDep) -> Response:
    store.add_alert_delivery(alert_id, body.delivery)
    return ok()


@router.get("/alerts", dependencies=[READ], response_model=Alerts)
def list_alerts(request: Request, store: StoreDep, monitor: str | None = None, state: str | None = None,
                max_results: w.MaxResults = 100) -> Response:
    return entities(request, "alerts", store.list_alerts(monitor, state, max_results))
