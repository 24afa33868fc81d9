"""Alerts: one incident per check crossing its threshold, and its notices on the monitor's channels.

An incident opens when a check of a model version fails (``passed`` False) and none is open for it;
it resolves when the check passes again (or the version no longer answers any row of the window).
Each transition sends one notice per channel; a window that fails again while the incident is open
sends nothing. Channels:

- ``log``: a WARNING (opened) or INFO (resolved) line on the ``shipyard.monitoring`` logger.
- ``webhook``: POST of the JSON payload below (or, with ``"format": "slack"``, a Slack incoming-
  webhook body ``{"text": ...}``), retried ``retries`` times with exponential backoff from
  ``backoff_s`` on a connection error or a non-2xx answer.
- ``command``: ``argv`` run with the payload as JSON on stdin and ``SHIPYARD_ALERT_*`` variables.

Webhook hosts and commands must be allowed by the operator's server configuration
(:mod:`shipyard.server_config`), checked here again right before each delivery: a spec in the store
is data any writer may have written, never a licence to run a program or contact a host.

Payload: ``event`` ("opened"/"resolved"), ``alert_id``, ``monitor``, ``deployment``, ``check``,
``model``, ``version``, ``value``, ``threshold``, ``op``, ``message``, ``opened_time``,
``resolved_time``, ``closes`` (the incidents this notice resolves: one, or every open one of a
version that stopped answering, named in one line). Every delivery (ok or not, attempts, error)
is recorded on each alert it concerns.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from shipyard.entities import Alert
from shipyard.monitoring._messages import describe, gone_message, resolved_message

if TYPE_CHECKING:
    import httpx

    from shipyard.entities import Monitor, MonitorResult
    from shipyard.store.base import Store

__all__ = ["AlertEvent", "deliver", "update_incidents"]

logger = logging.getLogger("shipyard.monitoring")


class AlertEvent:
    """An incident that opened or resolved in this run. ``closes``: when a version stopped answering,
    every incident of it that this one notice resolves (the first is ``alert``)."""

    __slots__ = ("alert", "closes", "deployment", "event", "op")

    def __init__(self, event: str, alert: Alert, deployment: str, op: str | None,
                 closes: Sequence[Alert] = ()) -> None:
        self.event, self.alert, self.deployment, self.op = event, alert, deployment, op
        self.closes = tuple(closes) or (alert,)

    def payload(self) -> dict[str, Any]:
        a = self.alert
        return {"event": self.event, "alert_id": a.alert_id, "monitor": a.monitor, "deployment": self.deployment,
                "check": a.check, "model": a.model, "version": a.version, "value": a.value,
                "threshold": a.threshold, "op": self.op,
                "message": a.resolved_message if self.event == "resolved" else a.message,
                "opened_time": a.opened_time, "resolved_time": a.resolved_time,
                "closes": [{"alert_id": c.alert_id, "check": c.check} for c in self.closes]}

    def text(self) -> str:
        a = self.alert
        if self.event == "opened":
            return f"[shipyard] ALERT {a.monitor}: {a.message} ({a.model} v{a.version}, {self.deployment})"
        return f"[shipyard] {a.monitor}: {a.resolved_message} ({a.model} v{a.version}, {self.deployment})"

    def __repr__(self) -> str:
        return f"AlertEvent({self.event} {self.alert.check} {self.alert.model} v{self.alert.version})"


def update_incidents(store: Store, monitor: Monitor, results: Sequence[MonitorResult], now: int,
                     transport: httpx.BaseTransport | None = None) -> list[AlertEvent]:
    """Open and resolve incidents from this run's results; send and record the notices."""
    open_now = {(a.check, a.model, a.version): a for a in store.list_alerts(monitor.name, state="OPEN",
                                                                             max_results=10_000)}
    events: list[AlertEvent] = []
    answered = {(r.model, r.version) for r in results if r.rows}
    for result in results:
        for entry in result.checks:
            key = (entry.check, result.model, result.version)
            if entry.passed is False and key not in open_now:
                alert, created = store.open_alert(Alert(
                    "", monitor.name, entry.check, result.model, result.version, "OPEN", now,
                    value=entry.value, threshold=entry.threshold, message=describe(entry)))
                open_now[key] = alert
                if created:
                    events.append(AlertEvent("opened", alert, monitor.deployment, entry.op))
            elif entry.passed is True and key in open_now:
                alert = store.resolve_alert(open_now.pop(key).alert_id, now, resolved_message(entry))
                events.append(AlertEvent("resolved", alert, monitor.deployment, entry.op))
    if answered:  # a version that answered nothing in a non-empty window has left the deployment
        gone: dict[tuple[str, int], list[Alert]] = {}
        for key in [k for k in open_now if (k[1], k[2]) not in answered]:
            gone.setdefault((key[1], key[2]), []).append(open_now.pop(key))
        for (model, version), alerts in sorted(gone.items()):
            alerts.sort(key=lambda a: a.check)
            message = gone_message(model, version, monitor.deployment, [a.check for a in alerts])
            closed = [store.resolve_alert(a.alert_id, now, message) for a in alerts]
            events.append(AlertEvent("resolved", closed[0], monitor.deployment, None, closed))
    for event in events:
        for channel in monitor.spec.get("channels", []):
            record = deliver(channel, event, transport=transport)
            for alert in event.closes:  # one notice for the version; recorded on each incident it closes
                store.add_alert_delivery(alert.alert_id, record)
    return events


