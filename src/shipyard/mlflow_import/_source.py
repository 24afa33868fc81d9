"""Reading an MLflow tracking database (SQLite ``mlflow.db`` or PostgreSQL) with plain SQL.

MLflow is not needed: its schema is read directly, and only the tables and columns the importer
uses (present in every MLflow release since 2.9). The source is opened read-only: SQLite through a
``mode=ro`` URI (no WAL switch, no journal, no migration: the file's bytes and mode stay as they
were), PostgreSQL in a read-only transaction. Large tables are streamed: metrics are read one run at
a time, in pages.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlparse

from shipyard.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from shipyard.mlflow_import._files import FileSource

#: Metric points read (and written) per batch: bounds the memory of a run with millions of points.
METRIC_PAGE = 5000


@dataclass(frozen=True, slots=True)
class SourceExperiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    creation_time: int | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SourceRun:
    run_id: str
    experiment_id: str
    name: str
    user_id: str
    status: str
    start_time: int | None
    end_time: int | None
    lifecycle_stage: str
    artifact_uri: str
    parent_run_id: str | None


@dataclass(frozen=True, slots=True)
class SourceLoggedModel:
    model_id: str
    name: str
    artifact_location: str
    source_run_id: str | None


@dataclass(frozen=True, slots=True)
class SourceModelVersion:
    name: str
    version: int
    source: str
    run_id: str | None
    description: str
    current_stage: str
    storage_location: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SourceRegisteredModel:
    name: str
    description: str
    tags: dict[str, str]
    aliases: dict[str, int]
    versions: list[SourceModelVersion]


class MlflowSource:
    """An MLflow tracking database opened read-only. ``source`` is a path to a SQLite file, a
    ``sqlite:///path`` URI or a ``postgresql://...`` URL."""

    def __init__(self, source: str) -> None:
        self.description = source
        self.base_dir = Path.cwd()
        if source.startswith(("postgresql:", "postgres:", "postgresql+psycopg:")):
            import psycopg

            url = source.replace("postgresql+psycopg:", "postgresql:", 1)
            self._conn: Any = psycopg.connect(url, autocommit=False)
            self._conn.read_only = True
            self._param = "%s"
        else:
            path = Path(source[len("sqlite:///"):] if source.startswith("sqlite:///") else source)
            if path.is_dir() and (path / "mlflow.db").is_file():  # the folder MLflow ran in
                path = path / "mlflow.db"
            if not path.is_file():
                raise NotFound(f"no MLflow database at {str(path)!r}")
            self.base_dir = path.resolve().parent
            # mode=ro: SQLite never writes (no WAL switch, no -journal), even to roll back.
            uri = f"file:{quote(str(path.resolve()))}?mode=ro"
            self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self._param = "?"
        try:
            self._scalar("SELECT version_num FROM alembic_version")
        except Exception as exc:
            self.close()
            raise InvalidInput(f"{source!r} is not an MLflow tracking database (no alembic_version table)") from exc

    def close(self) -> None:
        self._conn.close()

    # -- plain SQL helpers (parameter style differs between sqlite3 and psycopg)
    def _rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        cur = self._conn.cursor()
        cur.execute(sql.replace("?", self._param), params)
        rows = cur.fetchall()
        cur.close()
        return list(rows)

    def _scalar(self, sql: str, *params: Any) -> Any:
        rows = self._rows(sql, *params)
        return rows[0][0] if rows else None

    def _has_table(self, name: str) -> bool:
        try:
            self._rows(f"SELECT 1 FROM {name} WHERE 1 = 0")
        except Exception:
            if self._param == "%s":
                self._conn.rollback()
            return False
        return True

    # -- tracking
    def experiments(self) -> list[SourceExperiment]:
        tags: dict[str, dict[str, str]] = {}
        for key, value, exp_id in self._rows("SELECT key, value, experiment_id FROM experiment_tags"):
            tags.setdefault(str(exp_id), {})[key] = value or ""
        return [SourceExperiment(str(i), n, loc or "", stage or "active", ct, tags.get(str(i), {}))
                for i, n, loc, stage, ct in self._rows(
                    "SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time "
                    "FROM experiments ORDER BY experiment_id")]

    def runs(self) -> list[SourceRun]:
        """Every run (without its data), parents before their children."""
        parents = dict(self._rows("SELECT run_uuid, value FROM tags WHERE key = 'mlflow.parentRunId'"))
        runs = [SourceRun(r, str(e), n or "", u or "", s or "FINISHED", st, et, ls or "active", a or "",
                          parents.get(r))
                for r, e, n, u, s, st, et, ls, a in self._rows(
                    "SELECT run_uuid, experiment_id, name, user_id, status, start_time, end_time, "
                    "lifecycle_stage, artifact_uri FROM runs ORDER BY start_time, run_uuid")]
        return parents_first(runs)

    def params(self, run_id: str) -> dict[str, str]:
        return {k: v for k, v in self._rows("SELECT key, value FROM params WHERE run_uuid = ?", run_id)}

    def tags(self, run_id: str) -> dict[str, str]:
        return {k: v or "" for k, v in self._rows("SELECT key, value FROM tags WHERE run_uuid = ?", run_id)}

    def metric_pages(self, run_id: str) -> Iterator[list[tuple[str, float, int, int]]]:
        """(key, value, timestamp, step) of every point of the run, ``METRIC_PAGE`` at a time (keyset
        pagination on the primary key order, so memory stays flat however long the history)."""
        last: tuple[Any, ...] | None = None
        while True:
            where = "run_uuid = ?"
            params: list[Any] = [run_id]
            if last is not None:
                where += (" AND (key > ? OR (key = ? AND (step > ? OR (step = ? AND (timestamp > ? OR "
                          "(timestamp = ? AND (value > ? OR (value = ? AND is_nan > ?))))))))")
                k, st, ts, val, nan = last
                params += [k, k, st, st, ts, ts, val, val, nan]
            rows = self._rows(f"SELECT key, step, timestamp, value, is_nan FROM metrics WHERE {where} "
                              f"ORDER BY key, step, timestamp, value, is_nan LIMIT {METRIC_PAGE}", *params)
            if not rows:
                return
            last = rows[-1]
            yield [(k, math.nan if nan else float(val), int(ts), int(st)) for k, st, ts, val, nan in rows]
            if len(rows) < METRIC_PAGE:
                return

    def logged_models(self) -> dict[str, SourceLoggedModel]:
        if not self._has_table("logged_models"):
            return {}
        return {m: SourceLoggedModel(m, n, loc or "", r) for m, n, loc, r in self._rows(
            "SELECT model_id, name, artifact_location, source_run_id FROM logged_models "
            "WHERE lifecycle_stage IS NULL OR lifecycle_stage = 'active'")}

    # -- registry
    def registered_models(self) -> list[SourceRegisteredModel]:
        tags: dict[str, dict[str, str]] = {}
        for key, value, name in self._rows("SELECT key, value, name FROM registered_model_tags"):
            tags.setdefault(name, {})[key] = value or ""
        aliases: dict[str, dict[str, int]] = {}
        for alias, version, name in self._rows("SELECT alias, version, name FROM registered_model_aliases"):
            aliases.setdefault(name, {})[alias] = int(version)
        vtags: dict[tuple[str, int], dict[str, str]] = {}
        for key, value, name, version in self._rows("SELECT key, value, name, version FROM model_version_tags"):
            vtags.setdefault((name, int(version)), {})[key] = value or ""
        versions: dict[str, list[SourceModelVersion]] = {}
        for name, version, source, run_id, desc, stage, location in self._rows(
                "SELECT name, version, source, run_id, description, current_stage, storage_location "
                "FROM model_versions ORDER BY name, version"):
            versions.setdefault(name, []).append(SourceModelVersion(
                name, int(version), source or "", run_id or None, desc or "", stage or "None", location or "",
                vtags.get((name, int(version)), {})))
        return [SourceRegisteredModel(n, d or "", tags.get(n, {}), aliases.get(n, {}), versions.get(n, []))
                for n, d in self._rows("SELECT name, description FROM registered_models ORDER BY name")]

    def local_dir(self, uri: str) -> Path | None:
        return local_dir(uri, self.base_dir)


