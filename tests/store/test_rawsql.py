"""rawsql: prebuilt statements on the driver's cursor, inside SQLAlchemy's transaction."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import Column, MetaData, String, Table, bindparam, select
from sqlalchemy.exc import IntegrityError

from shipyard.entities import RunInfo
from shipyard.errors import StoreUnavailable
from shipyard.store.sql import rawsql
from shipyard.store.sql import schema as s
from shipyard.store.sql.search import RUN_COLUMNS

_TAG = s.run_tags.insert()
_TAGS_OF = select(s.run_tags.c.key, s.run_tags.c.value).where(s.run_tags.c.run_id == bindparam("rid"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request):
    return request.getfixturevalue(f"{request.param}_store")


def test_run_columns_follow_run_info_fields() -> None:
    # A row of RUN_COLUMNS becomes RunInfo(*row): the orders must agree.
    names = [c.name for c in RUN_COLUMNS]
    assert [f.name for f in dataclasses.fields(RunInfo)] == ["run_name" if n == "name" else n for n in names]


def test_statements_run_in_the_callers_transaction(store) -> None:
    rid = store.create_run(store.create_experiment("e")).info.run_id
    with pytest.raises(RuntimeError), store._write() as conn:
        rawsql.execute_many(conn, _TAG, [{"run_id": rid, "key": "a", "value": "1"}])
        assert rawsql.fetch_all(conn, _TAGS_OF, {"rid": rid}) == [("a", "1")]
        raise RuntimeError("roll back")
    with store._read() as conn:
        assert rawsql.fetch_all(conn, _TAGS_OF, {"rid": rid}) == []
        assert rawsql.fetch_one(conn, _TAGS_OF, {"rid": rid}) is None


def test_driver_errors_become_sqlalchemy_errors(store) -> None:
    rid = store.create_run(store.create_experiment("e")).info.run_id
    row = {"run_id": rid, "key": "a", "value": "1"}
    with pytest.raises(IntegrityError), store._write() as conn:
        rawsql.execute_many(conn, _TAG, [row, row])
    missing = Table("no_such_table", MetaData(), Column("x", String))
    with pytest.raises(StoreUnavailable, match="no_such_table"), store._read() as conn:
        rawsql.fetch_all(conn, select(missing.c.x).where(missing.c.x == bindparam("x")), {"x": "1"})


def test_expanding_parameters_are_refused(sqlite_store) -> None:
    with pytest.raises(TypeError, match="expanding"), sqlite_store._read() as conn:
        rawsql.fetch_all(conn, select(s.runs.c.run_id).where(s.runs.c.run_id.in_(["a", "b"])), {})
