"""The training-serving skew check: what serving logged against what the feature store recomputes.

For each logged request (a sample of the window), the entity keys and the request's time go to
``FeatureStore.get_historical_features`` (point in time, as known at that time: the store's
default), and each feature's logged value is compared with the offline one. One result per
feature, ``feature_skew.<feature>``: the share of compared rows whose values differ (numbers within
``tolerance``, absolute and relative; two missing values, NaN or null, are equal), and how many
rows were compared. A share above ``max_mismatch_share`` is an alert like any other check.

Where a mismatch comes from: a view materialized late (serving used an older value than the one
known at the request's time), a different transformation online and offline, a wrong key or unit.

The prediction log holds, for a deployment that serves with feature references, the entity key
columns and one column per feature named as the feature (``feature.<name>`` in the log's format,
see ``shipyard.serving._predlog_schema``). Which features and keys to compare comes from
:func:`_skew_inputs`: the check's own settings where they give them, else the deployment's feature
binding (``Deployment.features``). On-demand features are recomputed too: the monitor imports their
function as serving does, and their request values come from the log (they are model input columns).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from shipyard.errors import InvalidInput, ShipyardError
from shipyard.monitoring._messages import passes
from shipyard.serving._predlog_schema import FEATURE_PREFIX

if TYPE_CHECKING:
    from shipyard.entities import Deployment
    from shipyard.features import FeatureStore
    from shipyard.monitoring._checks import WindowChecks
    from shipyard.monitoring._spec import FeatureSkewSettings
    from shipyard.store.base import Store

__all__ = ["SkewContext", "SkewInputs", "skew_checks"]

logger = logging.getLogger("shipyard.monitoring")

_EXAMPLES = 3  # mismatching rows kept in a result's detail, to show what differs
_TIME = "__served_at"


@dataclass(frozen=True)
class SkewContext:
    """What the skew check needs beyond the window: the store whose feature definitions it reads
    (or a ready ``feature_store``), and the monitored deployment (None when it is gone)."""

    store: Store | None = None
    deployment: Deployment | None = None
    feature_store: FeatureStore | None = None

    def open(self) -> FeatureStore:
        if self.feature_store is not None:
            return self.feature_store
        if self.store is None:
            raise InvalidInput("no feature store to recompute the features with")
        from shipyard.features import FeatureStore

        return FeatureStore(store=self.store)


@dataclass(frozen=True)
class SkewInputs:
    """The features to compare (``view:feature``) and the entity keys the log holds for them."""

    features: tuple[str, ...]
    entity_keys: tuple[str, ...]


def _skew_inputs(cfg: FeatureSkewSettings, deployment: Deployment | None) -> SkewInputs:
    """Which features and keys to compare: the check's settings, each one the settings leave out
    from the deployment's feature binding. InvalidInput naming what is lacking when neither gives
    it (a monitor refuses that when it is created; a run says it in an undecided result)."""
    binding = None if deployment is None else deployment.features
    features = cfg.features if cfg.features is not None else None if binding is None else tuple(binding.features)
    keys = cfg.entity_keys if cfg.entity_keys is not None else None if binding is None else tuple(
        binding.entity_keys)
    if features and keys:
        return SkewInputs(tuple(features), tuple(keys))
    lacking = [name for name, value in (("features", features), ("entity_keys", keys)) if not value]
    whose = ("the monitored deployment is gone" if deployment is None
             else f"deployment {deployment.name!r} is served without features (no feature binding)")
    raise InvalidInput(f"checks.feature_skew: {whose}, so give {' and '.join(lacking)} in the check's "
                       "settings, or deploy it with features=... (see docs/features.md)")


def _column(table: pa.Table, name: str) -> str | None:
    """The log's column of a feature or key: ``feature.<name>`` (how serving logs inputs), else ``<name>``."""
    for candidate in (FEATURE_PREFIX + name, name):
        if candidate in table.column_names:
            return candidate
    return None


