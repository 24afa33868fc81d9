"""A deployment's feature binding: checked against the stored feature definitions, kept in a revision.

The binding travels in the revision's ``batching`` JSON column under the key ``features`` (the
batching settings only ever hold ``max_batch_size`` and ``max_wait_ms``), so serving with features
needed no schema migration; :func:`pack` and :func:`unpack` are the only places that know.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from shipyard.entities import ON_MISSING, FeatureBinding, FeatureDefinition
from shipyard.errors import InvalidInput, NotFound

__all__ = ["check_binding", "pack", "unpack"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_KEY = "features"  # the key of the binding inside the batching JSON object
Lookup = Callable[[str, str], FeatureDefinition]  # (kind, name) -> the latest definition; NotFound


def _definition(lookup: Lookup, view: str) -> FeatureDefinition:
    for kind in ("feature_view", "on_demand_feature_view"):
        try:
            return lookup(kind, view)
        except NotFound:
            continue
    raise NotFound(f"no feature view {view!r}: apply it first (FeatureStore.apply or shipyard features apply)")


def check_binding(binding: FeatureBinding | None, lookup: Lookup) -> FeatureBinding | None:
    """The binding with its entity keys filled in from the views; InvalidInput / NotFound naming
    what is wrong (a malformed reference, an unknown view or feature, a key a view needs)."""
    if binding is None:
        return None
    if not isinstance(binding, FeatureBinding):
        raise InvalidInput(f"features must be a FeatureBinding, got {type(binding).__name__}")
    refs = binding.features
    if isinstance(refs, str) or not isinstance(refs, list | tuple) or not refs:
        raise InvalidInput("features must be a non-empty list of 'view:feature' references")
    join_keys: list[str] = []
    for ref in refs:
        if not isinstance(ref, str) or ref.count(":") != 1 or not all(_NAME.match(p) for p in ref.split(":")):
            raise InvalidInput(f"a feature reference is 'view:feature', got {ref!r}")
        view, feature = ref.split(":")
        d = _definition(lookup, view)
        if feature not in d.spec.get("features", []):
            raise InvalidInput(f"feature view {view!r} has no feature {feature!r} "
                               f"(it has {', '.join(d.spec.get('features', []))})")
        inputs = d.spec.get("inputs", []) if d.kind == "on_demand_feature_view" else [ref]
        for base in inputs:
            spec = d.spec if base == ref else _definition(lookup, base.split(":")[0]).spec
            for entity in spec.get("entities", []):
                join_keys.extend(k for k in entity.get("join_keys", []) if k not in join_keys)
    names = [ref.split(":")[1] for ref in refs]
    if len(set(names)) != len(names):
        raise InvalidInput(f"two references give the same feature name ({', '.join(refs)}): a model input "
                           "column is named by the feature, so each name may be served once")
    keys = list(binding.entity_keys) or join_keys
    for key in keys:
        if not isinstance(key, str) or not _NAME.match(key):
            raise InvalidInput(f"an entity key is a column name, got {key!r}")
    lacking = [k for k in join_keys if k not in keys]
    if lacking:
        raise InvalidInput(f"the feature views are looked up by {', '.join(join_keys)}: the entity keys "
                           f"{', '.join(keys)} lack {', '.join(lacking)}")
    if binding.on_missing not in ON_MISSING:
        raise InvalidInput(f"on_missing must be one of {', '.join(ON_MISSING)}, got {binding.on_missing!r}")
    defaults: dict[str, float] = {}
    for name, value in (binding.defaults or {}).items():
        if name not in names:
            raise InvalidInput(f"a default for {name!r}, which is not one of the served features ({', '.join(names)})")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(f"the default of {name!r} must be a number (NaN allowed), got {value!r}")
        defaults[name] = float(value)
    if defaults and binding.on_missing != "default":
        raise InvalidInput("defaults are served only with on_missing='default'")
    store = binding.online_store
    if store is not None and (not isinstance(store, str)
                              or not store.startswith(("sqlite:///", "redis://", "rediss://", "postgresql://",
                                                       "postgres://", "postgresql+psycopg://"))):
        raise InvalidInput("the online store is sqlite:///path, redis://host:port/db or postgresql://..., "
                           f"got {store!r}")
    return FeatureBinding(features=list(refs), entity_keys=keys, on_missing=binding.on_missing,
                          defaults=defaults, online_store=store or None)


def pack(batching: dict[str, int], binding: FeatureBinding | None) -> dict[str, Any]:
    """The JSON object of the batching column: the settings, and the binding under ``features``."""
    if binding is None:
        return dict(batching)
    # JSON has no NaN: a NaN default is stored as null and read back as NaN
    defaults = {k: None if math.isnan(v) else v for k, v in binding.defaults.items()}
    return {**batching, _KEY: {"features": binding.features, "entity_keys": binding.entity_keys,
                               "on_missing": binding.on_missing, "defaults": defaults,
                               "online_store": binding.online_store}}


def unpack(stored: dict[str, Any]) -> tuple[dict[str, int], FeatureBinding | None]:
    """(batching settings, binding or None) from the batching column's JSON object."""
    if _KEY not in stored:
        return stored, None
    batching = {k: v for k, v in stored.items() if k != _KEY}
    b = stored[_KEY]
    defaults = {k: math.nan if v is None else float(v) for k, v in (b.get("defaults") or {}).items()}
    return batching, FeatureBinding(features=list(b["features"]), entity_keys=list(b.get("entity_keys") or []),
                                    on_missing=b.get("on_missing", "error"), defaults=defaults,
                                    online_store=b.get("online_store"))