def deliver(channel: dict[str, Any], event: AlertEvent, transport: httpx.BaseTransport | None = None,
            ) -> dict[str, Any]:
    """Send one notice; returns the delivery record (never raises for a failed delivery)."""
    kind = channel["type"]
    record: dict[str, Any] = {"channel": kind, "event": event.event, "time": int(time.time() * 1000)}
    try:
        if kind in ("webhook", "command"):
            from shipyard.server_config import load_server_config

            load_server_config().check_channel(channel)
        if kind == "log":
            logger.log(logging.WARNING if event.event == "opened" else logging.INFO, "%s", event.text())
            record.update(ok=True, attempts=1)
        elif kind == "webhook":
            record.update(_webhook(channel, event, transport))
        elif kind == "command":
            record.update(_command(channel, event))
        else:
            record.update(ok=False, attempts=0, error=f"unknown channel type {kind!r}")
    except Exception as exc:  # a broken channel must not stop the monitor or the other channels
        record.update(ok=False, error=f"{type(exc).__name__}: {exc}")
    if not record.get("ok"):
        logger.error("alert %s (%s) not delivered on %s: %s", event.alert.alert_id, event.event, kind,
                     record.get("error"))
    return record


def _webhook(channel: dict[str, Any], event: AlertEvent, transport: httpx.BaseTransport | None) -> dict[str, Any]:
    import httpx

    body = {"text": event.text()} if channel.get("format") == "slack" else event.payload()
    attempts, error = 0, ""
    retries, backoff = int(channel.get("retries", 3)), float(channel.get("backoff_s", 1.0))
    headers = {"content-type": "application/json", **{str(k): str(v) for k, v in channel.get("headers", {}).items()}}
    with httpx.Client(timeout=float(channel.get("timeout_s", 5.0)), transport=transport) as client:
        for attempt in range(retries + 1):
            attempts += 1
            try:
                response = client.post(channel["url"], content=orjson.dumps(body), headers=headers)
                if 200 <= response.status_code < 300:
                    return {"ok": True, "attempts": attempts, "status": response.status_code}
                error = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            if attempt < retries:
                time.sleep(backoff * 2**attempt)
    return {"ok": False, "attempts": attempts, "error": error}


def _command(channel: dict[str, Any], event: AlertEvent) -> dict[str, Any]:
    from shipyard.server_config import load_server_config

    argv = list(load_server_config().command_argv(channel))  # the operator's argv, never the spec's own
    payload = event.payload()
    env = {**os.environ, **{f"SHIPYARD_ALERT_{k.upper()}": "" if v is None else str(v) for k, v in payload.items()}}
    done = subprocess.run(argv, input=orjson.dumps(payload), env=env, capture_output=True,
                          timeout=float(channel.get("timeout_s", 30.0)), check=False)
    if done.returncode == 0:
        return {"ok": True, "attempts": 1}
    return {"ok": False, "attempts": 1,
            "error": f"exit {done.returncode}: {done.stderr.decode(errors='replace').strip()[-300:]}"}
