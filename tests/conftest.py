"""Every test gets its own shipyard home (store + artifacts) and a clean fluent session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def shipyard_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "shipyard-home"
    for var in ("SHIPYARD_TRACKING_URI", "SHIPYARD_STORE_URI", "SHIPYARD_ARTIFACT_URI", "SHIPYARD_EXPERIMENT_NAME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SHIPYARD_HOME", str(home))
    from shipyard.tracking import fluent

    while fluent.active_run() is not None:
        fluent.end_run()
    fluent.set_tracking_uri(None)
    yield home
    while fluent.active_run() is not None:
        fluent.end_run()
    fluent.set_tracking_uri(None)
