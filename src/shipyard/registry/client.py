"""RegistryClient: registered models, versions, aliases and lineage, on top of tracking."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from shipyard.entities import STAGE_TAG, STAGES, AliasEvent, ModelVersion, PagedList, RegisteredModel
from shipyard.errors import InvalidInput, NotFound
from shipyard.store import _match as _filter
from shipyard.tracking.client import TrackingClient

__all__ = ["RegistryClient"]

# The key under which ``create_model_version``'s tags hand over the SHA-256 of the model manifest at
# registration. The store keeps it in the version's ``digest`` column (``ModelVersion.digest``),
# written once and never a tag, so nobody who can swap the model's files can rewrite it too;
# loading through the registry checks it.
MODEL_DIGEST_TAG = "shipyard.model_digest"
# A bare model name (or LIKE pattern) as the first argument of the searches, the older shipyard
# spelling; anything else (quotes, operators) is an MLflow filter string.
_PLAIN = re.compile(r"^[\w%][\w\-. %]*$")
_STORE_PAGE = 1000


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

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename a model with its versions, tags and aliases (Conflict while a deployment routes to it)."""
        return self.store.rename_registered_model(name, new_name)

    def search_registered_models(self, filter_string: str | None = None, max_results: int = 100,
                                 order_by: Sequence[str] | None = None, page_token: str | None = None, *,
                                 name_like: str | None = None) -> PagedList[RegisteredModel]:
        """Models matching an MLflow filter (``"name LIKE 'churn%'"``, ``"tags.team = 'risk'"``), or,
        given a bare pattern or ``name_like``, models whose name is LIKE it."""
        if filter_string is not None and _PLAIN.match(filter_string):
            name_like, filter_string = filter_string, None
        if filter_string is None and not order_by:
            return self.store.search_registered_models(name_like, max_results, page_token)
        found = self._all(lambda token: self.store.search_registered_models(name_like, _STORE_PAGE, token))
        found = _filter.order(_filter.filter_items(found, filter_string, _filter.MODEL_ATTRIBUTES),
                              order_by, _filter.MODEL_ATTRIBUTES)
        items, token = _filter.page(found, max_results, page_token)
        return PagedList(items, token)

    @staticmethod
    def _all(fetch: Any) -> list[Any]:
        items: list[Any] = []
        token = None
        while True:
            got = fetch(token)
            items.extend(got)
            token = got.token
            if not token:
                return items

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        self.store.set_registered_model_tag(name, key, str(value))

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.store.delete_registered_model_tag(name, key)

    def create_model_version(self, name: str, source: str, run_id: str | None = None,
                             tags: dict[str, Any] | None = None, description: str | None = "",
                             **mlflow_only: Any) -> ModelVersion:
        """The next version of ``name`` for the model at ``source``. MLflow's ``run_link``,
        ``await_creation_for``, ``local_model_path`` and ``model_id`` are accepted and unused."""
        _accept_only(mlflow_only, {"run_link", "await_creation_for", "local_model_path", "model_id"},
                     "create_model_version")
        return self.store.create_model_version(name, source, run_id, {k: str(v) for k, v in (tags or {}).items()},
                                               description or "")

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

    def search_model_versions(self, filter_string: str | None = None, max_results: int = 1000,
                              order_by: Sequence[str] | None = None, page_token: str | None = None, *,
                              name: str | None = None, run_id: str | None = None) -> PagedList[ModelVersion]:
        """Versions (newest first) matching an MLflow filter (``"name = 'churn'"``,
        ``"run_id IN ('a', 'b')"``, ``"tags.validated = 'yes'"``), or of a model given by a bare name
        or ``name=``, or of a run (``run_id=``)."""
        if filter_string is not None and _PLAIN.match(filter_string) and "%" not in filter_string:
            name, filter_string = filter_string, None
        if filter_string is None and not order_by:
            return self.store.search_model_versions(name, run_id, True, max_results, page_token)
        attrs = _filter.VERSION_ATTRIBUTES
        name = name or _filter.equality_on(filter_string, "name", attrs)
        run_id = run_id or _filter.equality_on(filter_string, "run_id", attrs)
        found = self._all(lambda token: self.store.search_model_versions(name, run_id, True, _STORE_PAGE, token))
        found = _filter.order(_filter.filter_items(found, filter_string, attrs), order_by, attrs)
        items, token = _filter.page(found, max_results, page_token)
        return PagedList(items, token)

    # ------------------------------------------------------------------ MLflow's stages (deprecated there too)
    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]:
        """The newest version in each of ``stages`` (every stage that has one when None), as MLflow."""
        wanted = None if stages is None else [_stage(s) for s in stages]
        latest: dict[str, ModelVersion] = {}
        for mv in self.search_model_versions(name=name, max_results=50_000):  # newest first
            latest.setdefault(mv.current_stage, mv)
        if not latest:
            self.store.get_registered_model(name)  # NotFound for an unknown model
        keys = [s for s in STAGES if s in latest] if wanted is None else [s for s in wanted if s in latest]
        return [latest[s] for s in keys]

    def transition_model_version_stage(self, name: str, version: int | str, stage: str,
                                       archive_existing_versions: bool = False) -> ModelVersion:
        """Move a version to a stage (None, Staging, Production, Archived); with
        ``archive_existing_versions`` the versions already in that stage move to Archived.

        Stages are labels kept for MLflow code: deployments follow versions and aliases, never stages.
        """
        target = _stage(stage)
        if archive_existing_versions and target not in ("Staging", "Production"):
            raise InvalidInput("archive_existing_versions applies only to the Staging and Production stages")
        mv = self.get_model_version(name, version)
        if archive_existing_versions:
            for other in self.search_model_versions(name=name, max_results=50_000):
                if other.version != mv.version and other.current_stage == target:
                    self.store.set_model_version_tag(name, other.version, STAGE_TAG, "Archived")
        self.store.set_model_version_tag(name, mv.version, STAGE_TAG, target)
        return self.get_model_version(name, mv.version)

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        """Where the version's files are: the run's artifact location for a ``runs:/`` source."""
        source = self.get_model_version(name, version).source
        if source.startswith("runs:/"):
            run_id, _, rel = source.removeprefix("runs:/").partition("/")
            return f"{self.get_run(run_id).info.artifact_uri.rstrip('/')}/{rel}"
        return source

    def copy_model_version(self, src_model_uri: str, dst_name: str) -> ModelVersion:
        """Register the model of ``models:/<name>/<version>`` (or ``@alias``) as the next version of
        ``dst_name`` (created if new), with its files, run, tags and recorded digest."""
        match = re.match(r"^models:/([^/@]+)(?:/([^/@]+)|@([^/@]+))/?$", src_model_uri or "")
        if match is None:
            raise InvalidInput(f"copy_model_version needs models:/<name>/<version> or models:/<name>@<alias>, "
                               f"got {src_model_uri!r}")
        src_name, version, alias = match.groups()
        src = (self.get_model_version_by_alias(src_name, alias) if alias is not None
               else self.get_latest_version(src_name) if version.lower() == "latest"
               else self.get_model_version(src_name, version))
        tags = {k: v for k, v in src.tags.items() if k != STAGE_TAG}
        tags[MODEL_DIGEST_TAG] = src.digest or ""
        return self.create_model_version(dst_name, src.source, run_id=src.run_id, tags=tags,
                                         description=src.description)

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


def _stage(stage: str) -> str:
    for known in STAGES:
        if str(stage).lower() == known.lower():
            return known
    raise InvalidInput(f"stage must be one of {', '.join(STAGES)}; got {stage!r}")


def _accept_only(given: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(given) - known)
    if unknown:
        raise TypeError(f"{where}() got unexpected keyword arguments {unknown}")
