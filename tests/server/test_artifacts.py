"""The artifact repository of remote clients: files up and down through the server, streamed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shipyard.artifacts import get_artifact_repository
from shipyard.artifacts.server_repo import ServerArtifactRepository
from shipyard.errors import InvalidInput, NotFound
from shipyard.store.sql import SqlStore

pytestmark = pytest.mark.integration


@pytest.fixture
def url(live_server) -> str:
    return live_server().url


def test_a_tree_goes_up_and_comes_back(url: str, sql_store: SqlStore, tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "sub" / "deeper").mkdir(parents=True)
    (source / "a.txt").write_text("a")
    (source / "sub" / "b.bin").write_bytes(os.urandom(3 << 20))  # several chunks each way
    (source / "sub" / "deeper" / "c.json").write_text("{}")
    repo = get_artifact_repository(f"{url}/api/v1/artifacts/exp/run/artifacts")
    assert isinstance(repo, ServerArtifactRepository)
    repo.log_dir(source, "model")
    on_server = Path(sql_store.artifact_root) / "exp" / "run" / "artifacts" / "model"
    assert (on_server / "sub" / "b.bin").read_bytes() == (source / "sub" / "b.bin").read_bytes()

    assert [(f.path, f.is_dir) for f in repo.list("model")] == [("model/a.txt", False), ("model/sub", True)]
    assert repo.info("model/sub").is_dir and repo.info("model/a.txt").size == 1 and repo.info("nope") is None
    assert repo.exists("model/sub/deeper/c.json") and not repo.exists("model/zz")
    assert repo.read_bytes("model/a.txt") == b"a"
    with repo.open("model/sub/b.bin") as fh:
        assert fh.read() == (source / "sub" / "b.bin").read_bytes()
    back = repo.download("model", tmp_path / "dl")
    assert back == tmp_path / "dl" / "model"
    for rel in ("a.txt", "sub/b.bin", "sub/deeper/c.json"):
        assert (back / rel).read_bytes() == (source / rel).read_bytes()
    assert repo.download("model/a.txt", tmp_path / "one").read_text() == "a"


def test_missing_files_and_bad_paths(url: str) -> None:
    repo = ServerArtifactRepository(f"{url}/api/v1/artifacts")
    with pytest.raises(NotFound):
        repo.read_bytes("nothing.txt")
    with pytest.raises(NotFound):
        repo.download("nothing", "/tmp/never")
    for bad in ("../escape.txt", "/etc/passwd", "a/../../b"):
        with pytest.raises(InvalidInput):
            repo.log_bytes(b"x", bad)
    with pytest.raises(InvalidInput):
        ServerArtifactRepository(f"{url}/api/v2/files")


def test_shipyard_artifacts_uris_resolve_against_the_configured_server(url: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_TRACKING_URI", url)
    repo = get_artifact_repository("shipyard-artifacts:/exp/run")
    repo.log_bytes(b"hi", "x.txt")
    assert repo.root == f"{url}/api/v1/artifacts/exp/run" and repo.read_bytes("x.txt") == b"hi"
    monkeypatch.setenv("SHIPYARD_TRACKING_URI", "sqlite:///x.db")
    with pytest.raises(InvalidInput, match="SHIPYARD_TRACKING_URI"):
        get_artifact_repository("shipyard-artifacts:/exp/run")
