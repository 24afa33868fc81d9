"""FeatureStore: apply definitions, build point-in-time training sets, materialize, look up online."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from shipyard.errors import InvalidInput, NotFound
from shipyard.features._definitions import Entity, FeatureView, OnDemandFeatureView
from shipyard.features._offline import ViewRequest, connect, latest_rows, point_in_time_join, q, spine
from shipyard.features._online import OnlineStore, entity_key, open_online_store
from shipyard.features._schedule import MaterializationSchedule, set_materialization_schedule
from shipyard.features._tables import TableBounds, TableReader

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.entities import FeatureDefinition, FeatureMaterialization
    from shipyard.store.base import Store

__all__ = ["FeatureStore"]

Definition = Entity | FeatureView | OnDemandFeatureView
_KIND = {Entity: "entity", FeatureView: "feature_view", OnDemandFeatureView: "on_demand_feature_view"}
LINEAGE_ATTR = "shipyard.feature_views"
MAX_ENTITY_ROWS = 10_000  # one online lookup through a server; a bigger batch is a training set


@dataclass(frozen=True, slots=True)
class _Plan:
    """Feature references resolved: base-view requests, on-demand views, and the output columns."""

    requests: tuple[ViewRequest, ...]
    on_demand: tuple[OnDemandFeatureView, ...]
    outputs: tuple[str, ...]
    hidden: tuple[str, ...]  # base features fetched only as on-demand inputs
    versions: dict[str, int]


def _us(when: datetime | int | None) -> int | None:
    """Microseconds since the epoch from a datetime (naive = UTC) or integer milliseconds."""
    if when is None:
        return None
    if isinstance(when, datetime):
        from datetime import UTC

        aware = when.replace(tzinfo=UTC) if when.tzinfo is None else when
        return int(aware.timestamp() * 1_000_000)
    return int(when) * 1000


class FeatureStore:
    """The feature store of one shipyard store (definitions) and one online store (lookups).

    ``store_uri`` defaults like tracking's (``SHIPYARD_TRACKING_URI``, else ``.shipyard/shipyard.db``);
    ``online_store`` is ``sqlite:///path`` (default: ``SHIPYARD_ONLINE_STORE``, else
    ``online_features.db`` under the shipyard home), ``redis://host:port/db?prefix=name:``, or an
    open :class:`OnlineStore` (shared, e.g. by a server's requests; ``close`` leaves it open).

    Over a shipyard server (``store_uri="http://host:5000"``) without an ``online_store``,
    ``get_online_features`` asks the server (``POST /api/v1/features/online``), which reads its own
    online store; on-demand features are computed here from the values it answers.
    """

    def __init__(self, store_uri: str | None = None, *, online_store: str | OnlineStore | None = None,
                 store: Store | None = None) -> None:
        import os

        from shipyard.config import default_home, resolve_settings

        if store is None:
            from shipyard.tracking.client import shared_store

            settings = resolve_settings(store_uri)
            store = shared_store(settings.store_uri, settings.artifact_uri)
        self._store = store
        self._online: OnlineStore | None = None
        self._owns_online = not (online_store is not None and not isinstance(online_store, str))
        # a client of a server: the definitions are the server's; without an online store of its own
        # the online values are too (the server answers them from its online store)
        self._remote = online_store is None and hasattr(store, "online_features")
        # the source files are the server's (a client) or not where features are only served
        self._check_sources = not hasattr(store, "online_features")
        if isinstance(online_store, str) or online_store is None:
            self._online_uri = (online_store or os.environ.get("SHIPYARD_ONLINE_STORE")
                                or f"sqlite:///{default_home() / 'online_features.db'}")
        else:
            self._online, self._online_uri = online_store, online_store.name
        self._defs: dict[tuple[str, str], tuple[Any, int]] = {}
        self._plans: dict[tuple[tuple[str, ...], bool], _Plan] = {}
        # table sources without a database_uri read the store's own database (a SQL store has a uri;
        # a server's client has none)
        self._tables = TableReader(None if hasattr(store, "online_features") else getattr(store, "uri", None))

    @property
    def registry(self) -> Store:
        """The shipyard store holding the definitions and the record of materializations."""
        return self._store

    # -- definitions
    def apply(self, *definitions: Definition | Iterable[Definition]) -> list[FeatureDefinition]:
        """Store each definition (a new version if it changed) and use it in this process."""
        flat: list[Definition] = []
        for d in definitions:
            flat.extend([d] if isinstance(d, Entity | FeatureView | OnDemandFeatureView) else list(d))
        applied: dict[tuple[str, str], FeatureDefinition] = {}
        for d in flat:
            for one in [*(d.entities if isinstance(d, FeatureView) else ()), d]:
                key = (_KIND.get(type(one), ""), one.name)
                if key not in applied:
                    applied[key] = self._apply_one(one)
        self._plans.clear()
        return list(applied.values())

    def _apply_one(self, d: Definition) -> FeatureDefinition:
        kind = _KIND.get(type(d))
        if kind is None:
            raise InvalidInput(f"cannot apply a {type(d).__name__}: expected an Entity, FeatureView or "
                               "OnDemandFeatureView")
        record = self._store.apply_feature_definition(kind, d.name, d.spec(), d.description)
        self._defs[(kind, d.name)] = (d, record.version)
        return record

    def _resolve(self, kind: str, name: str) -> tuple[Any, int]:
        found = self._defs.get((kind, name))
        if found is None:
            record = self._store.get_feature_definition(kind, name)
            if kind != "feature_view":
                raise InvalidInput(f"on-demand view {name!r} runs a Python function: apply it in this process first")
            # a client of a server reads the definition without the source files, which are the server's
            view = FeatureView.from_spec(name, record.spec, record.description, check_source=self._check_sources)
            found = (view, record.version)
            self._defs[(kind, name)] = found
        return found

    def get_feature_view(self, name: str) -> FeatureView:
        view: FeatureView = self._resolve("feature_view", name)[0]
        return view

    # -- planning
    def _plan(self, features: Sequence[str], full_feature_names: bool) -> _Plan:
        cache_key = (tuple(features), full_feature_names)
        plan = self._plans.get(cache_key)
        if plan is not None:
            return plan
        if isinstance(features, str) or not features:
            raise InvalidInput("features must be a non-empty list of 'view:feature' references")
        wanted: dict[str, list[str]] = {}
        odfvs: dict[str, OnDemandFeatureView] = {}
        outputs: list[str] = []
        versions: dict[str, int] = {}
        for ref in features:
            if not isinstance(ref, str) or ref.count(":") != 1:
                raise InvalidInput(f"a feature reference is 'view:feature', got {ref!r}")
            view_name, feature = ref.split(":")
            outputs.append(f"{view_name}__{feature}" if full_feature_names else feature)
            if ("on_demand_feature_view", view_name) in self._defs:
                odfv, version = self._defs[("on_demand_feature_view", view_name)]
                if feature not in odfv.features:
                    raise InvalidInput(f"on-demand view {view_name!r} has no feature {feature!r}")
                odfvs[view_name], versions[view_name] = odfv, version
                continue
            try:
                view, version = self._resolve("feature_view", view_name)
            except NotFound:
                if self._store.list_feature_definitions("on_demand_feature_view", view_name):
                    # stored, but its function is Python code that only the process that applied it has
                    raise InvalidInput(f"on-demand view {view_name!r} runs a Python function: apply it in this "
                                       "process first (FeatureStore.apply)") from None
                raise NotFound(f"no feature view {view_name!r}: apply it first (FeatureStore.apply or "
                               "shipyard features apply)") from None
            if feature not in view.features:
                raise InvalidInput(f"feature view {view_name!r} has no feature {feature!r} "
                                   f"(it has {', '.join(view.features)})")
            versions[view_name] = version
            wanted.setdefault(view_name, []).append(feature)
        if len(set(outputs)) != len(outputs):
            raise InvalidInput("two references give the same column name: pass full_feature_names=True")
        hidden = []
        for odfv in odfvs.values():
            for ref in odfv.inputs:
                view_name, feature = ref.split(":")
                view, versions[view_name] = self._resolve("feature_view", view_name)
                if feature not in wanted.setdefault(view_name, []):
                    wanted[view_name].append(feature)
                    hidden.append(f"{view_name}__{feature}" if full_feature_names else feature)
        requests = []
        for view_name, feats in wanted.items():
            view = self._resolve("feature_view", view_name)[0]
            outs = tuple(f"{view_name}__{f}" if full_feature_names else f for f in feats)
            requests.append(ViewRequest(view, tuple(feats), outs))
        plan = _Plan(tuple(requests), tuple(odfvs.values()), tuple(outputs), tuple(hidden), versions)
        self._plans[cache_key] = plan
        return plan

    def _apply_on_demand(self, frame: pd.DataFrame, plan: _Plan, full_feature_names: bool) -> pd.DataFrame:
        for odfv in plan.on_demand:
            columns = {}
            for ref in odfv.inputs:
                view_name, feature = ref.split(":")
                columns[feature] = frame[f"{view_name}__{feature}" if full_feature_names else feature]
            for name in odfv.request_fields:
                if name not in frame.columns:
                    raise InvalidInput(f"on-demand view {odfv.name!r} needs the request value {name!r}")
                columns[name] = frame[name]
            import pandas as pd

            result = odfv.function(pd.DataFrame(columns, index=frame.index))
            for f in odfv.features:
                frame[f"{odfv.name}__{f}" if full_feature_names else f] = result[f].to_numpy()
        return frame

    # -- offline
    def get_historical_features(self, entity_df: Any = None, features: Sequence[str] = (), *,
                                timestamp_column: str = "event_timestamp", as_known_at: bool = True,
                                full_feature_names: bool = False, start: datetime | int | None = None,
                                end: datetime | int | None = None, executor: Any = None,
                                partitions: int | None = None) -> pd.DataFrame:
        """For each entity row, each feature's latest value at or before the row's time (within the TTL).

        ``as_known_at`` (default True) also requires the value to be known (its created time) at the
        row's time, so backfilled or corrected values never leak into the past. Without
        ``entity_df``, the rows are every (join keys, event time) of the views in [start, end].
        The frame's ``attrs["shipyard.feature_views"]`` names the views and versions used.

        ``executor``: ``"dask://host:port"`` (``tcp://``, ``tls://``) or a ``distributed.Client`` runs
        the joins on Dask, the rows split by their keys' hash into ``partitions`` parts (default: twice
        the workers); the views' sources must be readable by the workers. The result is the same."""
        import pandas as pd
        import pyarrow as pa

        if executor is not None:
            from shipyard.features._dask import check_dask_executor

            check_dask_executor(executor)
        elif partitions is not None:
            raise InvalidInput("partitions split the rows for a Dask executor: give executor= too")
        plan = self._plan(features, full_feature_names)
        requests = plan.requests
        con = connect()
        try:
            if entity_df is None:
                if start is None or end is None:
                    raise InvalidInput("without an entity DataFrame give start and end")
                bounds = {"min": _us(start) or 0, "max": _us(end) or 0}
                requests = self._read_tables(requests, bounds["min"], bounds["max"])
                views = [r.view for r in requests]
                table = spine(con, views, bounds["min"], bounds["max"])
                frame = table.drop_columns(["__t"]).to_pandas()
                frame[timestamp_column] = pd.to_datetime(table.column("__t").to_numpy(), unit="us", utc=True)
            else:
                frame = entity_df.to_pandas() if isinstance(entity_df, pa.Table) else entity_df.copy()
                table = None
            if timestamp_column not in frame.columns:
                raise InvalidInput(f"the entity rows have no timestamp column {timestamp_column!r}")
            clash = [c for c in (*plan.outputs, *plan.hidden) if c in frame.columns]
            if clash:
                raise InvalidInput(f"the entity rows already have column(s) {', '.join(map(repr, clash))}")
            keys = sorted({k for r in plan.requests for k in r.view.join_keys})
            missing = [k for k in keys if k not in frame.columns]
            if missing:
                raise InvalidInput(f"the entity rows lack the join key(s) {', '.join(map(repr, missing))}")
            entity = pa.Table.from_pandas(frame[keys], preserve_index=False)
            entity = entity.append_column("__t", pa.array(_times_us(frame[timestamp_column]), type=pa.int64()))
            entity = entity.append_column("__row", pa.array(range(len(frame)), type=pa.int64()))
            if entity_df is not None:
                import pyarrow.compute as pc

                bounds = pc.min_max(entity.column("__t")).as_py()
                if bounds["min"] is None:  # no entity rows: an empty range, read for the columns' types only
                    bounds = {"min": 1, "max": 0}
                if executor is None:
                    requests = self._read_tables(requests, bounds["min"], bounds["max"])
            if executor is None:
                result = point_in_time_join(con, entity, requests, as_known_at)
            else:
                from shipyard.features._dask import dask_join

                # the workers read the sources themselves, from the definitions (plan.requests: the
                # tables not read here)
                result = dask_join(executor, entity, plan.requests, as_known_at, store_uri=self._tables.store_uri,
                                   table_bounds=(bounds["min"], bounds["max"]), partitions=partitions)
        finally:
            con.close()
        joined = result  # already pandas, converted view by view (see point_in_time_join)
        joined.index = frame.index
        frame = pd.concat([frame, joined], axis=1)
        frame = self._apply_on_demand(frame, plan, full_feature_names)
        frame = frame.drop(columns=list(plan.hidden))
        frame.attrs[LINEAGE_ATTR] = dict(sorted(plan.versions.items()))
        return frame

    def _read_tables(self, requests: Sequence[ViewRequest], first_us: int, last_us: int) -> tuple[ViewRequest, ...]:
        """The requests with each table source read: rows of events up to the last entity time, and
        from the first one less the view's TTL (older rows cannot be joined)."""
        out = []
        for r in requests:
            ttl = r.view.ttl
            low = None if ttl is None else first_us - int(ttl.total_seconds() * 1_000_000)
            view = self._tables.resolve(r.view, TableBounds(event_min=low, event_max=last_us))
            out.append(r if view is r.view else ViewRequest(view, r.features, r.outputs))
        return tuple(out)

    # -- online
    @property
    def online_store(self) -> OnlineStore:
        if self._online is None:
            self._online = open_online_store(self._online_uri)
        return self._online

    def materialize(self, views: Sequence[str] | None = None, *, end: datetime | int | None = None,
                    full: bool = False) -> list[FeatureMaterialization]:
        """Write each view's newest rows known since its last materialization (all rows with ``full``)
        up to ``end`` (default now) to the online store; the store records each run."""
        names = list(views) if views is not None else sorted(
            {d.name for d in self._store.list_feature_definitions("feature_view")}
            | {n for (k, n) in self._defs if k == "feature_view"})
        end_ms = int(time.time() * 1000) if end is None else (_us(end) or 0) // 1000
        if not names:
            return []
        online = self.online_store
        records = []
        for name in names:
            view, version = self._resolve("feature_view", name)
            last = None if full else next(iter(self._store.list_feature_materializations(name, online.name, 1)), None)
            start_ms = None if last is None else last.end_time
            if start_ms is not None and start_ms >= end_ms:
                continue
            con = connect()
            try:
                start_us = None if start_ms is None else start_ms * 1000
                view = self._tables.resolve(view, TableBounds(event_max=end_ms * 1000, known_after=start_us))
                table = latest_rows(con, view, start_us, end_ms * 1000)
                con.register("__latest", table)
                # the JSON array of the keys, element by element: a list literal needs one type, and
                # composite keys mix them (an integer and a text)
                keys = " || ',' || ".join(f"coalesce(to_json({q(k)})::VARCHAR, 'null')" for k in view.join_keys)
                feats = ", ".join(q(f) for f in view.features)
                rows = con.sql(f"SELECT '[' || {keys} || ']', __e, __c, to_json(struct_pack({feats}))::VARCHAR "
                               "FROM __latest").fetchall()
            finally:
                con.close()
            online.write(name, [(k, e, c, p.encode()) for k, e, c, p in rows])
            records.append(self._store.log_feature_materialization(name, version, online.name, start_ms or 0,
                                                                   end_ms, len(rows)))
        return records

    def get_online_features(self, entity_rows: Sequence[dict[str, Any]], features: Sequence[str], *,
                            full_feature_names: bool = False) -> dict[str, list[Any]]:
        """The latest materialized values for each entity row, as columns: the rows' own fields first
        (join keys and request values), then the features in the order asked (None where missing)."""
        return self._online_lookup(entity_rows, features, full_feature_names)[0]

    def _online_lookup(self, entity_rows: Sequence[dict[str, Any]], features: Sequence[str],
                       full_feature_names: bool) -> tuple[dict[str, list[Any]], dict[str, list[bool]]]:
        """:meth:`get_online_features`, and for each base view which rows the online store has an
        entity for (a row whose features are all null is still found: serving tells them apart)."""
        plan = self._plan(features, full_feature_names)
        n = len(entity_rows)
        out: dict[str, list[Any]] = {}
        if n:
            for field in entity_rows[0]:
                out[field] = [row.get(field) for row in entity_rows]
        found = self._base_lookup(entity_rows, plan, full_feature_names, out)
        if plan.on_demand:
            import pandas as pd

            frame = self._apply_on_demand(pd.DataFrame(out), plan, full_feature_names)
            for odfv in plan.on_demand:  # only the computed columns: the others keep their None
                for f in odfv.features:
                    name = f"{odfv.name}__{f}" if full_feature_names else f
                    out[name] = frame[name].tolist()
        for hidden in plan.hidden:
            out.pop(hidden, None)
        columns = {k: out[k] for k in out if k not in plan.outputs} | {o: out[o] for o in plan.outputs}
        return columns, found

    def _base_lookup(self, entity_rows: Sequence[dict[str, Any]], plan: _Plan, full_feature_names: bool,
                     out: dict[str, list[Any]]) -> dict[str, list[bool]]:
        """The base views' features into ``out``; {view: whether each row has an entity there}."""
        if self._remote:
            return self._remote_lookup(entity_rows, plan, full_feature_names, out)
        return self._local_lookup(entity_rows, plan, out)

    def _remote_lookup(self, entity_rows: Sequence[dict[str, Any]], plan: _Plan, full_feature_names: bool,
                       out: dict[str, list[Any]]) -> dict[str, list[bool]]:
        """The base features from the server (it holds the online store); on-demand ones stay here.
        Only the join keys travel, in lookups of at most the server's bound on rows."""
        refs = [f"{r.view.name}:{f}" for r in plan.requests for f in r.features]
        keys = list(dict.fromkeys(k for r in plan.requests for k in r.view.join_keys))
        try:
            rows = [{k: row[k] for k in keys} for row in entity_rows]
        except KeyError as exc:
            raise InvalidInput(f"an entity row lacks the join key {exc.args[0]!r}") from None
        columns: dict[str, list[Any]] = {o: [] for r in plan.requests for o in r.outputs}
        found: dict[str, list[bool]] = {r.view.name: [] for r in plan.requests}
        for start in range(0, len(rows), MAX_ENTITY_ROWS):
            chunk = rows[start:start + MAX_ENTITY_ROWS]
            answer, has = self._store.online_lookup(  # type: ignore[attr-defined]
                chunk, refs, full_feature_names=full_feature_names)
            for r in plan.requests:
                for o in r.outputs:
                    columns[o].extend(answer[o])
                found[r.view.name].extend(bool(v) for v in has[r.view.name])
        out.update(columns)
        return found

    def _local_lookup(self, entity_rows: Sequence[dict[str, Any]], plan: _Plan,
                      out: dict[str, list[Any]]) -> dict[str, list[bool]]:
        online = self.online_store
        found: dict[str, list[bool]] = {}
        for r in plan.requests:
            join_keys = r.view.join_keys  # a property that builds a tuple: once per view, not per row
            try:
                keys = [entity_key([row[k] for k in join_keys]) for row in entity_rows]
            except KeyError as exc:
                raise InvalidInput(f"an entity row lacks the join key {exc.args[0]!r} "
                                   f"of view {r.view.name!r}") from None
            except TypeError as exc:  # orjson: an integer beyond 64 bits, an object it cannot write
                raise InvalidInput(f"an entity row's key of view {r.view.name!r} is not a plain value: {exc}") from None
            payloads = online.read(r.view.name, keys)
            found[r.view.name] = [p is not None for p in payloads]
            # One JSON array for the whole batch: one orjson call instead of one per row, and missing
            # rows come back as None without a branch.
            values = orjson.loads(b"[" + b",".join(b"null" if p is None else p for p in payloads) + b"]")
            empty: dict[str, Any] = {}
            for f, o in zip(r.features, r.outputs, strict=True):
                out[o] = [(v or empty).get(f) for v in values]
        return found

    # -- scheduling
    def schedule_materialization(self, view: str, schedule: str | None, *,
                                 online_store: str | None = None) -> MaterializationSchedule:
        """Have the shipyard scheduler materialize ``view`` incrementally on ``schedule`` (``"every
        10m"``, a cron expression; None turns it off) into ``online_store`` (default: the
        scheduler's). The scheduler picks a change up at its next tick."""
        return set_materialization_schedule(self._store, view, schedule, online_store=online_store)

    def close(self) -> None:
        self._tables.close()
        if self._online is not None and self._owns_online:
            self._online.close()
        self._online = None if self._owns_online else self._online


def _times_us(column: Any) -> Any:
    """Entity-row times as microseconds: datetimes (naive = UTC) or integer milliseconds."""
    import pandas as pd

    if pd.api.types.is_integer_dtype(column):
        return column.to_numpy(dtype="int64") * 1000
    try:
        times = pd.to_datetime(column, utc=True)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"entity row times must be datetimes or integer milliseconds: {exc}") from None
    if times.isna().any():
        raise InvalidInput("entity row times must not be missing")
    return times.astype("datetime64[us, UTC]").astype("int64").to_numpy()
