"""The feature store's side of serving: a deployment's features for a batch of entity rows.

:class:`OnlineFeatureReader` is built once per deployment revision (so an unknown view, a missing
on-demand function or an unreachable online store fails when the revision loads, not at a
request) and then reads one batch of rows per call: one online-store read per feature view for
the whole batch, never one per row. It answers which rows the store has no entity for, so the
serving app can refuse them (``on_missing="error"``) or serve the binding's defaults.

On-demand views run a Python function that is not stored: a serving process imports it by the
``module:qualname`` the store recorded and checks it against the recorded hash of its source, so
a process never serves a function other than the one the model was trained with.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.errors import InvalidInput, NotFound
from shipyard.features._definitions import OnDemandFeatureView, RequestSource
from shipyard.features._online import entity_key
from shipyard.features._store import FeatureStore

if TYPE_CHECKING:
    from shipyard.entities import FeatureBinding
    from shipyard.store.base import Store

__all__ = ["OnlineFeatureReader"]


def _import_on_demand(fs: FeatureStore, name: str) -> None:
    """Make the stored on-demand view ``name`` usable in this process (import its function)."""
    if ("on_demand_feature_view", name) in fs._defs:
        return
    try:
        record = fs.registry.get_feature_definition("on_demand_feature_view", name)
    except NotFound:
        return  # not an on-demand view: planning looks for a feature view of that name
    spec = record.spec
    module_name, _, qualname = str(spec.get("function", "")).partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError, ValueError) as exc:
        raise InvalidInput(f"on-demand view {name!r} runs {spec.get('function')}, which this process cannot "
                           f"import ({exc}): install or put its module on PYTHONPATH where it is served") from None
    try:
        code = inspect.getsource(target)
    except (OSError, TypeError):
        code = getattr(target, "__qualname__", repr(target))
    if hashlib.sha256(code.encode()).hexdigest() != spec.get("function_sha256"):
        raise InvalidInput(f"on-demand view {name!r}: {spec.get('function')} differs from the version "
                           f"{record.version} applied to the store: apply the new version (a new model should "
                           "be trained on it) or serve the code it was applied with")
    fields = list(spec.get("request_fields") or [])
    view = OnDemandFeatureView(name, function=target, features=spec["features"], inputs=spec.get("inputs", []),
                               request=[RequestSource("request", fields)] if fields else [])
    fs._defs[("on_demand_feature_view", name)] = (view, record.version)


class OnlineFeatureReader:
    """A feature binding resolved against the feature store: ``read`` gives a batch its features.

    ``columns`` are what a request carries (the entity keys, then the request values of on-demand
    features); ``features`` the feature names it gets, in the binding's order."""

    def __init__(self, binding: FeatureBinding, *, store: Store) -> None:
        self.binding = binding
        # over a shipyard server (a RestStore) the definitions come from it, and the online values
        # too unless the binding names an online store this process reaches (see FeatureStore)
        self._fs = FeatureStore(store=store, online_store=binding.online_store)
        self._fs._check_sources = False  # serving reads the online store only: the sources may be elsewhere
        for ref in binding.features:
            _import_on_demand(self._fs, ref.split(":", 1)[0])
        self._plan = self._fs._plan(list(binding.features), False)
        self.features: tuple[str, ...] = self._plan.outputs
        request = [f for odfv in self._plan.on_demand for f in odfv.request_fields]
        self.columns: tuple[str, ...] = tuple(dict.fromkeys([*binding.entity_keys, *request]))
        # For defaults: the base views each served feature depends on.
        odfvs = {o.name: o for o in self._plan.on_demand}
        self._depends: list[tuple[str, ...]] = []
        for ref in binding.features:
            view, _ = ref.split(":")
            inputs = odfvs[view].inputs if view in odfvs else (ref,)
            self._depends.append(tuple(dict.fromkeys(i.split(":")[0] for i in inputs)))
        if not self._fs._remote:
            self._fs.online_store  # noqa: B018 - open (and create) it now: a bad URI fails the load, not a request

    def read(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``rows``: a 2-D object array, one column per :attr:`columns`. Returns (an object array
        with one column per feature, a bool array that is True for rows some view has no entity
        for). Under ``on_missing="default"`` those rows hold the defaults (NaN where not given)."""
        n = len(rows)
        fields = {c: rows[:, i].tolist() for i, c in enumerate(self.columns)}
        out: dict[str, list[Any]] = dict(fields)
        entity_rows = [dict(zip(self.columns, row, strict=True)) for row in rows.tolist()]
        # one read per view of the batch: the online store's, or one request to the server
        found = self._fs._base_lookup(entity_rows, self._plan, False, out)
        if self._plan.on_demand:
            import pandas as pd

            frame = self._fs._apply_on_demand(pd.DataFrame(out), self._plan, False)
            for odfv in self._plan.on_demand:
                for f in odfv.features:
                    out[f] = frame[f].tolist()
        result = np.empty((n, len(self.features)), dtype=object)
        for j, name in enumerate(self.features):
            result[:, j] = out[name]
        missing = np.zeros(n, dtype=bool)
        for ok in found.values():
            missing |= ~np.asarray(ok, dtype=bool)
        if missing.any() and self.binding.on_missing == "default":
            defaults = self.binding.defaults
            for j, (name, views) in enumerate(zip(self.features, self._depends, strict=True)):
                lacking = np.zeros(n, dtype=bool)
                for view in views:
                    lacking |= ~np.asarray(found[view], dtype=bool)
                result[lacking, j] = defaults.get(name, math.nan)
        return result, missing

    def missing_keys(self, rows: np.ndarray, missing: np.ndarray) -> list[dict[str, Any]]:
        """The entity keys of the missing rows (each distinct one once), for an error message."""
        keys = self.binding.entity_keys
        seen: dict[str, dict[str, Any]] = {}
        for i in np.flatnonzero(missing).tolist():
            one = {k: rows[i, self.columns.index(k)] for k in keys}
            seen.setdefault(entity_key(list(one.values())), one)
        return list(seen.values())

    def close(self) -> None:
        self._fs.close()


def feature_columns(values: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The object array ``read`` gives as typed columns: numbers (None as NaN) as float64, else as is."""
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(names):
        column = values[:, j]
        if all(isinstance(v, int | float) or v is None for v in column.tolist()):
            out[name] = np.array([math.nan if v is None else v for v in column.tolist()], dtype=np.float64)
        else:
            out[name] = column
    return out
