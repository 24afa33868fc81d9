"""TableSource: a table of the store's own database (SQLite, PostgreSQL) or of another one gives what
the same rows as a Parquet file give, in retrieval and in materialization."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shipyard.errors import InvalidInput
from shipyard.features import Entity, FeatureStore, FeatureView, TableSource
from shipyard.features._tables import TableBounds, TableReader
from shipyard.store.sql import SqlStore
from tests.conftest import throwaway_postgres
from tests.features.conftest import T0, minutes, random_entities, random_source

pd = pytest.importorskip("pandas")
sa = pytest.importorskip("sqlalchemy")

KEYS = Entity("pair", join_keys=["k1", "k2"])


@dataclass
class Db:
    """A shipyard store and its database, where the tests write source tables."""

    store: SqlStore
    uri: str
    opened: list[Any] = field(default_factory=list)  # closed before the database goes

    def feature_store(self, online: Path, store: SqlStore | None = None) -> FeatureStore:
        opened = FeatureStore(store=store or self.store, online_store=f"sqlite:///{online}")
        self.opened.append(opened)
        return opened

    def close(self) -> None:
        for opened in self.opened:
            opened.close()
        self.store.close()

    def write(self, name: str, frame: Any, *, if_exists: str = "replace") -> None:
        from shipyard.store.sql.engine import make_engine

        engine = make_engine(self.uri)
        try:
            frame.to_sql(name, engine, index=False, if_exists=if_exists)
        finally:
            engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.integration])])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'store.db'}"
        found = Db(SqlStore(uri, str(tmp_path)), uri)
        yield found
        found.close()
        return
    with throwaway_postgres("shipyard_table_source") as uri:  # a database of its own, dropped after
        found = Db(SqlStore(uri, str(tmp_path)), uri)
        yield found
        found.close()


def _unique(frame: Any) -> Any:
    """Rows with distinct (keys, event, created): a SQL table has no row order to break such ties by
    (a Parquet file's is its order), so the comparison leaves them out."""
    return frame.drop_duplicates(["k1", "k2", "event_timestamp", "created"], keep="last").reset_index(drop=True)


def _pair(db: Db, tmp_path: Path, frame: Any, **view: Any) -> tuple[FeatureStore, FeatureStore]:
    """One feature store reading ``frame`` from a table of the store's database, one from Parquet."""
    db.write("pairs", frame)
    frame.to_parquet(tmp_path / "pairs.parquet")
    from_table = db.feature_store(tmp_path / "online-table.db")
    from_table.apply(FeatureView("pairs", entities=[KEYS], source=TableSource("pairs"), **view))
    parquet_db = SqlStore(f"sqlite:///{tmp_path / 'parquet-store.db'}", str(tmp_path))
    from_parquet = db.feature_store(tmp_path / "online-parquet.db", parquet_db)
    db.opened.append(parquet_db)
    from_parquet.apply(FeatureView("pairs", entities=[KEYS], source=tmp_path / "pairs.parquet", **view))
    return from_table, from_parquet


@pytest.mark.parametrize("as_known_at", [True, False])
@pytest.mark.parametrize("ttl", [None, timedelta(minutes=7)])
def test_historical_features_match_the_same_rows_as_parquet(db: Db, tmp_path: Path, as_known_at: bool,
                                                             ttl: timedelta | None) -> None:
    rng = np.random.default_rng(7)
    frame = _unique(random_source(rng, 400, ["f1", "f2"]))
    frame.loc[::9, "f2"] = np.nan  # missing values travel as such
    from_table, from_parquet = _pair(db, tmp_path, frame, features=["f1", "f2"], created_timestamp_column="created",
                                     ttl=ttl)
    entities = random_entities(rng, 300)
    refs = ["pairs:f1", "pairs:f2"]
    got = from_table.get_historical_features(entities, refs, as_known_at=as_known_at)
    want = from_parquet.get_historical_features(entities, refs, as_known_at=as_known_at)
    pd.testing.assert_frame_equal(got, want)
    assert got["f1"].notna().sum() > 50  # the comparison compares something
    # and a later window of entity rows: the table is read only from there (less the TTL) on
    late = entities[entities.event_timestamp > minutes(30)].reset_index(drop=True)
    pd.testing.assert_frame_equal(from_table.get_historical_features(late, refs, as_known_at=as_known_at),
                                  from_parquet.get_historical_features(late, refs, as_known_at=as_known_at))


def test_retrieval_between_start_and_end_matches_parquet(db: Db, tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    frame = _unique(random_source(rng, 300, ["f1"]))
    from_table, from_parquet = _pair(db, tmp_path, frame, features=["f1"], created_timestamp_column="created",
                                     ttl=timedelta(minutes=5))
    window = {"start": minutes(10), "end": minutes(25)}
    got = from_table.get_historical_features(None, ["pairs:f1"], **window)
    want = from_parquet.get_historical_features(None, ["pairs:f1"], **window)
    assert len(got) > 20
    pd.testing.assert_frame_equal(got, want)


def test_incremental_materialization_matches_parquet(db: Db, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    frame = _unique(random_source(rng, 200, ["f1"]))
    first, later = frame[frame.created <= minutes(20)], frame[frame.created > minutes(20)]
    from_table, from_parquet = _pair(db, tmp_path, first, features=["f1"], created_timestamp_column="created")
    end = int(minutes(20).timestamp() * 1000)
    rows = [{"k1": k1, "k2": k2} for k1 in range(5) for k2 in "ab"]
    assert [m.rows for m in from_table.materialize(end=end)] == [m.rows for m in from_parquet.materialize(end=end)]
    assert from_table.get_online_features(rows, ["pairs:f1"]) == from_parquet.get_online_features(rows, ["pairs:f1"])

    # rows arrive (late ones for old events among them): the next run reads only those
    db.write("pairs", later, if_exists="append")
    pd.concat([first, later]).to_parquet(tmp_path / "pairs.parquet")
    end = int(minutes(80).timestamp() * 1000)
    got, want = from_table.materialize(end=end), from_parquet.materialize(end=end)
    assert [(m.rows, m.start_time) for m in got] == [(m.rows, m.start_time) for m in want]
    assert from_table.get_online_features(rows, ["pairs:f1"]) == from_parquet.get_online_features(rows, ["pairs:f1"])
    assert from_table.materialize(end=end) == []


def test_only_the_needed_rows_and_columns_are_read(db: Db) -> None:
    frame = pd.DataFrame({"k1": [1, 1, 2, 2], "k2": ["a"] * 4, "event_timestamp": minutes([0, 10, 20, 30]),
                          "created": minutes([0, 40, 20, 30]), "f1": [1.0, 2.0, 3.0, 4.0],
                          "unused": ["x"] * 4})
    db.write("narrow", frame)
    view = FeatureView("narrow", entities=[KEYS], source=TableSource("narrow"), features=["f1"],
                       created_timestamp_column="created")
    reader = TableReader(db.uri)
    try:
        def micros(minute: int) -> int:
            return int(minutes(minute).timestamp() * 1_000_000)

        everything = reader.read(view, TableBounds())
        assert everything.column_names == ["k1", "k2", "f1", "event_timestamp", "created"]
        assert everything.num_rows == 4
        assert reader.read(view, TableBounds(event_min=micros(10), event_max=micros(20)))["f1"].to_pylist() == [2, 3]
        # known after minute 25: the row of minute 10 created at 40, and the row of minute 30
        assert sorted(reader.read(view, TableBounds(known_after=micros(25)))["f1"].to_pylist()) == [2.0, 4.0]
        empty = reader.read(view, TableBounds(event_max=micros(-5)))
        assert empty.num_rows == 0 and str(empty.schema.field("event_timestamp").type).startswith("timestamp")
    finally:
        reader.close()


def test_integer_milliseconds_and_aware_times(db: Db, tmp_path: Path) -> None:
    """Event times as integer milliseconds and created times with a time zone read like Parquet's."""
    rng = np.random.default_rng(5)
    frame = _unique(random_source(rng, 150, ["f1"]))
    frame["event_timestamp"] = (frame["event_timestamp"].astype("datetime64[ms]").astype("int64"))
    frame["created"] = frame["created"].dt.tz_localize("UTC")
    from_table, from_parquet = _pair(db, tmp_path, frame, features=["f1"], created_timestamp_column="created",
                                     ttl=timedelta(minutes=10))
    entities = random_entities(rng, 100)
    pd.testing.assert_frame_equal(from_table.get_historical_features(entities, ["pairs:f1"]),
                                  from_parquet.get_historical_features(entities, ["pairs:f1"]))


def test_another_database_and_the_stored_definition(db: Db, tmp_path: Path) -> None:
    other = f"sqlite:///{tmp_path / 'warehouse.db'}"
    Db(db.store, other).write("stations", pd.DataFrame({"k1": [1], "k2": ["a"], "event_timestamp": [T0],
                                                        "f1": [0.5]}))
    store = db.feature_store(tmp_path / "online.db")
    view = FeatureView("stations", entities=[KEYS], source=TableSource("stations", other), features=["f1"])
    [_, record] = store.apply(view)
    assert record.spec["source"] == {"type": "table", "table": "stations", "schema": None, "database_uri": other}
    assert store.apply(view)[1].version == record.version  # unchanged: the same version
    # another process rebuilds it from the store alone
    fresh = db.feature_store(tmp_path / "online.db")
    entities = pd.DataFrame({"k1": [1, 1], "k2": ["a", "b"], "event_timestamp": [T0 + timedelta(hours=1)] * 2})
    assert fresh.get_historical_features(entities, ["stations:f1"])["f1"].tolist()[0] == 0.5
    assert fresh.get_feature_view("stations").source == TableSource("stations", other)


def test_the_password_is_not_stored() -> None:
    source = TableSource("trips", "postgresql://reader:s3cret@db.example:5432/warehouse")
    assert source.spec()["database_uri"] == "postgresql://reader@db.example:5432/warehouse"
    assert source.database_uri is not None and "s3cret" in source.database_uri  # this process keeps it


@pytest.mark.parametrize("table, schema", [("trips; DROP TABLE x", None), ("1trips", None), ('tr"ips', None),
                                           ("trips", "public.x"), ("__trips", None)])
def test_names_that_are_not_identifiers_are_refused(table: str, schema: str | None) -> None:
    with pytest.raises(InvalidInput, match="source table"):
        TableSource(table, schema=schema)


def test_bad_sources_are_clear_errors(db: Db, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="database_uri must be sqlite"):
        TableSource("trips", "mysql://u:pw@host/db")
    try:
        TableSource("trips", "mysql://u:pw@host/db")
    except InvalidInput as exc:
        assert "pw" not in str(exc)
    store = db.feature_store(tmp_path / "online.db")
    entities = pd.DataFrame({"k1": [1], "k2": ["a"], "event_timestamp": [T0]})
    store.apply(FeatureView("typo", entities=[KEYS], source=TableSource("t", f"sqlite:///{tmp_path / 'typo.db'}"),
                            features=["f1"]))
    with pytest.raises(InvalidInput, match="no SQLite database at"):
        store.get_historical_features(entities, ["typo:f1"])
    assert not (tmp_path / "typo.db").exists()
    store.apply(FeatureView("ghost", entities=[KEYS], source=TableSource("no_such_table"), features=["f1"]))
    with pytest.raises(InvalidInput, match="no table 'no_such_table'"):
        store.get_historical_features(entities, ["ghost:f1"])
    db.write("thin", pd.DataFrame({"k1": [1], "k2": ["a"], "event_timestamp": [T0]}))
    store.apply(FeatureView("thin", entities=[KEYS], source=TableSource("thin"), features=["f1"]))
    with pytest.raises(InvalidInput, match=r"no column.*'f1'"):
        store.get_historical_features(entities, ["thin:f1"])
    with pytest.raises(InvalidInput, match=r"no column.*'f1'"):
        store.materialize(["thin"])


def test_no_entity_rows_give_an_empty_frame(db: Db, tmp_path: Path) -> None:
    frame = _unique(random_source(np.random.default_rng(1), 50, ["f1"]))
    from_table, from_parquet = _pair(db, tmp_path, frame, features=["f1"], created_timestamp_column="created")
    none = random_entities(np.random.default_rng(1), 3).iloc[:0]
    pd.testing.assert_frame_equal(from_table.get_historical_features(none, ["pairs:f1"]),
                                  from_parquet.get_historical_features(none, ["pairs:f1"]))


def test_a_table_spec_is_checked_like_the_others() -> None:
    """What the server's POST /features/definitions checks, and how lists show the source."""
    from shipyard.features._catalog import source_text
    from shipyard.features._definitions import check_spec

    view = FeatureView("trips", entities=[KEYS], source=TableSource("trips", schema="raw"), features=["f1"])
    check_spec("feature_view", "trips", view.spec())
    assert source_text(view.spec()["source"]) == "table raw.trips"
    bad = view.spec() | {"source": {"type": "table", "table": "trips; drop table x"}}
    with pytest.raises(InvalidInput, match="source table name"):
        check_spec("feature_view", "trips", bad)
    with pytest.raises(InvalidInput, match="malformed"):
        check_spec("feature_view", "trips", view.spec() | {"source": {"type": "table"}})


def test_a_client_of_a_server_needs_a_database_uri() -> None:
    """Without a URI a table source reads the store's database, which a server's client cannot reach."""
    view = FeatureView("trips", entities=[KEYS], source=TableSource("trips"), features=["f1"])
    with pytest.raises(InvalidInput, match=r"give TableSource\(database_uri=\.\.\.\)"):
        TableReader(None).resolve(view, TableBounds())
