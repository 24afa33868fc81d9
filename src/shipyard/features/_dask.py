"""Point-in-time retrieval on Dask: the entity rows split by a hash of their join keys, one DuckDB
retrieval (:func:`shipyard.features._offline.point_in_time_join`) per part on the workers.

Each entity row's answer depends only on its own keys and time and on the sources, so any split of
the rows gives the same values; splitting by the keys' hash keeps every row of one key in one part
(a part joins against the feature rows of its keys only). The views travel as their stored specs and
are rebuilt on the workers, so their sources must be readable there: Parquet paths on storage the
workers share, tables of a database they can reach. A DataFrame source lives in this process only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard.config import dask_address
from shipyard.errors import InvalidInput
from shipyard.features._definitions import DataFrameSource, FeatureView, ParquetSource
from shipyard.features._offline import ViewRequest, connect, point_in_time_join, q

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

__all__ = ["RemoteRequest", "check_dask_executor", "dask_join"]

_ROW = "__row"


@dataclass(frozen=True, slots=True)
class RemoteRequest:
    """A :class:`ViewRequest` as plain data for a worker: the view's stored spec, not the object."""

    name: str
    spec: dict[str, Any]
    description: str
    features: tuple[str, ...]
    outputs: tuple[str, ...]


def check_dask_executor(executor: Any) -> None:
    """InvalidInput unless ``executor`` names a Dask scheduler or is a ``distributed.Client``; nothing
    is contacted (a typo fails before any work)."""
    if isinstance(executor, str):
        if dask_address(executor) is not None:
            return
        raise InvalidInput(f"unknown executor {executor!r} for feature retrieval: use 'dask://host:port' "
                           "(tcp://, tls://) or a distributed.Client")
    if not _is_client(executor):
        raise InvalidInput("executor must be 'dask://host:port' or a distributed.Client, "
                           f"got {type(executor).__name__}")


def _is_client(value: object) -> bool:
    try:
        from distributed import Client
    except ImportError:  # without distributed nothing is a Client
        return False
    return isinstance(value, Client)


@contextlib.contextmanager
def _client(executor: Any) -> Iterator[Any]:
    """The given ``distributed.Client``, or one to the address for this retrieval, closed after it
    (its own, not the pipelines' shared executor, a layer above: retrieval ships stored specs and
    needs none of the settings that executor gives the workers; connecting is small beside a join)."""
    if not isinstance(executor, str):
        yield executor
        return
    address = dask_address(executor)
    assert address is not None  # checked by check_dask_executor before any work
    from distributed import Client

    with Client(address) as client:
        yield client


def dask_join(executor: Any, entity: pa.Table, requests: Sequence[ViewRequest], as_known_at: bool, *,
              store_uri: str | None, table_bounds: tuple[int, int], partitions: int | None = None) -> pd.DataFrame:
    """What ``point_in_time_join(con, entity, requests, as_known_at)`` gives, computed on Dask.

    ``store_uri``: the database of table sources without their own URI; ``table_bounds``: the first
    and last entity time (microseconds), the rows of table sources every part reads."""
    import pandas as pd

    remote = []
    for r in requests:
        if isinstance(r.view.source, DataFrameSource):
            raise InvalidInput(f"feature view {r.view.name!r} reads a DataFrame of this process, which Dask workers "
                               "cannot read: write it to Parquet (a path the workers share) for retrieval on Dask")
        remote.append(RemoteRequest(r.view.name, r.view.spec(), r.view.description, r.features, r.outputs))
    with _client(executor) as client:
        if partitions is None:
            workers = len(client.scheduler_info().get("workers", {})) or 1
            partitions = 2 * workers  # a straggler's part is half a worker's share
        if not isinstance(partitions, int) or partitions < 1:
            raise InvalidInput(f"partitions must be a positive integer, got {partitions!r}")
        parts = _split(entity, requests, partitions)
        futures = [client.submit(_join_part, part, remote, as_known_at, store_uri, table_bounds, pure=False)
                   for part in parts if part.num_rows]
        results = client.gather(futures)
    if not results:  # no entity rows: the empty answer, with its types, computed here as a worker would
        results = [_join_part(entity, remote, as_known_at, store_uri, table_bounds)]
    # pandas joins the parts' dtypes as one process's conversion would (an integer column with a
    # missing value in any part becomes float64, as it does in one frame)
    joined = pd.concat(results, ignore_index=True)
    # back to the order of the entity rows: __row is 0..n-1, so sorting by it is the permutation
    return joined.sort_values(_ROW, kind="stable").drop(columns=[_ROW]).reset_index(drop=True)


