"""The importer's reader on MLflow's table layout without MLflow: metric pages, PostgreSQL sources."""

from __future__ import annotations

import importlib.util
import math
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from shipyard.mlflow_import import _source, import_mlflow
from shipyard.store import open_store

_BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "mlflow_import.py"
_spec = importlib.util.spec_from_file_location("_mlflow_import_bench", _BENCH)
assert _spec is not None and _spec.loader is not None
bench: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)
RUN = "a" * 32


def _fill(execute: Any, nan: Any) -> None:
    execute("INSERT INTO experiments VALUES (1, 'src', '', 'active', 0, 0)")
    execute(f"INSERT INTO runs VALUES ('{RUN}', 'r', 'LOCAL', '', '', 'me', 'FINISHED', 5, 9, '', 'active', '', 1, "
            "NULL)")
    for step in range(7):
        for ts in (100, 200):  # two points per step: paging must keep both
            execute(f"INSERT INTO metrics VALUES ('loss', {step + ts / 1000}, {ts}, '{RUN}', {step}, {nan[0]})")
    execute(f"INSERT INTO metrics VALUES ('odd', 0, 1, '{RUN}', 0, {nan[1]})")


def _check(source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_source, "METRIC_PAGE", 4)  # several pages, one boundary inside a step
    store = open_store(f"sqlite:///{tmp_path / 's.db'}", str(tmp_path / "a"))
    assert import_mlflow(source, store).metric_points == 15
    assert import_mlflow(source, store).runs == 0
    exp = store.get_experiment_by_name("src")
    assert exp is not None
    run = store.search_runs([exp.experiment_id])[0]
    assert [(m.step, m.timestamp) for m in store.get_metric_history(run.info.run_id, "loss")] == [
        (s, ts) for s in range(7) for ts in (100, 200)]
    assert math.isnan(store.get_metric_history(run.info.run_id, "odd")[0].value)


def test_metric_history_is_read_in_pages_without_loss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "mlflow.db"
    conn = sqlite3.connect(db)
    conn.executescript(bench.SCHEMA)
    _fill(conn.execute, ("0", "1"))
    conn.commit()
    conn.close()
    _check(str(tmp_path), tmp_path, monkeypatch)  # the folder MLflow ran in: its mlflow.db is read


@pytest.mark.integration
def test_postgresql_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = os.environ.get("SHIPYARD_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("SHIPYARD_TEST_POSTGRES_URL is not set")
    import psycopg

    schema = f"mlflow_src_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        try:
            conn.execute(f"SET search_path TO {schema}")
            for statement in bench.SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            _fill(conn.execute, ("false", "true"))
            sep = "&" if "?" in url else "?"
            _check(f"{url}{sep}options=-csearch_path%3D{schema}", tmp_path, monkeypatch)
        finally:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def test_a_run_shipyard_refuses_is_skipped_with_the_reason_and_not_left_behind(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    conn = sqlite3.connect(db)
    conn.executescript(bench.SCHEMA)
    _fill(conn.execute, ("0", "1"))
    bad = "b" * 32
    conn.execute(f"INSERT INTO runs VALUES ('{bad}', 'bad', 'LOCAL', '', '', 'me', 'FINISHED', 6, 9, '', 'active', "
                 "'', 1, NULL)")
    conn.execute(f"INSERT INTO params VALUES ('x/../y', '1', '{bad}')")  # a key shipyard refuses
    conn.commit()
    conn.close()
    store = open_store(f"sqlite:///{tmp_path / 's.db'}", str(tmp_path / "a"))
    summary = import_mlflow(str(db), store)
    assert summary.runs == 1 and summary.metric_points == 15
    assert [item for item, _ in summary.skipped] == [f"run {bad}"] and "'..'" in summary.skipped[0][1]
    exp = store.get_experiment_by_name("src")
    assert exp is not None
    assert [r.info.run_name for r in store.search_runs([exp.experiment_id])] == ["r"]  # the half run is deleted
    assert import_mlflow(str(db), store).runs == 0
