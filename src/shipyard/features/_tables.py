"""Table sources: the rows of a SQL table a retrieval or a materialization needs, read with SQLAlchemy.

The rows come back as an Arrow table and the view is handed to the DuckDB engine as a
:class:`DataFrameSource`, so point-in-time semantics are exactly those of the other sources. DuckDB's
own postgres/sqlite scanners are not used: they are extensions it downloads at first use.

Names reach SQL only through SQLAlchemy's quoting, after ``check_name``; times are bound parameters.
The WHERE on the timestamp column only narrows what is read (a superset of the rows the join can
use): DuckDB still applies the exact bounds, so a column whose stored values SQL cannot compare
(text in SQLite that SQLAlchemy did not write) is read whole instead.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInput, StoreUnavailable
from shipyard.features._definitions import DataFrameSource, FeatureView, TableSource

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlalchemy.engine import Engine

__all__ = ["TableBounds", "TableReader"]

_BATCH = 50_000  # rows per fetch: a server-side cursor on PostgreSQL, so memory holds one batch of tuples


@dataclass(frozen=True, slots=True)
class TableBounds:
    """Which rows a caller can use, in microseconds since the epoch (None: no bound).

    ``event_min``/``event_max`` bound the event time; ``known_after`` keeps rows whose event or
    created time is later (an incremental materialization reads only what became known since)."""

    event_min: int | None = None
    event_max: int | None = None
    known_after: int | None = None


@dataclass(slots=True)
class TableReader:
    """Reads table sources; ``store_uri`` is the shipyard store's database (None: a store without one,
    such as a server's client). Engines are opened once per database and closed by :meth:`close`."""

    store_uri: str | None
    _engines: dict[str, Engine] = field(default_factory=dict)
    # a server's FeatureStore answers requests from several threads: one engine per database
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def resolve(self, view: FeatureView, bounds: TableBounds) -> FeatureView:
        """``view`` itself, or for a table source the same view over the rows read (a DataFrame source)."""
        if not isinstance(view.source, TableSource):
            return view
        table = self.read(view, bounds)
        resolved = object.__new__(FeatureView)
        for name in FeatureView.__slots__:  # the same definition with another source: no checks to repeat
            object.__setattr__(resolved, name, getattr(view, name))
        object.__setattr__(resolved, "source", DataFrameSource(table))
        return resolved

    def _engine(self, source: TableSource, view: str) -> Engine:
        uri = source.database_uri or self.store_uri
        if uri is None:
            raise InvalidInput(f"feature view {view!r} reads table {source.table!r} of the shipyard store's "
                               "database, which this feature store cannot reach (it talks to a server): give "
                               "TableSource(database_uri=...)")
        path = uri.removeprefix("sqlite:///")
        if path != uri and path not in ("", ":memory:") and not Path(path).exists():
            # SQLite would create an empty database where a path has a typo
            raise InvalidInput(f"feature view {view!r}: no SQLite database at {path!r}")
        with self._lock:
            engine = self._engines.get(uri)
            if engine is None:
                from shipyard.store.sql.engine import make_engine

                engine = self._engines[uri] = make_engine(uri)
        return engine

    def read(self, view: FeatureView, bounds: TableBounds) -> pa.Table:
        """The view's columns of the rows within ``bounds`` (a superset: see the module's docstring)."""
        import pyarrow as pa
        import sqlalchemy as sa

        source = view.source
        if not isinstance(source, TableSource):
            raise InvalidInput(f"feature view {view.name!r} does not read a table")
        engine = self._engine(source, view.name)
        where = f"table {source.table!r}" if source.schema is None else f"table {source.schema}.{source.table}"
        try:
            table = sa.Table(source.table, sa.MetaData(), schema=source.schema, autoload_with=engine)
        except sa.exc.NoSuchTableError:
            raise InvalidInput(f"feature view {view.name!r}: the database has no {where}") from None
        except sa.exc.SQLAlchemyError as exc:
            raise StoreUnavailable(f"feature view {view.name!r}: cannot read {where}: {exc}") from exc
        names = [*view.join_keys, *view.features, view.timestamp_column]
        if view.created_timestamp_column:
            names.append(view.created_timestamp_column)
        missing = [c for c in names if c not in table.c]
        if missing:
            raise InvalidInput(f"feature view {view.name!r}: {where} has no column(s) "
                               f"{', '.join(map(repr, missing))}")
        query = sa.select(*(table.c[c] for c in names)).where(*_conditions(view, table, bounds))
        types = [_arrow_type(table.c[c].type) for c in names]
        batches: list[pa.RecordBatch] = []
        schema: pa.Schema | None = None
        try:
            with engine.connect() as conn:
                result = conn.execution_options(stream_results=True, yield_per=_BATCH).execute(query)
                for part in result.partitions():
                    columns = list(zip(*part, strict=True))
                    batch = pa.record_batch([_array(list(v), t) for v, t in zip(columns, types, strict=True)],
                                            names=names)
                    if schema is None:
                        schema = batch.schema
                    batches.append(batch.cast(schema) if batch.schema != schema else batch)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreUnavailable(f"feature view {view.name!r}: cannot read {where}: {exc}") from exc
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InvalidInput(f"feature view {view.name!r}: the values of {where} do not fit one type per "
                               f"column: {exc}") from None
        if not batches:  # no rows: the columns still need their types (DuckDB checks the time columns')
            return pa.table({n: pa.array([], type=t or pa.null()) for n, t in zip(names, types, strict=True)})
        return pa.Table.from_batches(batches)

    def close(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


def _arrow_type(sql_type: Any) -> pa.DataType | None:
    """The Arrow type of a reflected column, None where the values decide (an unknown or loose type)."""
    import pyarrow as pa
    import sqlalchemy as sa

    if isinstance(sql_type, sa.Boolean):
        return pa.bool_()
    if isinstance(sql_type, sa.Integer):
        return pa.int64()
    if isinstance(sql_type, sa.Float | sa.Numeric):  # separate classes since SQLAlchemy 2.1
        # NUMERIC's Decimals become doubles, as a feature in a Parquet file would be
        return pa.float64()
    if isinstance(sql_type, sa.DateTime):
        return pa.timestamp("us", tz="UTC" if sql_type.timezone else None)
    if isinstance(sql_type, sa.Date):
        return pa.date32()
    if isinstance(sql_type, sa.String):
        return pa.string()
    return None


def _array(values: list[Any], arrow_type: pa.DataType | None) -> pa.Array:
    import pyarrow as pa

    if arrow_type is None:
        return pa.array(values)
    try:
        if pa.types.is_floating(arrow_type):
            # NUMERIC columns give Decimals, which Arrow will not turn into doubles by itself
            return pa.array([None if v is None else float(v) for v in values], type=arrow_type)
        return pa.array(values, type=arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        # SQLite's columns hold any type: let the values decide rather than fail on a declaration
        return pa.array(values)


def _conditions(view: FeatureView, table: Any, bounds: TableBounds) -> list[Any]:
    """WHERE terms on the event (and created) time for ``bounds``; none for a column of another type."""
    import sqlalchemy as sa

    event = table.c[view.timestamp_column]
    created = table.c[view.created_timestamp_column] if view.created_timestamp_column else None
    terms: list[Any] = []
    if bounds.event_max is not None and (v := _bound(event.type, bounds.event_max)) is not None:
        terms.append(event <= v)
    if bounds.event_min is not None and (v := _bound(event.type, bounds.event_min)) is not None:
        terms.append(event >= v)
    if bounds.known_after is not None and (v := _bound(event.type, bounds.known_after)) is not None:
        # known after x: event > x or created > x (a row created late for an old event is new)
        after = _bound(created.type, bounds.known_after) if created is not None else None
        if created is None:
            terms.append(event >= v)
        elif after is not None:
            terms.append(sa.or_(event >= v, created >= after))
    return terms


def _bound(sql_type: Any, us: int) -> Any:
    """A parameter comparable with a column of ``sql_type`` that keeps every row of the exact bound
    (``>=``/``<=`` on a value rounded down for a lower bound is still a superset after DuckDB's filter:
    the bounds are inclusive here and exact there). None where the column's type is unknown."""
    import sqlalchemy as sa

    if isinstance(sql_type, sa.DateTime):
        moment = _EPOCH + timedelta(microseconds=us)  # exact, where a float of seconds may round
        return moment if sql_type.timezone else moment.replace(tzinfo=None)
    if isinstance(sql_type, sa.Date):
        return _date_floor(us)
    if isinstance(sql_type, sa.Integer):
        return us // 1000  # integer milliseconds, the store's own time unit
    return None


def _date_floor(us: int) -> date:
    return (_EPOCH + timedelta(microseconds=us)).date()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
