"""When the retries give up, buffered points are kept on disk, said so in the log, and sent later once."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import orjson
import pytest

from shipyard.entities import Metric
from shipyard.errors import StoreUnavailable
from shipyard.store.rest import RestStore
from shipyard.store.sql import SqlStore
from shipyard.tracking import TrackingClient, resend_unsent


def _unreachable() -> RestStore:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    return RestStore("http://server:5000", None, transport=httpx.MockTransport(refuse), retry_s=0)


def test_points_that_could_not_be_sent_are_kept_and_resent_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("SHIPYARD_UNSENT_DIR", str(tmp_path / "unsent"))
    store = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts"))
    run_id = store.create_run(store.create_experiment("x")).info.run_id
    offline = TrackingClient(store=_unreachable())
    offline.batcher.add(run_id, [Metric("loss", 1.0 / (step + 1), 1000 + step, step) for step in range(100)])
    with caplog.at_level(logging.ERROR, logger="shipyard.tracking.batcher"), pytest.raises(StoreUnavailable):
        offline.flush()
    with pytest.raises(StoreUnavailable):
        offline.batcher.add(run_id, [Metric("loss", float("nan"), 2000, 100)])
        offline.set_terminated(run_id, "FINISHED", end_time=3000)
    files = sorted((tmp_path / "unsent").glob("*.json"))
    assert len(files) == 2
    assert any("100 metric points of run" in r.getMessage() and str(tmp_path / "unsent") in r.getMessage()
               for r in caplog.records)
    # The server had in fact committed the first batch before the connection broke:
    first = next(orjson.loads(f.read_bytes()) for f in files if orjson.loads(f.read_bytes())["end"] is None)
    store.log_batch(run_id, [Metric(k, v, ts, s) for k, v, ts, s in first["metrics"]], batch_id=first["batch_id"])

    assert resend_unsent(TrackingClient(store=store)) == 101
    assert list((tmp_path / "unsent").glob("*.json")) == []
    history = store.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == list(range(101))  # each once
    run = store.get_run(run_id)
    assert (run.info.status, run.info.end_time) == ("FINISHED", 3000)
    offline.store.close()
    store.close()
