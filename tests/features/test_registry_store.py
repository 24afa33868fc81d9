"""The store's feature registry, on SQLite and (with SHIPYARD_TEST_POSTGRES_URL) PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.errors import InvalidInput, NotFound
from shipyard.store.sql import SqlStore
from tests.conftest import throwaway_postgres


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.integration])])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    if request.param == "sqlite":
        s = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path))
        yield s
        s.close()
        return
    with throwaway_postgres("shipyard_features") as uri:
        s = SqlStore(uri, str(tmp_path))
        yield s
        s.close()


def test_definitions_are_versioned_by_content(store: SqlStore) -> None:
    a = store.apply_feature_definition("feature_view", "trips", {"features": ["a"], "ttl_seconds": None})
    same = store.apply_feature_definition("feature_view", "trips", {"ttl_seconds": None, "features": ["a"]})
    assert (a.version, same.version, same.digest) == (1, 1, a.digest)  # key order does not matter
    b = store.apply_feature_definition("feature_view", "trips", {"features": ["a", "b"]}, description="more")
    assert b.version == 2
    store.apply_feature_definition("entity", "trips", {"join_keys": ["id"]})  # names are per kind
    assert [(d.kind, d.name, d.version) for d in store.list_feature_definitions()] == [
        ("entity", "trips", 1), ("feature_view", "trips", 2)]
    assert store.get_feature_definition("feature_view", "trips", 1).spec == {"features": ["a"], "ttl_seconds": None}
    assert store.get_feature_definition("feature_view", "trips").description == "more"
    with pytest.raises(NotFound):
        store.get_feature_definition("feature_view", "trips", 3)
    with pytest.raises(InvalidInput):
        store.apply_feature_definition("feature_view", "bad name; drop table", {})
    with pytest.raises(InvalidInput):
        store.apply_feature_definition("feature_view", "x", {"not json": object()})
    assert len(store.list_feature_definitions(all_versions=True)) == 3  # nothing stored by the bad calls


def test_materializations_are_listed_latest_first(store: SqlStore) -> None:
    store.log_feature_materialization("trips", 1, "sqlite:///a", 0, 100, 5)
    store.log_feature_materialization("trips", 2, "sqlite:///a", 100, 200, 7)
    store.log_feature_materialization("trips", 2, "redis://h:6379/0?prefix=x", 0, 150, 9)
    got = store.list_feature_materializations("trips", "sqlite:///a")
    assert [(m.version, m.start_time, m.end_time, m.rows) for m in got] == [(2, 100, 200, 7), (1, 0, 100, 5)]
    assert len(store.list_feature_materializations()) == 3
    with pytest.raises(InvalidInput):
        store.log_feature_materialization("trips", 1, "x", 10, 5, 0)
