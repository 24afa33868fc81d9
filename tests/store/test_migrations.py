"""Databases are created by the migrations, which match the schema the code declares."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from shipyard.errors import StoreUnavailable
from shipyard.store.sql import SqlStore
from shipyard.store.sql.migrate import HEAD_REVISION
from shipyard.store.sql.schema import metadata


def test_fresh_database_is_at_head_and_matches_the_schema(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    store = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path))
    with store._engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD_REVISION
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    store.close()


def test_reopening_keeps_data(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'db.sqlite'}"
    first = SqlStore(uri, str(tmp_path))
    eid = first.create_experiment("kept")
    first.close()
    again = SqlStore(uri, str(tmp_path))
    assert again.get_experiment(eid).name == "kept"
    again.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'db.sqlite'}"
    SqlStore(uri, str(tmp_path)).close()
    engine = create_engine(uri)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(StoreUnavailable, match="newer"):
        SqlStore(uri, str(tmp_path))


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path))
    with store._engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
    store.close()


def test_unusable_database_path_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreUnavailable):
        SqlStore(f"sqlite:///{blocker / 'db.sqlite'}", str(tmp_path))


def test_a_database_from_revision_0001_upgrades_and_keeps_its_data(tmp_path: Path) -> None:
    import shutil

    from shipyard.entities import Route

    old = tmp_path / "old.sqlite"
    shutil.copy(Path(__file__).parent / "data" / "shipyard-0001.sqlite", old)
    store = SqlStore(f"sqlite:///{old}", str(tmp_path))
    run = store.get_run("a" + "0" * 30 + "1")
    assert (run.info.run_name, run.data.params, run.data.metrics) == ("old-run", {"lr": "0.1"}, {"loss": 0.25})
    assert [m.value for m in store.get_metric_history(run.info.run_id, "loss")] == [0.5, 0.25]
    assert store.get_model_version_by_alias("old-model", "champion").version == 1
    store.create_deployment("old-api", [Route("old-model", 1, 100)])  # the tables of 0002 exist
    with store._engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD_REVISION
    store.close()


def test_runs_from_before_leases_are_never_reaped_and_new_ones_are(tmp_path: Path) -> None:
    import shutil

    from sqlalchemy import update

    from shipyard.store.sql.schema import runs

    old = tmp_path / "old.sqlite"
    shutil.copy(Path(__file__).parent / "data" / "shipyard-0001.sqlite", old)
    store = SqlStore(f"sqlite:///{old}", str(tmp_path))  # upgraded through 0008
    old_id = "a" + "0" * 30 + "1"
    with store._engine.begin() as conn:  # as if it had been left RUNNING by an old client
        conn.execute(update(runs).where(runs.c.run_id == old_id).values(status="RUNNING", end_time=None))
    leased = store.create_run(store.get_run(old_id).info.experiment_id, lease_s=1).info.run_id
    far_future = 2**62
    assert store.expire_run_leases(now=far_future) == [leased]
    assert store.get_run(old_id).info.status == "RUNNING"
    assert store.expire_run_leases(now=far_future) == []
    store.close()


def test_0007_moves_the_registration_digest_from_a_tag_into_its_column(tmp_path: Path) -> None:
    """A version registered before 0007 keeps its digest, now where no tag call reaches it; a tag value
    that is no SHA-256 (rewritten by hand) is not trusted."""
    from alembic import command
    from alembic.config import Config

    import shipyard.store.sql.migrate as migrate

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(Path(migrate.__file__).parent / "migrations"))
        config.attributes["connection"] = conn
        command.upgrade(config, "0006")
        conn.execute(text("INSERT INTO registered_models (name, description, creation_time, last_updated_time) "
                          "VALUES ('m', '', 1, 1)"))
        for version, digest in ((1, "ab" * 32), (2, "not-a-digest")):
            conn.execute(text("INSERT INTO model_versions (name, version, source, run_id, description, status, "
                              "archived, creation_time, last_updated_time) "
                              "VALUES ('m', :v, '/m', NULL, '', 'READY', 0, 1, 1)"), {"v": version})
            conn.execute(text("INSERT INTO model_version_tags (name, version, key, value) VALUES "
                              "('m', :v, 'shipyard.model_digest', :d), ('m', :v, 'team', 'a')"),
                         {"v": version, "d": digest})
    engine.dispose()
    store = SqlStore(url, str(tmp_path))
    first, second = store.get_model_version("m", 1), store.get_model_version("m", 2)
    assert (first.digest, first.tags) == ("ab" * 32, {"team": "a"})
    assert (second.digest, second.tags) == (None, {"team": "a"})
    store.close()
