"""RestStore: the Store interface over HTTP, to a ``shipyard server``.

``SHIPYARD_TRACKING_URI=http://host:5000`` (or ``https://``) opens one; the token, when the server has
auth on, comes from ``SHIPYARD_TRACKING_TOKEN``. Every method is one request to ``/api/v1/...``;
errors come back as the exception class the server raised (``NotFound``, ``InvalidInput``, ...),
and entities as the same dataclasses a SQL store returns (see :mod:`shipyard.store._wire`).

A server that is restarting is waited for: every call retries connection errors, timeouts and
502/503/504 answers with backoff for ``retry_s`` seconds (default ``SHIPYARD_HTTP_RETRY_S`` or 120,
see :mod:`shipyard._http`), and metric/param/tag batches carry a batch id, so one resent after the
server committed it but before its answer arrived is not stored twice.

Artifact locations the server speaks of as ``shipyard-artifacts:/PATH`` become
``http://host:5000/api/v1/artifacts/PATH`` here, which :func:`shipyard.artifacts.get_artifact_repository`
reads and writes through the server; locations in an object store (``s3://``) are used directly.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shipyard._http import make_client
from shipyard.entities import (
    AliasEvent,
    Deployment,
    DeploymentRevision,
    Experiment,
    Feedback,
    Metric,
    ModelVersion,
    PagedList,
    RegisteredModel,
    Run,
    RunInfo,
)
from shipyard.errors import InvalidInput, NotFound
from shipyard.store._rest_ops import API, RestOperations, seg
from shipyard.store._wire import encode_float
from shipyard.store.base import Store

if TYPE_CHECKING:
    import httpx

    from shipyard.entities import DatasetInput, FeatureBinding, FeatureDefinition, FeatureMaterialization, Param, RunTag

__all__ = ["RestStore"]

class RestStore(RestOperations, Store):
    """A Store that is a shipyard server at ``uri``; ``transport`` plugs in an httpx transport (tests)."""

    def __init__(self, uri: str, artifact_root: str | None = None, *, token: str | None = None,
                 transport: httpx.BaseTransport | None = None, timeout: float = 60.0,
                 retry_s: float | None = None) -> None:
        from shipyard._http import retry_budget

        self.uri = uri.rstrip("/")
        self.retry_s = None if retry_s is None else retry_budget(retry_s)
        self.artifacts_url = f"{self.uri}{API}/artifacts"
        self.artifact_root = artifact_root or self.artifacts_url
        self._http = make_client(self.uri, token, transport, timeout)

    def __repr__(self) -> str:
        return f"RestStore({self.uri!r})"

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ experiments
    def create_experiment(self, name: str, artifact_location: str | None = None,
                          tags: dict[str, str] | None = None) -> str:
        location = None if artifact_location is None else self._uri_out(artifact_location)
        body = {"name": name, "artifact_location": location, "tags": tags}
        return str(self._call("POST", "/experiments", body)["experiment_id"])

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self._get(Experiment, self._call("GET", f"/experiments/{seg(experiment_id)}"))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            return self._get(Experiment, self._call("GET", "/experiments/by-name", params={"name": name}))
        except NotFound:
            return None

    def search_experiments(self, view_type: str = "active", name_like: str | None = None,
                           max_results: int = 1000) -> list[Experiment]:
        data = self._call("GET", "/experiments", params={"view_type": view_type, "name_like": name_like,
                                                        "max_results": max_results})
        return self._list(Experiment, data["experiments"])

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self._call("PATCH", f"/experiments/{seg(experiment_id)}", {"name": new_name})

    def delete_experiment(self, experiment_id: str) -> None:
        self._call("DELETE", f"/experiments/{seg(experiment_id)}")

    def restore_experiment(self, experiment_id: str) -> None:
        self._call("POST", f"/experiments/{seg(experiment_id)}/restore")

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        self._call("POST", f"/experiments/{seg(experiment_id)}/tags", {"key": key, "value": value})

    # ------------------------------------------------------------------ runs
    def create_run(self, experiment_id: str, run_name: str | None = None, start_time: int | None = None,
                   tags: dict[str, str] | None = None, user_id: str = "", parent_run_id: str | None = None,
                   lease_s: float | None = None) -> Run:
        body = {"experiment_id": experiment_id, "run_name": run_name, "start_time": start_time, "tags": tags,
                "user_id": user_id, "parent_run_id": parent_run_id, "lease_s": lease_s}
        return self._get(Run, self._call("POST", "/runs", body))

    def get_run(self, run_id: str) -> Run:
        return self._get(Run, self._call("GET", f"/runs/{seg(run_id)}"))

    def update_run_info(self, run_id: str, status: str | None = None, end_time: int | None = None,
                        run_name: str | None = None) -> RunInfo:
        body = {"status": status, "end_time": end_time, "run_name": run_name}
        return self._get(RunInfo, self._call("PATCH", f"/runs/{seg(run_id)}", body))

    def delete_run(self, run_id: str) -> None:
        self._call("DELETE", f"/runs/{seg(run_id)}")

    def restore_run(self, run_id: str) -> None:
        self._call("POST", f"/runs/{seg(run_id)}/restore")

    def _batch(self, metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]) -> dict[str, Any]:
        points = []
        for m in metrics:
            try:
                value = float(m.value)
            except (TypeError, ValueError):
                raise InvalidInput(f"metric {m.key!r}: value {m.value!r} is not a number") from None
            try:
                points.append({"key": m.key, "value": encode_float(value), "timestamp": int(m.timestamp),
                               "step": int(m.step)})
            except (TypeError, ValueError):
                raise InvalidInput(f"metric {m.key!r}: timestamp and step must be integers") from None
        return {"metrics": points, "params": [{"key": p.key, "value": str(p.value)} for p in params],
                "tags": [{"key": t.key, "value": str(t.value)} for t in tags]}

    def log_batch(self, run_id: str, metrics: Sequence[Metric] = (), params: Sequence[Param] = (),
                  tags: Sequence[RunTag] = (), *, batch_id: str | None = None) -> None:
        body = {**self._batch(metrics, params, tags), "batch_id": uuid.uuid4().hex if batch_id is None else batch_id}
        self._call("POST", f"/runs/{seg(run_id)}/log-batch", body)

    def end_run(self, run_id: str, status: str, end_time: int, metrics: Sequence[Metric] = (),
                params: Sequence[Param] = (), tags: Sequence[RunTag] = (), *, batch_id: str | None = None) -> RunInfo:
        body = {"status": status, "end_time": end_time, **self._batch(metrics, params, tags),
                "batch_id": uuid.uuid4().hex if batch_id is None else batch_id}
        return self._get(RunInfo, self._call("POST", f"/runs/{seg(run_id)}/end", body))

    def renew_run_lease(self, run_id: str, lease_s: float) -> bool:
        return bool(self._call("POST", f"/runs/{seg(run_id)}/lease", {"lease_s": lease_s})["running"])

    def delete_tag(self, run_id: str, key: str) -> None:
        self._call("DELETE", f"/runs/{seg(run_id)}/tags", params={"key": key})

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return self._list(Metric, self._call("GET", f"/runs/{seg(run_id)}/metrics", params={"key": key})["metrics"])

    def search_runs(self, experiment_ids: Sequence[str], filter_string: str | None = None, view_type: str = "active",
                    max_results: int = 1000, order_by: Sequence[str] | None = None,
                    page_token: str | None = None) -> PagedList[Run]:
        body = {"experiment_ids": list(experiment_ids), "filter": filter_string, "view_type": view_type,
                "max_results": max_results, "order_by": None if order_by is None else list(order_by),
                "page_token": page_token}
        data = self._call("POST", "/runs/search", body)
        return PagedList(self._list(Run, data["runs"]), data.get("next_page_token"))

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        self._call("POST", f"/runs/{seg(run_id)}/inputs", {"datasets": self._wire(list(datasets))})

    # ------------------------------------------------------------------ registry
    def _model(self, name: str) -> str:
        return f"/registered-models/{seg(name)}"

    def create_registered_model(self, name: str, tags: dict[str, str] | None = None,
                                description: str = "") -> RegisteredModel:
        body = {"name": name, "tags": tags, "description": description}
        return self._get(RegisteredModel, self._call("POST", "/registered-models", body))

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self._get(RegisteredModel, self._call("GET", self._model(name)))

    def update_registered_model(self, name: str, description: str) -> RegisteredModel:
        return self._get(RegisteredModel, self._call("PATCH", self._model(name), {"description": description}))

    def delete_registered_model(self, name: str) -> None:
        self._call("DELETE", self._model(name))

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        return self._get(RegisteredModel, self._call("POST", f"{self._model(name)}/rename", {"new_name": new_name}))

    def search_registered_models(self, name_like: str | None = None, max_results: int = 100,
                                 page_token: str | None = None) -> PagedList[RegisteredModel]:
        data = self._call("GET", "/registered-models", params={"name_like": name_like, "max_results": max_results,
                                                               "page_token": page_token})
        return PagedList(self._list(RegisteredModel, data["registered_models"]), data.get("next_page_token"))

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        self._call("POST", f"{self._model(name)}/tags", {"key": key, "value": value})

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._call("DELETE", f"{self._model(name)}/tags", params={"key": key})

    def create_model_version(self, name: str, source: str, run_id: str | None = None,
                             tags: dict[str, str] | None = None, description: str = "") -> ModelVersion:
        body = {"source": self._uri_out(source), "run_id": run_id, "tags": tags, "description": description}
        return self._get(ModelVersion, self._call("POST", f"{self._model(name)}/versions", body))

    def _version(self, name: str, version: int) -> str:
        return f"{self._model(name)}/versions/{seg(version)}"

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        return self._get(ModelVersion, self._call("GET", self._version(name, version)))

    def update_model_version(self, name: str, version: int, description: str | None = None,
                             archived: bool | None = None) -> ModelVersion:
        body = {"description": description, "archived": archived}
        return self._get(ModelVersion, self._call("PATCH", self._version(name, version), body))

    def delete_model_version(self, name: str, version: int) -> None:
        self._call("DELETE", self._version(name, version))

    def search_model_versions(self, name: str | None = None, run_id: str | None = None, include_archived: bool = True,
                              max_results: int = 1000, page_token: str | None = None) -> PagedList[ModelVersion]:
        params = {"name": name, "run_id": run_id, "include_archived": include_archived, "max_results": max_results,
                  "page_token": page_token}
        data = self._call("GET", "/model-versions", params=params)
        return PagedList(self._list(ModelVersion, data["model_versions"]), data.get("next_page_token"))

    def set_model_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        self._call("POST", f"{self._version(name, version)}/tags", {"key": key, "value": value})

    def delete_model_version_tag(self, name: str, version: int, key: str) -> None:
        self._call("DELETE", f"{self._version(name, version)}/tags", params={"key": key})

    def set_registered_model_alias(self, name: str, alias: str, version: int, reason: str = "") -> None:
        self._call("PUT", f"{self._model(name)}/aliases/{seg(alias)}", {"version": version, "reason": reason})

    def delete_registered_model_alias(self, name: str, alias: str, reason: str = "") -> None:
        self._call("DELETE", f"{self._model(name)}/aliases/{seg(alias)}", params={"reason": reason})

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self._get(ModelVersion, self._call("GET", f"{self._model(name)}/aliases/{seg(alias)}"))

    def get_alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        data = self._call("GET", f"{self._model(name)}/alias-history", params={"alias": alias})
        return self._list(AliasEvent, data["events"])

    # ------------------------------------------------------------------ deployments
    def create_deployment(self, name: str, routes: Sequence[Any], shadow: Sequence[Any] = (),
                          batching: dict[str, int] | None = None, created_by: str = "", reason: str = "",
                          description: str = "", features: FeatureBinding | None = None) -> Deployment:
        body = {"name": name, "routes": self._wire(list(routes)), "shadow": self._wire(list(shadow)),
                "batching": batching, "created_by": created_by, "reason": reason, "description": description,
                "features": None if features is None else self._wire(features)}
        return self._get(Deployment, self._call("POST", "/deployments", body))

    def update_deployment(self, name: str, routes: Sequence[Any] | None = None, shadow: Sequence[Any] | None = None,
                          batching: dict[str, int] | None = None, created_by: str = "",
                          reason: str = "", features: FeatureBinding | None = None,
                          no_features: bool = False) -> Deployment:
        body = {"routes": None if routes is None else self._wire(list(routes)),
                "shadow": None if shadow is None else self._wire(list(shadow)), "batching": batching,
                "created_by": created_by, "reason": reason,
                "features": None if features is None else self._wire(features), "no_features": no_features}
        return self._get(Deployment, self._call("PATCH", f"/deployments/{seg(name)}", body))

    def rollback_deployment(self, name: str, created_by: str = "", reason: str = "",
                            force: bool = False) -> Deployment:
        body = {"created_by": created_by, "reason": reason, "force": force}
        return self._get(Deployment, self._call("POST", f"/deployments/{seg(name)}/rollback", body))

    def get_deployment(self, name: str) -> Deployment:
        return self._get(Deployment, self._call("GET", f"/deployments/{seg(name)}"))

    def list_deployments(self) -> list[Deployment]:
        return self._list(Deployment, self._call("GET", "/deployments")["deployments"])

    def list_deployment_revisions(self, name: str) -> list[DeploymentRevision]:
        return self._list(DeploymentRevision, self._call("GET", f"/deployments/{seg(name)}/revisions")["revisions"])

    def delete_deployment(self, name: str) -> None:
        self._call("DELETE", f"/deployments/{seg(name)}")

    def log_feedback(self, deployment: str, feedback: Sequence[Feedback]) -> int:
        data = self._call("POST", f"/deployments/{seg(deployment)}/feedback", {"feedback": self._wire(list(feedback))})
        return int(data["stored"])

    def get_feedback(self, deployment: str, request_ids: Sequence[str] | None = None, start: int | None = None,
                     end: int | None = None) -> list[Feedback]:
        body = {"request_ids": None if request_ids is None else list(request_ids), "start": start, "end": end}
        data = self._call("POST", f"/deployments/{seg(deployment)}/feedback/query", body)
        return self._list(Feedback, data["feedback"])

    # -- feature store: definitions and the record of materializations live in the server's database
    def apply_feature_definition(self, kind: str, name: str, spec: dict[str, object],
                                 description: str = "") -> FeatureDefinition:
        from shipyard.entities import FeatureDefinition

        if kind == "materialization_schedule":  # an admin's route: it steers the server's scheduler
            body = {"schedule": spec.get("schedule"), "online_store": spec.get("online_store")}
            return self._get(FeatureDefinition, self._call("PUT", f"/features/views/{seg(name)}/schedule", body))
        body = {"kind": kind, "name": name, "spec": spec, "description": description}
        return self._get(FeatureDefinition, self._call("POST", "/features/definitions", body))

    def get_feature_definition(self, kind: str, name: str, version: int | None = None) -> FeatureDefinition:
        from shipyard.entities import FeatureDefinition

        if version is None:
            found = self.list_feature_definitions(kind, name)
        else:
            params = {"kind": kind, "name": name, "version": int(version)}
            found = self._list(FeatureDefinition, self._call("GET", "/features/definitions", params=params)[
                "definitions"])
        if not found:
            raise NotFound(f"no {kind} {name!r}: apply it first (shipyard features apply)")
        return found[-1]

    def list_feature_definitions(self, kind: str | None = None, name: str | None = None,
                                 all_versions: bool = False) -> list[FeatureDefinition]:
        from shipyard.entities import FeatureDefinition

        params = {"kind": kind, "name": name, "all_versions": all_versions or None}
        return self._list(FeatureDefinition, self._call("GET", "/features/definitions", params=params)["definitions"])

    def log_feature_materialization(self, feature_view: str, version: int, online_store: str, start_time: int,
                                    end_time: int, rows: int) -> FeatureMaterialization:
        # the record is the incremental watermark of the server's scheduled materializations: it is
        # written where the materialization runs, on the server (an admin's POST /features/materialize)
        raise InvalidInput("materialize through the server (shipyard features materialize against its database "
                           "URI, or POST /api/v1/features/materialize with an admin token)")

    def list_feature_materializations(self, feature_view: str | None = None, online_store: str | None = None,
                                      max_results: int = 100) -> list[FeatureMaterialization]:
        from shipyard.entities import FeatureMaterialization

        params = {"feature_view": feature_view, "online_store": online_store, "max_results": max_results}
        data = self._call("GET", "/features/materializations", params=params)
        return self._list(FeatureMaterialization, data["materializations"])

    def online_features(self, entity_rows: list[dict[str, Any]], features: list[str], *,
                        full_feature_names: bool = False) -> dict[str, list[Any]]:
        """The server's online values (``POST /api/v1/features/online``), as columns."""
        return self.online_lookup(entity_rows, features, full_feature_names=full_feature_names)[0]

    def online_lookup(self, entity_rows: list[dict[str, Any]], features: list[str], *, full_feature_names: bool = False,
                      ) -> tuple[dict[str, list[Any]], dict[str, list[bool]]]:
        """:meth:`online_features`, and per base view which rows the server's online store has an
        entity for (a serving replica's lookup: a missing entity is not a row of nulls)."""
        body = {"entity_rows": entity_rows, "features": features, "full_feature_names": full_feature_names,
                "found": True}
        data = self._call("POST", "/features/online", body)
        return data["features"], data["found"]