def local_dir(uri: str, base_dir: Path) -> Path | None:
    """The local folder an MLflow artifact URI names, or None (remote stores are not read)."""
    if not uri:
        return None
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
    elif parsed.scheme == "":
        path = Path(uri)
        if not path.is_absolute():  # MLflow's default ./mlruns is relative to where it ran
            path = base_dir / path
    else:
        return None
    return path if path.is_dir() else None


def parents_first(runs: list[SourceRun]) -> list[SourceRun]:
    by_id = {r.run_id: r for r in runs}
    done: set[str] = set()
    ordered: list[SourceRun] = []

    def visit(run: SourceRun, depth: int = 0) -> None:
        if run.run_id in done:
            return
        done.add(run.run_id)
        parent = by_id.get(run.parent_run_id or "")
        if parent is not None and depth < 1000:
            visit(parent, depth + 1)
        ordered.append(run)

    for run in runs:
        visit(run)
    return ordered


def open_source(source: str) -> MlflowSource | FileSource:
    """The MLflow store ``source`` names, opened read-only: a database file or URL, an ``mlruns/``
    folder (``file:///...`` too), or the folder MLflow ran in (its ``mlflow.db`` or ``mlruns/``)."""
    from shipyard.mlflow_import._files import FileSource

    if source.startswith("file:"):
        source = unquote(urlparse(source).path)
    path = Path(source)
    if not source.startswith(("postgres", "sqlite:")) and path.is_dir() and not (path / "mlflow.db").is_file():
        if (path / "mlruns").is_dir() and not (path / "meta.yaml").is_file():
            path = path / "mlruns"
        if not (path / "0").is_dir() and not (path / "models").is_dir() and not any(path.glob("*/meta.yaml")):
            raise InvalidInput(f"{source!r} holds neither an mlflow.db nor an MLflow mlruns/ folder")
        return FileSource(path)
    return MlflowSource(source)
