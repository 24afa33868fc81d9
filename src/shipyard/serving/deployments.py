"""Deployments as a user writes them: routes by version or by alias, resolved to versions on creation.

    client.create_deployment("churn-api", routes=[
        {"model": "churn", "version": 3, "weight": 90},
        {"model": "churn", "alias": "challenger", "weight": 10},
    ], shadow=[{"model": "churn", "alias": "candidate"}], batching={"max_batch_size": 32, "max_wait_ms": 2})

An alias is resolved once, when the revision is written, so a revision is immutable: moving the
alias later does not change what the deployment serves until a new revision is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from shipyard.entities import Deployment, DeploymentRevision, FeatureBinding, Route
from shipyard.errors import InvalidInput

if TYPE_CHECKING:
    from shipyard.registry.client import RegistryClient

__all__ = ["DeploymentClient", "as_binding", "resolve_routes"]

RouteSpec = Mapping[str, Any] | Route


def resolve_routes(specs: Iterable[RouteSpec] | None, registry: RegistryClient, *, default_weight: float = 100.0
                   ) -> list[Route] | None:
    """Route specs (dicts with model + version or alias, optional weight) -> resolved Routes."""
    if specs is None:
        return None
    if isinstance(specs, Mapping | str):
        raise InvalidInput("routes must be a list of {'model': ..., 'version' or 'alias': ..., 'weight': ...}")
    routes = []
    for spec in specs:
        if isinstance(spec, Route):
            routes.append(spec)
            continue
        if not isinstance(spec, Mapping) or "model" not in spec:
            raise InvalidInput(f"route {spec!r} needs a 'model' and a 'version' or an 'alias'")
        unknown = set(spec) - {"model", "version", "alias", "weight"}
        if unknown:
            raise InvalidInput(f"route {dict(spec)!r} has unknown keys {sorted(unknown)}")
        model, version, alias = spec["model"], spec.get("version"), spec.get("alias")
        if (version is None) == (alias is None):
            raise InvalidInput(f"route for {model!r} needs exactly one of 'version' and 'alias'")
        if alias is not None:
            version = registry.get_model_version_by_alias(model, str(alias)).version
        try:
            weight = float(spec.get("weight", default_weight))
            number = int(version)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InvalidInput(f"route {dict(spec)!r}: version must be an integer and weight a number") from None
        routes.append(Route(model=str(model), version=number, weight=weight, alias=alias))
    return routes


_BINDING_KEYS = ("features", "entity_keys", "on_missing", "defaults", "online_store")


def as_binding(spec: FeatureBinding | Mapping[str, Any] | None) -> FeatureBinding | None:
    """A FeatureBinding from itself or a dict of its fields (``{"features": [...], "entity_keys": [...]}``)."""
    if spec is None or isinstance(spec, FeatureBinding):
        return spec
    if not isinstance(spec, Mapping):
        raise InvalidInput("features must be a FeatureBinding or a dict like {'features': ['view:feature', ...], "
                           "'entity_keys': ['id'], 'on_missing': 'error' or 'default', 'defaults': {...}}")
    unknown = set(spec) - set(_BINDING_KEYS)
    if unknown or "features" not in spec:
        raise InvalidInput(f"features needs 'features' and may have {', '.join(_BINDING_KEYS[1:])}; "
                           f"unknown keys: {sorted(unknown)}")
    refs, keys = spec["features"], spec.get("entity_keys") or []
    return FeatureBinding(features=[refs] if isinstance(refs, str) else list(refs),
                          entity_keys=[keys] if isinstance(keys, str) else list(keys),
                          on_missing=spec.get("on_missing", "error"), defaults=dict(spec.get("defaults") or {}),
                          online_store=spec.get("online_store"))


class DeploymentClient:
    """Deployment operations over a registry client (mixed into ``shipyard.Client``)."""

    def _registry(self) -> RegistryClient:
        return self  # type: ignore[return-value]

    def create_deployment(
        self, name: str, routes: Iterable[RouteSpec], shadow: Iterable[RouteSpec] | None = None,
        batching: dict[str, int] | None = None, created_by: str = "", reason: str = "", description: str = "",
        features: FeatureBinding | Mapping[str, Any] | None = None,
    ) -> Deployment:
        """A deployment at revision 1. With ``features`` (a FeatureBinding or a dict of its fields),
        requests carry only the entity keys and serving looks the model's input up in the online store."""
        registry = self._registry()
        return registry.store.create_deployment(
            name, resolve_routes(routes, registry) or [], resolve_routes(shadow, registry) or [],
            batching, created_by, reason, description, features=as_binding(features))

    def update_deployment(
        self, name: str, routes: Iterable[RouteSpec] | None = None, shadow: Iterable[RouteSpec] | None = None,
        batching: dict[str, int] | None = None, created_by: str = "", reason: str = "",
        features: FeatureBinding | Mapping[str, Any] | None = None, no_features: bool = False,
    ) -> Deployment:
        """A new revision: parts not given are copied from the current one (its feature binding too,
        unless ``features`` replaces it or ``no_features`` drops it)."""
        registry = self._registry()
        return registry.store.update_deployment(
            name, resolve_routes(routes, registry), resolve_routes(shadow, registry), batching, created_by, reason,
            features=as_binding(features), no_features=no_features)

    def rollback_deployment(self, name: str, created_by: str = "", reason: str = "",
                            force: bool = False) -> Deployment:
        """The previous revision current again; refused (Conflict) when an automatic rollout rolled
        that revision's candidate back, unless ``force``."""
        return self._registry().store.rollback_deployment(name, created_by, reason, force=force)

    def get_deployment(self, name: str) -> Deployment:
        return self._registry().store.get_deployment(name)

    def list_deployments(self) -> list[Deployment]:
        return self._registry().store.list_deployments()

    def list_deployment_revisions(self, name: str) -> list[DeploymentRevision]:
        return self._registry().store.list_deployment_revisions(name)

    def delete_deployment(self, name: str) -> None:
        self._registry().store.delete_deployment(name)
