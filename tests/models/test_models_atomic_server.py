"""log_model through a live shipyard server whose artifact disk is full: the client gets an error,
the server keeps no half model (no manifest), registration refuses it, and the server keeps working."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from tests.artifacts._disk import files_under, fill, small_disk

import shipyard
import shipyard.sklearn
from shipyard.errors import NotFound, ShipyardError, StorageFull

pytestmark = pytest.mark.integration


@pytest.fixture
def server_on_small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Path]]:
    from tests.server.conftest import LiveServer

    from shipyard import _http
    from shipyard.server import create_app
    from shipyard.store.sql import SqlStore
    from shipyard.tracking import fluent
    from shipyard.tracking.client import _stores

    with small_disk(tmp_path / "disk", 2048) as disk:
        store = SqlStore(f"sqlite:///{tmp_path / 'server.db'}", str(disk / "artifacts"))
        server = LiveServer(create_app(store))
        monkeypatch.setenv("SHIPYARD_TRACKING_URI", server.url)
        fluent.set_tracking_uri(None)
        try:
            yield server, disk
        finally:
            while fluent.active_run() is not None:
                fluent.end_run()
            server.stop()
            for key in [k for k in _stores if k[0].startswith("http")]:
                _stores.pop(key).close()
            while _http._clients:
                _http._clients.popitem()[1].close()
            store.close()


@pytest.fixture
def forest(rainfall_arrays):
    from sklearn.ensemble import RandomForestClassifier

    X, y = rainfall_arrays
    return RandomForestClassifier(n_estimators=15, random_state=0).fit(X, y), X


def test_log_model_through_a_server_with_a_full_disk_leaves_no_model(server_on_small_disk, forest):
    _, disk = server_on_small_disk
    model, X = forest
    fill(disk, 200)
    with shipyard.start_run() as run, pytest.raises(ShipyardError):
        shipyard.sklearn.log_model(model, "model", input_example=X[:3])
    on_disk = files_under(disk / "artifacts")
    assert not [p for p in on_disk if p.endswith(("MLmodel.yaml", ".tmp"))], on_disk  # no manifest, no temp file
    with pytest.raises(NotFound):
        shipyard.register_model(f"runs:/{run.info.run_id}/model", "rain")
    (disk / ".filler").unlink()
    with shipyard.start_run():
        shipyard.sklearn.log_model(model, "model", input_example=X[:3], registered_model_name="rain")
    np.testing.assert_array_equal(shipyard.load_model("models:/rain/1").predict(X[:20]), model.predict(X[:20]))


def test_an_upload_to_a_full_disk_is_507_with_a_message(server_on_small_disk, forest):
    server, disk = server_on_small_disk
    model, X = forest
    fill(disk, 200)
    answer = httpx.put(f"{server.url}/api/v1/artifacts/some/big.bin", content=b"x" * (600 * 1024))
    assert answer.status_code == 507
    assert answer.json()["error_code"] == "INSUFFICIENT_STORAGE" and "no space left" in answer.json()["message"]
    assert not [p for p in files_under(disk / "artifacts") if "big.bin" in p or ".upload-" in p]
    with shipyard.start_run(), pytest.raises(StorageFull):
        shipyard.sklearn.log_model(model, "model", input_example=X[:3])
