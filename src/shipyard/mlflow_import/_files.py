"""Reading an MLflow file store (an ``mlruns/`` folder), read-only, with the same face as
:class:`~shipyard.mlflow_import._source.MlflowSource`.

Layout (MLflow's ``FileStore``): ``<exp>/meta.yaml`` and ``<exp>/tags/<key>``; ``<exp>/<run>/meta.yaml``,
``params/<key>``, ``tags/<key>`` (a key with ``/`` is a subfolder), ``metrics/<key>`` (lines of
``timestamp value step``) and ``artifacts/``; MLflow 3 logged models in ``<exp>/models/m-*/``; the
registry in ``models/<name>/`` (``meta.yaml`` with the aliases, ``tags/``, ``version-N/``). Nothing
is written; files are only opened for reading.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from shipyard.mlflow_import._source import (
    METRIC_PAGE,
    SourceExperiment,
    SourceLoggedModel,
    SourceModelVersion,
    SourceRegisteredModel,
    SourceRun,
    local_dir,
    parents_first,
)

_STATUS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}


def _meta(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text()) if path.is_file() else None
    return data if isinstance(data, dict) else {}


def _keyed_files(folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def _text(value: Any) -> str:
    return "" if value is None else str(value)


class FileSource:
    """An MLflow ``mlruns/`` folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.base_dir = root.resolve().parent
        self.description = str(root)
        self._run_dirs: dict[str, Path] = {}

    def close(self) -> None:
        pass

    def _experiment_dirs(self) -> Iterator[Path]:
        for trash in (False, True):
            base = self.root / ".trash" if trash else self.root
            if base.is_dir():
                yield from (d for d in sorted(base.iterdir()) if d.is_dir() and (d / "meta.yaml").is_file())

    def experiments(self) -> list[SourceExperiment]:
        found = []
        for d in self._experiment_dirs():
            m = _meta(d / "meta.yaml")
            stage = "deleted" if d.parent.name == ".trash" else _text(m.get("lifecycle_stage") or "active")
            found.append(SourceExperiment(_text(m.get("experiment_id", d.name)), _text(m.get("name")),
                                          _text(m.get("artifact_location")), stage, m.get("creation_time"),
                                          _keyed_files(d / "tags")))
        return found

    def runs(self) -> list[SourceRun]:
        runs = []
        for d in self._experiment_dirs():
            for run_dir in sorted(d.iterdir()):
                m = _meta(run_dir / "meta.yaml") if run_dir.is_dir() else {}
                if not m.get("run_id") and not m.get("run_uuid"):
                    continue  # models/, tags/ and other folders
                run_id = _text(m.get("run_id") or m.get("run_uuid"))
                self._run_dirs[run_id] = run_dir
                parent = run_dir / "tags" / "mlflow.parentRunId"
                status = m.get("status")
                runs.append(SourceRun(
                    run_id, _text(m.get("experiment_id", d.name)), _text(m.get("run_name")),
                    _text(m.get("user_id")), _STATUS.get(status, _text(status)) if isinstance(status, int)
                    else _text(status or "FINISHED"), m.get("start_time"), m.get("end_time"),
                    "deleted" if d.parent.name == ".trash" else _text(m.get("lifecycle_stage") or "active"),
                    _text(m.get("artifact_uri")), parent.read_text().strip() if parent.is_file() else None))
        runs.sort(key=lambda r: (r.start_time or 0, r.run_id))
        return parents_first(runs)

    def params(self, run_id: str) -> dict[str, str]:
        return _keyed_files(self._run_dirs[run_id] / "params")

    def tags(self, run_id: str) -> dict[str, str]:
        return _keyed_files(self._run_dirs[run_id] / "tags")

    def metric_pages(self, run_id: str) -> Iterator[list[tuple[str, float, int, int]]]:
        folder = self._run_dirs[run_id] / "metrics"
        if not folder.is_dir():
            return
        page: list[tuple[str, float, int, int]] = []
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            key = file.relative_to(folder).as_posix()
            # MLflow 3 writes a point again when it links it to a logged model; its SQL store keeps
            # one (the points are its primary key), and so does the import.
            seen: set[tuple[int, int, str]] = set()
            with file.open() as lines:
                for line in lines:
                    parts = line.split()
                    if len(parts) < 2:
                        continue
                    ts, value = int(parts[0]), float(parts[1])
                    step = int(parts[2]) if len(parts) > 2 else 0
                    point = (ts, step, repr(value))  # repr: NaN equals NaN here
                    if point in seen:
                        continue
                    seen.add(point)
                    page.append((key, value, ts, step))
                    if len(page) >= METRIC_PAGE:
                        yield page
                        page = []
        if page:
            yield page

    def logged_models(self) -> dict[str, SourceLoggedModel]:
        found = {}
        for d in self._experiment_dirs():
            for model_dir in sorted((d / "models").glob("m-*")) if (d / "models").is_dir() else []:
                m = _meta(model_dir / "meta.yaml")
                if m.get("model_id"):
                    found[_text(m["model_id"])] = SourceLoggedModel(
                        _text(m["model_id"]), _text(m.get("name") or "model"), _text(m.get("artifact_location")),
                        _text(m.get("source_run_id")) or None)
        return found

    def registered_models(self) -> list[SourceRegisteredModel]:
        models = []
        base = self.root / "models"
        for d in sorted(base.iterdir()) if base.is_dir() else []:
            m = _meta(d / "meta.yaml")
            if not m.get("name"):
                continue
            versions = []
            for vdir in sorted(d.glob("version-*"), key=lambda p: int(p.name.split("-", 1)[1] or 0)):
                v = _meta(vdir / "meta.yaml")
                if not v:
                    continue
                versions.append(SourceModelVersion(
                    _text(m["name"]), int(v.get("version") or vdir.name.split("-", 1)[1]), _text(v.get("source")),
                    _text(v.get("run_id")) or None, _text(v.get("description")),
                    _text(v.get("current_stage") or "None"), _text(v.get("storage_location")),
                    _keyed_files(vdir / "tags")))
            aliases = {str(a): int(n) for a, n in (m.get("aliases") or {}).items()}
            models.append(SourceRegisteredModel(_text(m["name"]), _text(m.get("description")),
                                                _keyed_files(d / "tags"), aliases, versions))
        return models

    def local_dir(self, uri: str) -> Path | None:
        return local_dir(uri, self.base_dir)
