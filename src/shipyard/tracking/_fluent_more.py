"""The rest of MLflow's module-level tracking functions, so MLflow code ports by renaming the import.

``get_run``, ``get_parent_run``, the experiment functions, ``delete_tag``, ``log_image``,
``log_table`` / ``load_table``.
They use the store the fluent API uses (``set_tracking_uri``).
"""

from __future__ import annotations

import struct
import tempfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from shipyard.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from shipyard.entities import Experiment, Run

__all__ = [
    "create_experiment",
    "delete_experiment",
    "delete_tag",
    "get_experiment",
    "get_experiment_by_name",
    "get_parent_run",
    "get_run",
    "load_table",
    "log_image",
    "log_table",
    "search_experiments",
    "set_experiment_tag",
    "set_experiment_tags",
]


def _client() -> Any:
    from shipyard.tracking.fluent import _session

    return _session.client


def get_run(run_id: str) -> Run:
    """The run with its params, tags, latest metrics and inputs (NotFound for an unknown id)."""
    client = _client()
    client.flush(run_id)  # metrics this process buffered for the run are part of it
    return client.get_run(run_id)


def get_parent_run(run_id: str) -> Run | None:
    """The parent of a nested run, or None for a top-level run."""
    parent = get_run(run_id).info.parent_run_id
    return None if parent is None else get_run(parent)


def get_experiment(experiment_id: str) -> Experiment:
    return _client().get_experiment(experiment_id)  # type: ignore[no-any-return]


def get_experiment_by_name(name: str) -> Experiment | None:
    return _client().get_experiment_by_name(name)  # type: ignore[no-any-return]


def create_experiment(name: str, artifact_location: str | None = None,
                      tags: dict[str, Any] | None = None) -> str:
    """Create an experiment and return its id (AlreadyExists if the name is taken)."""
    return _client().create_experiment(name, artifact_location,  # type: ignore[no-any-return]
                                       {k: str(v) for k, v in (tags or {}).items()} or None)


def delete_experiment(experiment_id: str) -> None:
    _client().delete_experiment(experiment_id)


def search_experiments(view_type: str | int = "active", max_results: int | None = None,
                       filter_string: str | None = None, order_by: Sequence[str] | None = None) -> list[Experiment]:
    """Experiments matching an MLflow filter (``"name LIKE 'churn%'"``, ``"tags.team = 'risk'"``)."""
    from shipyard.tracking.fluent import view_type as to_view_type

    return _client().search_experiments(to_view_type(view_type), max_results=max_results or 50_000,  # type: ignore[no-any-return]
                                        filter_string=filter_string, order_by=order_by)


def set_experiment_tag(key: str, value: Any) -> None:
    """Tag the active experiment."""
    from shipyard.tracking.fluent import _experiment_id

    _client().set_experiment_tag(_experiment_id(), key, value)


def set_experiment_tags(tags: dict[str, Any]) -> None:
    for key, value in tags.items():
        set_experiment_tag(key, value)


def delete_tag(key: str) -> None:
    """Delete a tag of the active run."""
    from shipyard.tracking.fluent import _current

    run = _current("delete_tag")
    run._client.delete_tag(run.info.run_id, key)


# ---------------------------------------------------------------------------------------- images
def _png(array: Any) -> bytes:
    """PNG bytes of an image array (H x W grey, H x W x 3 RGB or H x W x 4 RGBA; uint8, or floats in
    0..1), without Pillow."""
    import numpy as np

    img = np.asarray(array)
    if img.dtype.kind == "f":
        if img.size and (np.nanmin(img) < 0 or np.nanmax(img) > 1):
            raise InvalidInput("a float image must have values in 0..1 (or pass uint8 values 0..255)")
        img = np.round(np.nan_to_num(img) * 255)
    elif img.dtype.kind in "iub" and img.size and (img.min() < 0 or img.max() > 255):
        raise InvalidInput("an integer image must have values in 0..255")
    img = img.astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        color = 0
    elif img.ndim == 3 and img.shape[2] in (3, 4):
        color = 2 if img.shape[2] == 3 else 6
    else:
        raise InvalidInput(f"an image is H x W, H x W x 3 or H x W x 4; got shape {img.shape}")
    height, width = img.shape[:2]
    raw = b"".join(b"\x00" + img[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def log_image(image: Any, artifact_file: str | None = None, *, key: str | None = None, step: int | None = None,
              timestamp: int | None = None) -> None:
    """Save an image (a NumPy array or a PIL image) as a PNG artifact of the active run.

    ``artifact_file`` names the file; MLflow 3's ``key`` and ``step`` put it at
    ``images/<key>/step_<step>.png`` instead.
    """
    from shipyard.tracking.fluent import _current

    if artifact_file is None:
        if key is None:
            raise InvalidInput("log_image needs artifact_file, or a key (and step)")
        artifact_file = f"images/{key}/step_{step or 0}.png"
    run = _current("log_image")
    if hasattr(image, "save") and hasattr(image, "mode"):  # a PIL image
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(artifact_file).name
            image.save(path)
            data = path.read_bytes()
    else:
        if not artifact_file.lower().endswith(".png"):
            raise InvalidInput(f"a NumPy image is saved as PNG: name the file *.png, not {artifact_file!r}")
        data = _png(image)
    run._client.log_bytes(run.info.run_id, data, artifact_file)


# ---------------------------------------------------------------------------------------- tables
def log_table(data: Any, artifact_file: str) -> None:
    """Save a table (a DataFrame or a dict of columns) as JSON, MLflow's layout: ``{"columns": [...],
    "data": [[...], ...]}``. Read it back with :func:`load_table`."""
    import pandas as pd

    from shipyard.tracking.fluent import _current

    if not artifact_file.endswith(".json"):
        raise InvalidInput(f"log_table writes JSON: name the file *.json, not {artifact_file!r}")
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    doc = orjson.loads(frame.to_json(orient="split", index=False, date_format="iso"))
    run = _current("log_table")
    run._client.log_bytes(run.info.run_id, orjson.dumps({"columns": doc["columns"], "data": doc["data"]}),
                          artifact_file)


def load_table(artifact_file: str, run_ids: Sequence[str] | None = None,
               extra_columns: Sequence[str] | None = None) -> Any:
    """The tables logged under ``artifact_file`` by ``run_ids`` (by every run of the active experiment
    that has one when None), concatenated; ``extra_columns=["run_id"]`` adds the run of each row."""
    import pandas as pd

    from shipyard.tracking.fluent import _experiment_id

    client = _client()
    if run_ids is None:
        run_ids = [r.info.run_id for r in client.search_runs([_experiment_id()], max_results=50_000)]
    frames = []
    for run_id in run_ids:
        repo = client.artifact_repository(run_id)
        if not repo.exists(artifact_file):
            continue
        doc = orjson.loads(repo.read_bytes(artifact_file))
        frame = pd.DataFrame(doc["data"], columns=doc["columns"])
        for column in extra_columns or []:
            if column != "run_id":
                raise InvalidInput(f"extra_columns may only hold 'run_id', got {column!r}")
            frame["run_id"] = run_id
        frames.append(frame)
    if not frames:
        raise NotFound(f"no run has a table at {artifact_file!r}")
    return pd.concat(frames, ignore_index=True)
