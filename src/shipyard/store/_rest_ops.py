"""The plumbing of :class:`~shipyard.store.rest.RestStore` and its pipelines, monitors and automation parts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from shipyard._http import check_response, dumps, send
from shipyard.entities import Alert, Monitor, MonitorResult, PipelineInfo, PipelineRun, PolicyEvent, Rollout, TaskRun
from shipyard.errors import InvalidInput
from shipyard.store._wire import ARTIFACT_SCHEME, from_wire, to_wire

if TYPE_CHECKING:
    import httpx

__all__ = ["API", "RestBase", "RestOperations", "seg"]

T = TypeVar("T")
API = "/api/v1"


def seg(value: object) -> str:
    """One path segment, escaped (``/`` included; a bare ``.`` or ``..`` too, so nothing is normalised away)."""
    if value == "" or value is None:
        raise InvalidInput("a name or id must not be empty")
    text = quote(str(value), safe="")
    return text.replace(".", "%2E") if text in (".", "..") else text


class RestBase:
    uri: str
    artifacts_url: str
    _http: httpx.Client
    retry_s: float | None  # None: SHIPYARD_HTTP_RETRY_S or its default (see shipyard._http.send)

    def _call(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        content = None if body is None else dumps(body)
        headers = {"Content-Type": "application/json"} if content is not None else None
        query = {k: v for k, v in (params or {}).items() if v is not None}
        response = send(lambda: self._http.request(method, API + path, content=content, params=query,
                                                    headers=headers), self.uri, self.retry_s)
        check_response(response)
        return response.json() if response.content else None

    def _uri_in(self, uri: str) -> str:
        """A location as the server speaks of it -> one this process can open."""
        if uri.startswith(ARTIFACT_SCHEME):
            rel = uri[len(ARTIFACT_SCHEME):].lstrip("/")
            return f"{self.artifacts_url}/{rel}" if rel else self.artifacts_url
        return uri

    def _uri_out(self, uri: str) -> str:
        """The inverse of :meth:`_uri_in`."""
        if uri == self.artifacts_url or uri.startswith(self.artifacts_url + "/"):
            return f"{ARTIFACT_SCHEME}/{uri[len(self.artifacts_url) + 1:]}"
        return uri

    def _get(self, cls: type[T], data: Any) -> T:
        return from_wire(cls, data, self._uri_in)

    def _list(self, cls: type[T], items: list[Any]) -> list[T]:
        return [from_wire(cls, item, self._uri_in) for item in items]

    def _wire(self, obj: Any) -> Any:
        return to_wire(obj, self._uri_out)


class RestOperations(RestBase):
    # ------------------------------------------------------------------ pipelines
    def create_pipeline_run(self, pipeline: str, params: dict[str, object], trigger: str = "manual",
                            logical_date: int | None = None, state: str = "RUNNING") -> PipelineRun:
        body = {"pipeline": pipeline, "params": params, "trigger": trigger, "logical_date": logical_date,
                "state": state}
        return self._get(PipelineRun, self._call("POST", "/pipeline-runs", body))

    def get_pipeline_run(self, run_id: str) -> PipelineRun:
        return self._get(PipelineRun, self._call("GET", f"/pipeline-runs/{seg(run_id)}"))

    def list_pipeline_runs(self, pipeline: str | None = None, states: Sequence[str] | None = None,
                           max_results: int = 100) -> list[PipelineRun]:
        params = {"pipeline": pipeline, "states": None if states is None else list(states),
                  "max_results": max_results}
        return self._list(PipelineRun, self._call("GET", "/pipeline-runs", params=params)["pipeline_runs"])

    def write_task_runs(self, run_id: str, task_runs: Sequence[TaskRun]) -> None:
        self._call("POST", f"/pipeline-runs/{seg(run_id)}/task-runs", {"task_runs": self._wire(list(task_runs))})

    def finish_pipeline_run(self, run_id: str, state: str, task_runs: Sequence[TaskRun] = (), error: str | None = None,
                            end_time: int | None = None) -> None:
        body = {"state": state, "task_runs": self._wire(list(task_runs)), "error": error, "end_time": end_time}
        self._call("POST", f"/pipeline-runs/{seg(run_id)}/finish", body)

    def request_cancel(self, run_id: str) -> PipelineRun:
        return self._get(PipelineRun, self._call("POST", f"/pipeline-runs/{seg(run_id)}/cancel"))

    def renew_pipeline_lease(self, run_id: str, lease_s: float) -> bool:
        return bool(self._call("POST", f"/pipeline-runs/{seg(run_id)}/lease", {"lease_s": lease_s})["renewed"])

    def expire_pipeline_runs(self) -> list[str]:
        return [str(r) for r in self._call("POST", "/pipeline-runs/expire", {})["expired"]]

    def claim_pending_run(self, pipelines: Sequence[str] | None = None) -> PipelineRun | None:
        body = {"pipelines": None if pipelines is None else list(pipelines)}
        found = self._call("POST", "/pipeline-runs/claim", body)["pipeline_run"]
        return None if found is None else self._get(PipelineRun, found)

    def find_cached_task_run(self, task_name: str, cache_key: str, since: int | None = None) -> TaskRun | None:
        params = {"task_name": task_name, "cache_key": cache_key, "since": since}
        found = self._call("GET", "/task-runs/cached", params=params)["task_run"]
        return None if found is None else self._get(TaskRun, found)

    def claim_tick(self, name: str, tick_time: int, owner: str) -> bool:
        body = {"name": name, "tick_time": tick_time, "owner": owner}
        return bool(self._call("POST", "/schedule-ticks/claim", body)["claimed"])

    def last_tick(self, name: str) -> int | None:
        found = self._call("GET", "/schedule-ticks/last", params={"name": name})["tick_time"]
        return None if found is None else int(found)

    def prune_ticks(self, before: int) -> int:
        return int(self._call("POST", "/schedule-ticks/prune", {"before": before})["pruned"])

    def announce_pipelines(self, pipelines: Sequence[PipelineInfo]) -> None:
        self._call("POST", "/pipelines", {"pipelines": self._wire(list(pipelines))})

    def list_pipelines(self) -> list[PipelineInfo]:
        return self._list(PipelineInfo, self._call("GET", "/pipelines")["pipelines"])

    # ------------------------------------------------------------------ monitors
    def create_monitor(self, name: str, deployment: str, spec: dict[str, object], description: str = "") -> Monitor:
        body = {"name": name, "deployment": deployment, "spec": spec, "description": description}
        return self._get(Monitor, self._call("POST", "/monitors", body))

    def update_monitor(self, name: str, spec: dict[str, object] | None = None,
                       description: str | None = None) -> Monitor:
        return self._get(Monitor, self._call("PATCH", f"/monitors/{seg(name)}",
                                             {"spec": spec, "description": description}))

    def get_monitor(self, name: str) -> Monitor:
        return self._get(Monitor, self._call("GET", f"/monitors/{seg(name)}"))

    def list_monitors(self, deployment: str | None = None) -> list[Monitor]:
        return self._list(Monitor, self._call("GET", "/monitors", params={"deployment": deployment})["monitors"])

    def delete_monitor(self, name: str) -> None:
        self._call("DELETE", f"/monitors/{seg(name)}")

    def log_monitor_results(self, results: Sequence[MonitorResult]) -> list[MonitorResult]:
        data = self._call("POST", "/monitor-results", {"results": self._wire(list(results))})
        return self._list(MonitorResult, data["results"])

    def list_monitor_results(self, name: str, model: str | None = None, version: int | None = None,
                             since: int | None = None, until: int | None = None,
                             max_results: int = 1000) -> list[MonitorResult]:
        params = {"model": model, "version": version, "since": since, "until": until, "max_results": max_results}
        return self._list(MonitorResult, self._call("GET", f"/monitors/{seg(name)}/results", params=params)["results"])

    def open_alert(self, alert: Alert) -> tuple[Alert, bool]:
        data = self._call("POST", "/alerts", {"alert": self._wire(alert)})
        return self._get(Alert, data["alert"]), bool(data["created"])

    def resolve_alert(self, alert_id: str, resolved_time: int, message: str = "") -> Alert:
        body = {"resolved_time": resolved_time, "message": message}
        return self._get(Alert, self._call("POST", f"/alerts/{seg(alert_id)}/resolve", body))

    def add_alert_delivery(self, alert_id: str, delivery: dict[str, object]) -> None:
        self._call("POST", f"/alerts/{seg(alert_id)}/deliveries", {"delivery": delivery})

    def list_alerts(self, monitor: str | None = None, state: str | None = None, max_results: int = 100) -> list[Alert]:
        params = {"monitor": monitor, "state": state, "max_results": max_results}
        return self._list(Alert, self._call("GET", "/alerts", params=params)["alerts"])

    # ------------------------------------------------------------------ automation
    def add_policy_event(self, event: PolicyEvent) -> PolicyEvent:
        return self._get(PolicyEvent, self._call("POST", "/policy-events", self._wire(event)))

    def list_policy_events(self, policy: str | None = None, deployment: str | None = None,
                           kinds: Sequence[str] | None = None, since: int | None = None,
                           max_results: int = 100) -> list[PolicyEvent]:
        params = {"policy": policy, "deployment": deployment, "kinds": None if kinds is None else list(kinds),
                  "since": since, "max_results": max_results}
        return self._list(PolicyEvent, self._call("GET", "/policy-events", params=params)["events"])

    def create_rollout(self, rollout: Rollout) -> Rollout:
        return self._get(Rollout, self._call("POST", "/rollouts", self._wire(rollout)))

    def get_rollout(self, rollout_id: str) -> Rollout:
        return self._get(Rollout, self._call("GET", f"/rollouts/{seg(rollout_id)}"))

    def get_active_rollout(self, deployment: str) -> Rollout | None:
        found = self._call("GET", f"/deployments/{seg(deployment)}/active-rollout")["rollout"]
        return None if found is None else self._get(Rollout, found)

    def list_rollouts(self, deployment: str | None = None, state: str | None = None,
                      max_results: int = 100) -> list[Rollout]:
        params = {"deployment": deployment, "state": state, "max_results": max_results}
        return self._list(Rollout, self._call("GET", "/rollouts", params=params)["rollouts"])

    def update_rollout(self, rollout_id: str, expected_step: int, *, step: int | None = None,
                       state: str | None = None, step_started_time: int | None = None,
                       reason: str | None = None, event: PolicyEvent | None = None) -> Rollout:
        body = {"expected_step": expected_step, "step": step, "state": state, "step_started_time": step_started_time,
                "reason": reason, "event": None if event is None else self._wire(event)}
        return self._get(Rollout, self._call("POST", f"/rollouts/{seg(rollout_id)}/update", body))