def skew_checks(checks: WindowChecks, cfg: FeatureSkewSettings, context: SkewContext | None) -> None:
    """Add one ``feature_skew.<feature>`` result per feature to ``checks`` (one ``feature_skew``
    result when there is no feature to name: neither the settings nor a binding give them)."""
    bound = cfg.max_mismatch_share
    lacking: str | None = None  # why the features cannot be compared before looking at the window
    if context is None:
        lacking = "no feature store: the monitor runs without a store"
        inputs = SkewInputs(tuple(cfg.features or ()), ())
    else:
        try:
            inputs = _skew_inputs(cfg, context.deployment)
        except InvalidInput as exc:  # the binding is gone since the monitor was created
            lacking = str(exc)
            inputs = SkewInputs(tuple(cfg.features or ()), ())
    if lacking is not None and not inputs.features:  # no feature to name a result by
        checks._add("feature_skew", "mismatch_share", None, bound, "max", reason=lacking)
        return
    names = {ref: ref.split(":")[1] for ref in inputs.features}

    def undecided(refs: list[str], reason: str) -> None:
        for ref in refs:
            checks._add(f"feature_skew.{names[ref]}", "mismatch_share", None, bound, "max", reason=reason,
                        feature=ref)

    table = checks.ok
    if lacking is not None or context is None:
        undecided(list(names), lacking or "no feature store")
        return
    if table.num_rows == 0:
        undecided(list(names), "no answered rows in the window")
        return
    keys = {k: _column(table, k) for k in inputs.entity_keys}
    missing_keys = [k for k, c in keys.items() if c is None]
    if missing_keys:
        undecided(list(names), f"the prediction log has no entity key column {', '.join(map(repr, missing_keys))} "
                               f"(logged as {FEATURE_PREFIX}<key>)")
        return
    logged = {ref: _column(table, name) for ref, name in names.items()}
    absent = [ref for ref, column in logged.items() if column is None]
    undecided(absent, "the prediction log has no column for this feature (serving did not log it)")
    present = [ref for ref in names if ref not in absent]
    if not present:
        return
    try:
        fs = context.open()
    except ShipyardError as exc:
        undecided(present, f"the feature store could not recompute the features: {exc}")
        return
    present, request = _on_demand(fs, table, present, undecided)
    if not present:
        return
    if cfg.sample is not None and table.num_rows > cfg.sample:
        # a fixed seed: the same window gives the same sample, so a rerun gives the same result
        rows = np.sort(np.random.default_rng(0).choice(table.num_rows, cfg.sample, replace=False))
        table = table.take(pa.array(rows))
    key_columns = [str(c) for c in keys.values()]
    with_keys = np.ones(table.num_rows, dtype=bool)
    for column in key_columns:
        with_keys &= table[column].is_valid().to_numpy(zero_copy_only=False)
    skipped = int((~with_keys).sum())
    table = table.filter(pa.array(with_keys))
    if table.num_rows == 0:
        undecided(present, f"none of the {skipped} sampled row(s) has all entity keys logged")
        return
    entity = table.select(key_columns).rename_columns(list(keys)).to_pandas()
    for field, column in request.items():
        entity[field] = table[column].to_pandas()
    entity[_TIME] = table["timestamp"].to_pandas()
    try:
        offline = fs.get_historical_features(entity, present, timestamp_column=_TIME)
    except (ShipyardError, ImportError, OSError, ValueError, TypeError) as exc:
        undecided(present, f"the feature store could not recompute the features: {exc}")
        return
    except Exception as exc:  # DuckDB's own errors (a key typed unlike the source's, a missing file)
        if type(exc).__module__.split(".")[0] != "duckdb":
            raise
        undecided(present, f"the feature store could not recompute the features: {exc}")
        return
    for ref in present:
        name = names[ref]
        served = table[str(logged[ref])]
        equal = _equal(served, offline[name].to_numpy(), cfg.tolerance)
        compared = len(equal)
        differ = np.flatnonzero(~equal)
        share = len(differ) / compared
        examples = [{"keys": {k: _plain(entity[k].iloc[i]) for k in keys}, "served": _plain(served[int(i)].as_py()),
                     "offline": _plain(offline[name].iloc[i])} for i in differ[:_EXAMPLES].tolist()]
        checks._add(f"feature_skew.{name}", "mismatch_share", share, bound, "max",
                    None if bound is None else passes("max", share, bound), feature=ref, compared=compared,
                    mismatches=len(differ), skipped_rows=skipped, examples=examples)


def _on_demand(fs: FeatureStore, table: pa.Table, refs: list[str],
               undecided: Callable[[list[str], str], None]) -> tuple[list[str], dict[str, str]]:
    """The features that can be recomputed, and {request field: its log column} for the on-demand
    ones among them. An on-demand view's function is imported as serving imports it (the same
    module and source hash); its request values are model input columns, so the log holds them.
    A view that cannot be imported or whose request values were not logged is undecided alone."""
    from shipyard.features._serving import _import_on_demand

    kept: list[str] = []
    request: dict[str, str] = {}
    for ref in refs:
        view = ref.split(":")[0]
        try:
            _import_on_demand(fs, view)
        except ShipyardError as exc:
            undecided([ref], f"the feature store could not recompute the feature: {exc}")
            continue
        found = fs._defs.get(("on_demand_feature_view", view))
        fields = [] if found is None else list(found[0].request_fields)
        columns = {f: _column(table, f) for f in fields}
        unlogged = [f for f, c in columns.items() if c is None]
        if unlogged:
            undecided([ref], f"on-demand view {view!r} needs the request value(s) {', '.join(map(repr, unlogged))}, "
                             "which the prediction log does not hold")
            continue
        request.update({f: str(c) for f, c in columns.items()})
        kept.append(ref)
    return kept, request


def _missing(values: np.ndarray) -> np.ndarray:
    """None, NaN and pandas' NA as one missing value."""
    import pandas as pd

    return np.asarray(pd.isna(values), dtype=bool)


def _equal(served: pa.ChunkedArray, offline: np.ndarray, tolerance: float) -> np.ndarray:
    """Row by row: whether the served value equals the offline one (see the module doc)."""
    numeric = pa.types.is_integer(served.type) or pa.types.is_floating(served.type) or pa.types.is_boolean(
        served.type) or pa.types.is_null(served.type)
    if numeric and offline.dtype.kind in "biuf":
        a = served.cast(pa.float64()).to_numpy(zero_copy_only=False)  # null -> NaN
        b = offline.astype(np.float64)
        both_missing = np.isnan(a) & np.isnan(b)
        return both_missing | np.isclose(a, b, rtol=tolerance, atol=tolerance, equal_nan=False)
    a_obj = np.asarray(served.to_pylist(), dtype=object)
    b_obj = np.asarray(offline, dtype=object)
    a_missing, b_missing = _missing(a_obj), _missing(b_obj)
    out = a_missing & b_missing
    for i in np.flatnonzero(~a_missing & ~b_missing).tolist():
        x, y = a_obj[i], b_obj[i]
        try:
            out[i] = bool(np.isclose(float(x), float(y), rtol=tolerance, atol=tolerance)) if (
                not isinstance(x, str) and not isinstance(y, str)) else x == y
        except (TypeError, ValueError):
            out[i] = x == y
    return out


def _plain(value: Any) -> Any:
    """A JSON-able value for a result's detail: numbers as float/int, missing as None (never NaN)."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, bool | int | float | str):
        return value
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)
