"""Metric points the client could not deliver, kept on disk so nothing is silently dropped.

When a batch still cannot be written after the HTTP retries gave up (the server was down longer
than ``SHIPYARD_HTTP_RETRY_S``), the batcher writes it to ``<SHIPYARD_HOME>/unsent/`` (by default
``./.shipyard/unsent/``; ``SHIPYARD_UNSENT_DIR`` overrides) as one JSON file per batch, with the run,
the store and the batch id it was sent with, and logs the count and the path. :func:`resend_unsent`
sends them again later with the same batch ids, so a batch the server did commit before the
connection broke is still stored once.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from shipyard.entities import Metric
from shipyard.store._wire import decode_float, encode_float

if TYPE_CHECKING:
    from shipyard.tracking.client import TrackingClient

__all__ = ["UNSENT_DIR_ENV", "UnsentEnd", "keep_unsent", "resend_unsent", "unsent_dir"]

logger = logging.getLogger(__name__)
UNSENT_DIR_ENV = "SHIPYARD_UNSENT_DIR"


@dataclass(frozen=True, slots=True)
class UnsentEnd:
    """The end of a run that could not be recorded with its last points."""

    status: str
    end_time: int


def unsent_dir() -> Path:
    from shipyard.config import default_home

    configured = os.environ.get(UNSENT_DIR_ENV)
    return Path(configured).absolute() if configured else default_home() / "unsent"


def keep_unsent(store_uri: str, run_id: str, batch_id: str, metrics: Sequence[Metric],
                end: UnsentEnd | None = None) -> Path | None:
    """Write the batch to the unsent folder (atomically); its path, or None if that failed too."""
    folder = unsent_dir()
    record = {
        "store": store_uri, "run_id": run_id, "batch_id": batch_id,
        "metrics": [[m.key, encode_float(float(m.value)), int(m.timestamp), int(m.step)] for m in metrics],
        "end": None if end is None else {"status": end.status, "end_time": end.end_time},
    }
    path = folder / f"{run_id}-{batch_id}.json"
    partial = folder / f".{path.name}.{uuid.uuid4().hex[:8]}.part"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(orjson.dumps(record))
        partial.replace(path)
    except OSError as exc:
        logger.error("could not keep %d unsent metric points of run %s in %s: %s", len(metrics), run_id, folder, exc)
        partial.unlink(missing_ok=True)
        return None
    return path


def resend_unsent(client: TrackingClient | None = None, directory: str | Path | None = None) -> int:
    """Send every batch kept in the unsent folder again (each to the store it was meant for, unless
    ``client`` names one), deleting each file once its batch is stored; the number of points sent.
    Raises the first error (the files not yet sent stay)."""
    from shipyard.tracking.client import TrackingClient

    folder = Path(directory) if directory is not None else unsent_dir()
    sent = 0
    for path in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime):
        record = orjson.loads(path.read_bytes())
        target = client if client is not None else TrackingClient(record["store"])
        metrics = [Metric(key, decode_float(value), ts, step) for key, value, ts, step in record["metrics"]]
        end = record.get("end")
        if end is not None:
            target.store.end_run(record["run_id"], end["status"], end["end_time"], metrics=metrics,
                                 batch_id=record["batch_id"])
        else:
            target.store.log_batch(record["run_id"], metrics=metrics, batch_id=record["batch_id"])
        path.unlink()
        sent += len(metrics)
    return sent
