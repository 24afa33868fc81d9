"""Artifact repositories: atomic writes, and no path can leave the root."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from shipyard.artifacts import get_artifact_repository, safe_relpath
from shipyard.errors import InvalidInput, NotFound

BAD_PATHS = ["../x", "a/../../x", "/etc/passwd", "a\\..\\b", "C:/x", "a\x00b"]


@pytest.mark.parametrize("bad", BAD_PATHS)
def test_traversal_is_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        safe_relpath(bad)


def test_safe_relpath_normalises() -> None:
    assert safe_relpath("a//b/./c") == "a/b/c"
    assert safe_relpath(None) == "" and safe_relpath(".") == ""


@pytest.fixture(params=["local", "memory"])
def repo(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "local":
        return get_artifact_repository(tmp_path / "root")
    return get_artifact_repository(f"memory://shipyard-test-{uuid.uuid4().hex}")


def test_write_list_read_download(repo, tmp_path: Path) -> None:
    local = tmp_path / "model.txt"
    local.write_text("weights")
    assert repo.log_file(local, "models/v1") == "models/v1/model.txt"
    repo.log_bytes(b'{"a": 1}', "config.json")
    assert [f.path for f in repo.list()] == ["config.json", "models"]
    assert repo.list("models/v1")[0].size == 7
    assert repo.read_bytes("models/v1/model.txt") == b"weights"
    out = repo.download("models", tmp_path / "dl")
    assert (out / "v1" / "model.txt").read_text() == "weights"
    assert repo.exists("config.json") and not repo.exists("nope")
    with pytest.raises(NotFound):
        repo.read_bytes("nope.txt")


@pytest.mark.parametrize("bad", BAD_PATHS[:3])
def test_repositories_refuse_traversal_and_write_nothing(repo, tmp_path: Path, bad: str) -> None:
    with pytest.raises(InvalidInput):
        repo.log_bytes(b"x", bad)
    local = tmp_path / "f.txt"
    local.write_text("x")
    with pytest.raises(InvalidInput):
        repo.log_file(local, bad)
    assert repo.list() == []
    assert not (tmp_path / "x").exists()


def test_local_writes_are_atomic_and_leave_no_temp_files(tmp_path: Path) -> None:
    repo = get_artifact_repository(tmp_path / "root")

    class Boom(bytes):
        pass

    repo.log_bytes(b"old", "a.bin")
    with pytest.raises(TypeError):
        repo.log_bytes(object(), "a.bin")  # type: ignore[arg-type]  # the write fails midway
    assert repo.read_bytes("a.bin") == b"old"
    assert sorted(p.name for p in (tmp_path / "root").iterdir()) == ["a.bin"]


def test_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    (root / "link").symlink_to(tmp_path / "outside")
    repo = get_artifact_repository(root)
    with pytest.raises(InvalidInput, match="outside"):
        repo.log_bytes(b"x", "link/evil.txt")
    assert list((tmp_path / "outside").iterdir()) == []
