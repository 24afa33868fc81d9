"""What the store knows about each feature view, for the server's API and the web UI: its latest
definition, how fresh each online store is, its schedule, and the model versions built from it.

Freshness is the end of the newest materialization per online store ("materialized until": every
row known by then is in that store). The model versions come from the lineage tag that
``log_training_set`` sets on the training run (``shipyard.feature_views: trips@2,weather@1``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard.errors import NotFound
from shipyard.features._lineage import LINEAGE_TAG
from shipyard.features._schedule import MaterializationSchedule, get_materialization_schedule

if TYPE_CHECKING:
    from shipyard.entities import FeatureDefinition, FeatureMaterialization
    from shipyard.store.base import Store

__all__ = ["Freshness", "ModelUse", "ViewInfo", "describe_view", "describe_views", "models_using", "source_text"]

_MAX_VERSIONS = 2000  # model versions scanned for lineage: a page's worth, not the whole registry


@dataclass(frozen=True, slots=True)
class Freshness:
    """The newest materialization of a view into one online store."""

    online_store: str
    materialized_until: int
    rows: int
    run_time: int


@dataclass(frozen=True, slots=True)
class ModelUse:
    """A model version whose training run's lineage names feature views (view -> version used)."""

    model: str
    version: int
    feature_views: dict[str, int]


@dataclass(frozen=True, slots=True)
class ViewInfo:
    """A feature view as the UI and the API show it."""

    name: str
    version: int
    description: str
    created_time: int
    entities: list[str]
    join_keys: list[str]
    features: list[str]
    source: str
    timestamp_column: str
    created_timestamp_column: str | None
    ttl_seconds: float | None
    freshness: list[Freshness] = field(default_factory=list)
    schedule: MaterializationSchedule | None = None
    models: list[ModelUse] = field(default_factory=list)
    spec: dict[str, Any] = field(default_factory=dict)


def parse_lineage(text: str) -> dict[str, int]:
    """``"trips@2,weather@1"`` -> {"trips": 2, "weather": 1} (malformed parts are skipped)."""
    out: dict[str, int] = {}
    for part in text.split(","):
        name, _, version = part.strip().partition("@")
        if name and version.isdigit():
            out[name] = int(version)
    return out


def models_using(store: Store) -> list[ModelUse]:
    """Model versions (newest first, up to a bound) whose training run names feature views."""
    uses: list[ModelUse] = []
    lineage: dict[str, dict[str, int]] = {}
    for mv in store.search_model_versions(max_results=_MAX_VERSIONS):
        if not mv.run_id:
            continue
        if mv.run_id not in lineage:
            try:
                lineage[mv.run_id] = parse_lineage(store.get_run(mv.run_id).data.tags.get(LINEAGE_TAG, ""))
            except NotFound:
                lineage[mv.run_id] = {}
        if lineage[mv.run_id]:
            uses.append(ModelUse(mv.name, mv.version, lineage[mv.run_id]))
    return uses


def freshness(materializations: list[FeatureMaterialization]) -> list[Freshness]:
    newest: dict[str, FeatureMaterialization] = {}
    for m in materializations:  # latest end time first
        newest.setdefault(m.online_store, m)
    return [Freshness(m.online_store, m.end_time, m.rows, m.created_time) for m in newest.values()]


def source_text(source: dict[str, Any]) -> str:
    """How a view's source reads in a list: its path, ``table [schema.]name [in URI]``, or its type."""
    if source.get("type") == "table":
        name = ".".join(str(p) for p in (source.get("schema"), source.get("table")) if p)
        return f"table {name}" + (f" in {source['database_uri']}" if source.get("database_uri") else "")
    return str(source.get("path") or source.get("type") or "")


def _info(store: Store, d: FeatureDefinition, uses: list[ModelUse], *, max_materializations: int = 200) -> ViewInfo:
    spec = d.spec
    source = spec.get("source") or {}
    entities = spec.get("entities") or []
    return ViewInfo(
        name=d.name, version=d.version, description=d.description, created_time=d.created_time,
        entities=[str(e.get("name")) for e in entities],
        join_keys=[str(k) for e in entities for k in e.get("join_keys") or []],
        features=[str(f) for f in spec.get("features") or []],
        source=source_text(source),
        timestamp_column=str(spec.get("timestamp_column") or ""),
        created_timestamp_column=spec.get("created_timestamp_column"), ttl_seconds=spec.get("ttl_seconds"),
        freshness=freshness(store.list_feature_materializations(d.name, max_results=max_materializations)),
        schedule=get_materialization_schedule(store, d.name),
        models=[u for u in uses if d.name in u.feature_views], spec=spec)


def describe_views(store: Store) -> list[ViewInfo]:
    """Every feature view's latest version, by name."""
    uses = models_using(store)
    return [_info(store, d, uses) for d in store.list_feature_definitions("feature_view")]


def describe_view(store: Store, name: str) -> tuple[ViewInfo, list[FeatureDefinition], list[FeatureMaterialization]]:
    """(the view, all its versions oldest first, its latest materializations). Raises NotFound."""
    latest = store.get_feature_definition("feature_view", name)
    versions = store.list_feature_definitions("feature_view", name, all_versions=True)
    runs = store.list_feature_materializations(name, max_results=100)
    return _info(store, latest, models_using(store)), versions, runs
