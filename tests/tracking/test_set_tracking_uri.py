"""``shipyard.set_tracking_uri()`` is the process's store for everything, not only the fluent
functions: ``shipyard.Client()`` and pipelines write where the user pointed them."""

from __future__ import annotations

from pathlib import Path

import shipyard


def test_client_and_pipelines_follow_set_tracking_uri(tmp_path: Path, shipyard_home: Path) -> None:
    chosen = f"sqlite:///{tmp_path / 'team.db'}"
    shipyard.set_tracking_uri(chosen)
    client = shipyard.Client()
    assert client.store.uri == chosen
    client.create_experiment("ported")
    assert not (shipyard_home / "shipyard.db").exists()  # nothing went to the default SQLite file

    shipyard.set_tracking_uri(None)
    assert shipyard.Client().store.uri == f"sqlite:///{shipyard_home / 'shipyard.db'}"
    assert shipyard.Client().get_experiment_by_name("ported") is None


def test_an_explicit_uri_still_wins_over_set_tracking_uri(tmp_path: Path) -> None:
    shipyard.set_tracking_uri(f"sqlite:///{tmp_path / 'a.db'}")
    other = f"sqlite:///{tmp_path / 'b.db'}"
    assert shipyard.Client(other).store.uri == other
