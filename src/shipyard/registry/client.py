"""RegistryClient: registered models, versions, aliases and lineage, on top of tracking."""

from __future__ import annotations

from typing import Any

from shipyard.entities import AliasEvent, ModelVersion, PagedList, RegisteredModel
from shipyard.errors import NotFound
from shipyard.tracking.client import TrackingClient

__all__ = ["RegistryClient"]

# The key under which ``create_model_version``'s tags hand over the SHA-256 of the model manifest at
# registration. The store keeps it in the version's ``digest`` column (``ModelVersion.digest``),
# written once and never a tag, so nobody who can swap the model's files can rewrite it too;
# loading through the registry checks it.
MODEL_DIGEST_TAG = "shipyard.model_digest"


class RegistryClient(TrackingClient):
    """Everything of :class:`TrackingClient` plus the model registry."""

    def create_registered_model(self, name: str, tags: dict[str, Any] | None = None,
                                description: str = "") -> RegisteredModel:
        return self.store.create_registered_model(name, {k: str(v) for k, v in (tags or {}).items()}, description)

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self.store.get_registered_model(name)

    def update_registered_model(self, name: str, description: str) -> RegisteredModel:
        return self.store.update_registered_model(name, description)

    def delete_registered_model(self, name: str) -> None:
        self.store.delete_registered_model(name)

    def search_registered_models(self, name_like: str | None = None, max_results: int = 100,
                                 page_token: str | None = None) -> PagedList[RegisteredModel]:
        return self.store.search_registered_models(name_like, max_results, page_token)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        self.store.set_registered_model_tag(name, key, str(value))

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.store.delete_registered_model_tag(name, key)

    def create_model_version(self, name: str, source: str, run_id: str | None = None,
                             tags: dict[str, Any] | None = None, description: str = "") -> ModelVersion:
        return self.store.create_model_version(name, source, run_id, {k: str(v) for k, v in (tags or {}).items()},
                                               description)

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        return self.store.get_model_version(name, version)  # type: ignore[arg-type]

    def get_latest_version(self, name: str) -> ModelVersion:
        versions = self.store.search_model_versions(name=name, include_archived=False, max_results=1)
        if not versions:
            self.store.get_registered_model(name)  # NotFound for an unknown model
            raise NotFound(f"model {name!r} has no versions")
        return versions[0]

    def update_model_version(self, name: str, version: int | str, description: str | None = None) -> ModelVersion:
        return self.store.update_model_version(name, version, description=description)  # type: ignore[arg-type]

    def archive_model_version(self, name: str, version: int | str, archived: bool = True) -> ModelVersion:
        """Hide a version from "latest" (refused while an alias points to it)."""
        return self.store.update_model_version(name, version, archived=archived)  # type: ignore[arg-type]

    def delete_model_version(self, name: str, version: int | str) -> None:
        self.store.delete_model_version(name, version)  # type: ignore[arg-type]

    def search_model_versions(self, name: str | None = None, run_id: str | None = None,
                              max_results: int = 1000, page_token: str | None = None) -> PagedList[ModelVersion]:
        return self.store.search_model_versions(name, run_id, True, max_results, page_token)

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: Any) -> None:
        self.store.set_model_version_tag(name, version, key, str(value))  # type: ignore[arg-type]

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        self.store.delete_model_version_tag(name, version, key)  # type: ignore[arg-type]

    def set_registered_model_alias(self, name: str, alias: str, version: int | str, reason: str = "") -> None:
        self.store.set_registered_model_alias(name, alias, version, reason)  # type: ignore[arg-type]

    def delete_registered_model_alias(self, name: str, alias: str, reason: str = "") -> None:
        self.store.delete_registered_model_alias(name, alias, reason)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        if alias.lower() == "latest":
            return self.get_latest_version(name)
        return self.store.get_model_version_by_alias(name, alias)

    def get_alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        return self.store.get_alias_history(name, alias)

    def get_model_version_lineage(self, name: str, version: int | str) -> dict[str, Any]:
        """Version -> run -> experiment, params, metrics, tags and the datasets it trained on."""
        mv = self.get_model_version(name, version)
        lineage: dict[str, Any] = {"model": name, "version": mv.version, "source": mv.source,
                                   "aliases": mv.aliases, "run": None}
        if mv.run_id is not None:
            try:
                run = self.get_run(mv.run_id)
            except NotFound:
                return lineage  # the run was removed; the version still names it
            lineage["run"] = {
                "run_id": run.info.run_id, "run_name": run.info.run_name, "experiment_id": run.info.experiment_id,
                "status": run.info.status, "params": run.data.params, "metrics": run.data.metrics,
                "tags": run.data.tags,
                "datasets": [{"name": d.name, "digest": d.digest, "context": d.context, "num_rows": d.num_rows,
                              "source": d.source} for d in run.inputs.datasets],
            }
        return lineage
