"""Point-in-time joins on DuckDB: one ASOF JOIN per feature view, every view in one query.

For an entity row at time ``t`` a view gives the row with the latest event time ``e <= t`` (ties:
the latest created time, then the later row of the source), and nothing if that ``e`` is older than
``t - ttl``. With ``as_known_at`` a source row counts only once it is known, at
``k = max(e, created)``: the answer at ``t`` is the best row (by event time, created time, order)
among rows with ``k <= t``. That best row changes only at knowledge times, so each view becomes a
timeline of (key, k, best row so far), a running maximum, and the join is an ASOF JOIN on ``k``.
Without a created column (or without ``as_known_at``) ``k`` is the event time.

Column names are checked identifiers (see ``check_name``) and quoted; paths and times travel as
parameters or through DuckDB's Python API, never as SQL text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInput
from shipyard.features._definitions import DataFrameSource, FeatureView, TableSource

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

__all__ = ["ViewRequest", "connect", "latest_rows", "point_in_time_join", "spine"]

_ORDER = "__shipyard_order"
_FILE = "__shipyard_file"


@dataclass(frozen=True, slots=True)
class ViewRequest:
    """The features wanted from one view, and the output column name of each."""

    view: FeatureView
    features: tuple[str, ...]
    outputs: tuple[str, ...]


def connect() -> duckdb.DuckDBPyConnection:
    try:
        import duckdb
    except ImportError:
        raise InvalidInput("the feature store needs DuckDB: pip install 'shipyard[features]'") from None
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def q(name: str) -> str:
    """A quoted identifier; names were checked to be identifiers when they were defined."""
    return '"' + name.replace('"', '""') + '"'


def _time_us(column: str, type_name: str, what: str) -> str:
    """SQL for microseconds since the epoch, UTC: timestamps (naive ones are UTC), dates, or integer ms."""
    t = type_name.upper()
    if t.startswith("TIMESTAMP"):
        # epoch_ns takes every precision, with or without a time zone (naive times are UTC), and is
        # ten times cheaper than a cast of TIMESTAMPTZ to TIMESTAMP.
        return f"(epoch_ns({q(column)}) // 1000)"
    if t == "DATE":
        return f"epoch_us(CAST({q(column)} AS TIMESTAMP))"
    if t in ("BIGINT", "INTEGER", "UBIGINT", "UINTEGER", "HUGEINT"):
        return f"(CAST({q(column)} AS BIGINT) * 1000)"  # integer milliseconds, the store's own time unit
    raise InvalidInput(f"{what} {column!r} must be a timestamp, a date or integer milliseconds, not {type_name}")


def _register_source(con: duckdb.DuckDBPyConnection, view: FeatureView, name: str) -> tuple[dict[str, str], str]:
    """Make ``name`` a DuckDB view of the source; return its column types and its row-order expression."""
    if isinstance(view.source, DataFrameSource):
        table = _arrow(view.source.data)
        import pyarrow as pa

        table = table.append_column(_ORDER, pa.array(range(table.num_rows), type=pa.int64()))
        con.register(name, table)
        order = q(_ORDER)
    elif isinstance(view.source, TableSource):
        # read by FeatureStore (shipyard.features._tables) into a DataFrame source before it gets here
        raise InvalidInput(f"feature view {view.name!r}: a table source is read through FeatureStore")
    else:
        import duckdb

        try:
            # Files in name order (DuckDB sorts a glob), rows in file order: an integer row order.
            rel = con.sql(f"SELECT *, file_index AS {q(_FILE)}, file_row_number AS {q(_ORDER)} "
                          "FROM read_parquet($path, union_by_name = true)", params={"path": view.source.glob})
        except duckdb.Error as exc:
            raise InvalidInput(f"feature view {view.name!r}: cannot read {view.source.path!r}: {exc}") from None
        rel.create_view(name)
        order = f"(CAST({q(_FILE)} AS BIGINT) * {1 << 40} + {q(_ORDER)})"
    types = {c: str(t) for c, t in zip(con.table(name).columns, con.table(name).types, strict=True)}
    needed = [*view.join_keys, *view.features, view.timestamp_column]
    if view.created_timestamp_column:
        needed.append(view.created_timestamp_column)
    missing = [c for c in needed if c not in types]
    if missing:
        raise InvalidInput(f"feature view {view.name!r}: its source has no column(s) {', '.join(map(repr, missing))}")
    return types, order


def _arrow(data: Any) -> pa.Table:
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    try:
        return pa.Table.from_pandas(data, preserve_index=False)
    except (TypeError, ValueError, pa.ArrowException) as exc:
        raise InvalidInput(f"cannot read the DataFrame as a table: {exc}") from None


def _source_sql(view: FeatureView, name: str, types: dict[str, str], order: str, features: Sequence[str],
                known: bool) -> str:
    """Rows of the source as keys, __e, __c, __k (knowledge time), __o (row order) and features."""
    e = _time_us(view.timestamp_column, types[view.timestamp_column], f"view {view.name!r}: timestamp column")
    c = e
    if view.created_timestamp_column:
        created = view.created_timestamp_column
        c = f"coalesce({_time_us(created, types[created], f'view {view.name!r}: created column')}, {e})"
    k = "greatest(__e, __c)" if known else "__e"
    cols = ", ".join(q(x) for x in (*view.join_keys, *features))
    return (f"SELECT *, {k} AS __k FROM (SELECT {cols}, {e} AS __e, {c} AS __c, {order} AS __o FROM {q(name)}) "
            f"WHERE __e IS NOT NULL")


def point_in_time_join(con: duckdb.DuckDBPyConnection, entity: pa.Table, requests: Sequence[ViewRequest],
                       as_known_at: bool) -> pd.DataFrame:
    """Feature columns (the requests' outputs, in order) for each row of ``entity``, in its order.

    ``entity`` holds the join keys of every view, ``__t`` (microseconds) and ``__row`` (0..n-1)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    con.register("__entity", entity)
    ctes: list[str] = []
    frames: list[pd.DataFrame] = []
    for i, r in enumerate(requests):
        view = r.view
        missing = [k for k in view.join_keys if k not in entity.column_names]
        if missing:
            raise InvalidInput(f"the entity rows lack the join key(s) {', '.join(map(repr, missing))} "
                               f"of feature view {view.name!r}")
        src = f"__src{i}"
        types, order = _register_source(con, view, src)
        known = as_known_at and view.created_timestamp_column is not None
        keys = view.join_keys
        key_cols = ", ".join(q(k) for k in keys)
        on = " AND ".join(f"en.{q(k)} = tl.{q(k)}" for k in keys)
        # The joins pick rows from the keys and times alone; the features are fetched afterwards for
        # the picked rows only. Sorting the whole source with its features for the ASOF JOIN (or the
        # window) held most of a retrieval's memory.
        ctes.append(f"s{i} AS ({_source_sql(view, src, types, order, (), known)})")
        if known:
            ctes.append(f"f{i} AS (SELECT {order} AS __o, {', '.join(q(f) for f in r.features)} FROM {q(src)})")
            # The best row known at each knowledge time: a running maximum of its rank in (e, c, order).
            ctes.append(f"r{i} AS (SELECT *, row_number() OVER (PARTITION BY {key_cols} ORDER BY __e, __c, __o) "
                        f"AS __r FROM s{i})")
            ctes.append(f"t{i} AS (SELECT {key_cols}, __k, max(max(__r)) OVER (PARTITION BY {key_cols} "
                        f"ORDER BY __k ROWS UNBOUNDED PRECEDING) AS __best FROM r{i} GROUP BY {key_cols}, __k)")
            ctes.append(f"m{i} AS (SELECT en.__row, en.__t, {', '.join(f'en.{q(k)}' for k in keys)}, tl.__best "
                        f"FROM __entity en ASOF LEFT JOIN t{i} tl ON {on} AND en.__t >= tl.__k)")
            picked = f"j{i} AS (SELECT m.__row, m.__t, b.__e, b.__o " \
                     f"FROM m{i} m LEFT JOIN r{i} b ON " + " AND ".join(f"m.{q(k)} = b.{q(k)}" for k in keys) + \
                     " AND m.__best = b.__r)"
            ctes.append(picked)
        ttl = None if view.ttl is None else int(view.ttl.total_seconds() * 1_000_000)
        if known:
            outputs = [f"f{i}.{q(f)} AS {q(out)}" for f, out in zip(r.features, r.outputs, strict=True)]
            within = "" if ttl is None else f" WHERE j{i}.__e >= j{i}.__t - {ttl}"
            select = f"SELECT j{i}.__row, {', '.join(outputs)} FROM j{i} JOIN f{i} ON f{i}.__o = j{i}.__o{within}"
        else:
            # The latest event time at or before t (a plain ASOF JOIN on one integer), then every source
            # row of that key and event time; ties between them (latest created, then latest order)
            # are broken below. An ASOF JOIN on a (event, created, order) struct did that in one step
            # but cost twice the time and 100 MB more per 1M rows.
            ctes.append(f"j{i} AS (SELECT en.__row, en.__t, {', '.join(f'en.{q(k)}' for k in keys)}, tl.__k "
                        f"FROM __entity en ASOF LEFT JOIN s{i} tl ON {on} AND en.__t >= tl.__k)")
            ctes.append(f"w{i} AS ({_source_sql(view, src, types, order, r.features, known)})")
            outputs = [f"w{i}.{q(f)} AS {q(out)}" for f, out in zip(r.features, r.outputs, strict=True)]
            within = "" if ttl is None else f" WHERE w{i}.__e >= j{i}.__t - {ttl}"
            select = f"SELECT j{i}.__row, w{i}.__c, w{i}.__o, {', '.join(outputs)} FROM j{i} JOIN w{i} ON " + \
                " AND ".join(f"j{i}.{q(k)} = w{i}.{q(k)}" for k in (*keys, "__k")) + within
        # One query per view: DuckDB would run every view's join at once, holding all their sorted
        # sources in memory together; one at a time, the peak is the largest view's, not the sum.
        # Only the entity rows that get a value come back, unordered, with their row number: putting
        # them in place below is an Arrow take, cheaper than a join with every entity row and a sort
        # of the whole result in DuckDB (which held 1.6x the result's size at 1M rows).
        part = con.sql(f"WITH {', '.join(ctes)} {select}").to_arrow_table()
        rows = part.column(0).to_numpy()
        where = np.full(entity.num_rows, -1, dtype=np.int64)
        if known or not len(rows) or np.bincount(rows).max() == 1:
            where[rows] = np.arange(len(rows), dtype=np.int64)
        else:  # ties: per entity row, the source row with the latest (created, order), last in this sort
            by = np.lexsort((part.column(2).to_numpy(), part.column(1).to_numpy(), rows))
            last = by[np.append(rows[by][1:] != rows[by][:-1], True)]
            where[rows[last]] = last
        # A null index gives a null value: the rows without a value (none in the TTL, or no row at all).
        placed = part.select(list(range(1 if known else 3, part.num_columns))).take(pa.array(where, mask=where < 0))
        del part, rows, where
        # Converted view by view, each view's Arrow buffers freed (back to Arrow's pool, which the next
        # view reuses) as soon as its columns are NumPy: holding every view's Arrow result until the
        # end and converting then held the result twice (1.6 GB for 1M rows x 100 features). One
        # block per view and type, joined without a copy below: a block per column would make pandas
        # warn of a fragmented frame when a column is added (on-demand features do), and one block
        # for all views would be a copy of the whole result.
        frames.append(placed.to_pandas(self_destruct=True))
        del placed
        ctes.clear()
    if not frames:
        return pd.DataFrame(index=pd.RangeIndex(entity.num_rows))
    return pd.concat(frames, axis=1)


def spine(con: duckdb.DuckDBPyConnection, views: Sequence[FeatureView], start_us: int, end_us: int) -> pa.Table:
    """Every (join keys, event time) of the views with start <= time <= end: the entity rows of a
    retrieval without an entity DataFrame. The views must share their join keys."""
    keys = views[0].join_keys
    if any(v.join_keys != keys for v in views):
        raise InvalidInput("without an entity DataFrame every requested view must have the same join keys; "
                           f"got {sorted({v.join_keys for v in views})}")
    parts = []
    for i, view in enumerate(views):
        src = f"__spine{i}"
        types, _ = _register_source(con, view, src)
        e = _time_us(view.timestamp_column, types[view.timestamp_column], f"view {view.name!r}: timestamp column")
        parts.append(f"SELECT {', '.join(q(k) for k in keys)}, {e} AS __t FROM {q(src)} "
                     f"WHERE {e} BETWEEN {int(start_us)} AND {int(end_us)}")
    sql = f"SELECT DISTINCT * FROM ({' UNION ALL '.join(parts)}) ORDER BY __t, {', '.join(q(k) for k in keys)}"
    return con.sql(sql).to_arrow_table()


def latest_rows(con: duckdb.DuckDBPyConnection, view: FeatureView, start_us: int | None, end_us: int) -> pa.Table:
    """Per key, the best row (latest event, then created, then order) among rows known in (start, end]:
    what materialization writes. Columns: join keys, __e, __c (microseconds), features."""
    types, order = _register_source(con, view, "__mat")
    known = view.created_timestamp_column is not None
    src = _source_sql(view, "__mat", types, order, view.features, known)
    where = f"__k <= {int(end_us)}" + ("" if start_us is None else f" AND __k > {int(start_us)}")
    key_cols = ", ".join(q(k) for k in view.join_keys)
    sql = (f"SELECT {key_cols}, __e, __c, {', '.join(q(f) for f in view.features)} FROM ({src}) WHERE {where} "
           f"QUALIFY row_number() OVER (PARTITION BY {key_cols} ORDER BY __e DESC, __c DESC, __o DESC) = 1")
    return con.sql(sql).to_arrow_table()