def _split(entity: pa.Table, requests: Sequence[ViewRequest], n: int) -> list[pa.Table]:
    """``entity`` in ``n`` parts by a hash of all the views' join keys (stable across processes)."""
    import pandas as pd
    import pyarrow as pa

    keys = sorted({k for r in requests for k in r.view.join_keys})
    if n == 1 or not keys:
        return [entity]
    hashes = pd.util.hash_pandas_object(entity.select(keys).to_pandas(), index=False).to_numpy()
    bucket = hashes % n
    return [entity.filter(pa.array(bucket == i)) for i in range(n)]


def _join_part(entity: pa.Table, requests: Sequence[RemoteRequest], as_known_at: bool, store_uri: str | None,
               table_bounds: tuple[int, int]) -> pd.DataFrame:
    """On a worker: the views rebuilt from their specs, the part's features, and its ``__row``."""
    import pyarrow as pa

    from shipyard.features._tables import TableBounds, TableReader

    reader = TableReader(store_uri)
    con = connect()
    try:
        rebuilt = []
        for r in requests:
            view = FeatureView.from_spec(r.name, r.spec, r.description)
            ttl = view.ttl
            low = None if ttl is None else table_bounds[0] - int(ttl.total_seconds() * 1_000_000)
            # the same rows a retrieval in one process reads, so the columns get the same types
            view = reader.resolve(view, TableBounds(event_min=low, event_max=table_bounds[1]))
            view = _own_keys(con, view, entity)
            rebuilt.append(ViewRequest(view, r.features, r.outputs))
        # the join wants __row as 0..n-1 of its own rows (it places values by it); the rows' numbers
        # in the whole entity frame go back with the result
        rows = entity.column(_ROW).to_numpy()
        local = entity.set_column(entity.schema.get_field_index(_ROW), _ROW,
                                  pa.array(range(entity.num_rows), type=pa.int64()))
        result = point_in_time_join(con, local, rebuilt, as_known_at)
    finally:
        con.close()
        reader.close()
    result[_ROW] = rows
    return result


def _own_keys(con: duckdb.DuckDBPyConnection, view: FeatureView, entity: pa.Table) -> FeatureView:
    """A Parquet view narrowed to the rows of the part's keys (a DataFrame source), so that a worker
    holds about its share of the source rather than all of it; other views as they are.

    The rows keep their file order (file, then row number), which is what breaks ties between rows
    of one event and created time, so the answers are those of the whole source."""
    import duckdb

    if not isinstance(view.source, ParquetSource):
        return view
    columns = [*view.join_keys, *view.features, view.timestamp_column]
    if view.created_timestamp_column:
        columns.append(view.created_timestamp_column)
    con.register("__part_keys", entity.select(list(view.join_keys)))
    on = " AND ".join(f"s.{q(k)} = k.{q(k)}" for k in view.join_keys)
    try:
        rows = con.sql(
            f"SELECT {', '.join(f's.{q(c)}' for c in columns)} FROM (SELECT *, file_index AS __f, "
            "file_row_number AS __o FROM read_parquet($path, union_by_name = true)) s "
            f"SEMI JOIN (SELECT DISTINCT {', '.join(q(k) for k in view.join_keys)} FROM __part_keys) k ON {on} "
            "ORDER BY s.__f, s.__o", params={"path": view.source.glob}).to_arrow_table()
    except duckdb.Error:
        return view  # a missing column, an unreadable file: the retrieval itself says so, as in one process
    finally:
        con.unregister("__part_keys")
    narrowed = object.__new__(FeatureView)
    for name in FeatureView.__slots__:  # the same definition over the rows read: no checks to repeat
        object.__setattr__(narrowed, name, getattr(view, name))
    object.__setattr__(narrowed, "source", DataFrameSource(rows))
    return narrowed
