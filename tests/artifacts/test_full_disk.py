"""Artifact repositories on a full disk: a StorageFull naming the place, and nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.artifacts import get_artifact_repository
from shipyard.errors import StorageFull
from tests.artifacts._disk import files_under, fill, small_disk


def test_a_file_that_does_not_fit_leaves_nothing(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", 512) as disk:
        repo = get_artifact_repository(disk / "root")
        repo.log_bytes(b"small", "ok.txt")
        fill(disk, 64)
        with pytest.raises(StorageFull, match=r"no space left on the device that holds .*root.*free space"):
            repo.log_bytes(b"x" * (256 * 1024), "big/data.bin")
        assert repo.read_bytes("ok.txt") == b"small"
        assert files_under(disk / "root") == ["big", "ok.txt"]  # no temporary file left behind


def test_a_directory_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"a" * 1000)
    (src / "sub" / "big.bin").write_bytes(b"b" * (200 * 1024))
    (src / "z-last.txt").write_bytes(b"done")
    with small_disk(tmp_path / "disk", 512) as disk:
        repo = get_artifact_repository(disk / "root")
        repo.log_bytes(b"keep", "other/keep.txt")
        fill(disk, 100)
        with pytest.raises(StorageFull):
            repo.log_dir(src, "tree", last="z-last.txt")
        assert files_under(disk / "root") == ["other", "other/keep.txt"]
        (disk / ".filler").unlink()
        repo.log_dir(src, "tree", last="z-last.txt")  # with space it goes through
        assert repo.read_bytes("tree/sub/big.bin") == b"b" * (200 * 1024)


def test_the_last_file_is_written_last_and_a_failed_tree_is_removed(tmp_path: Path) -> None:
    """Where a directory cannot be renamed into place (an existing folder, an object store), the
    ``last`` file goes last, and the files written before a failure are removed."""
    import uuid

    src = tmp_path / "src"
    src.mkdir()
    for name in ("MLmodel.yaml", "a.bin", "b.bin", "c.bin"):
        (src / name).write_bytes(name.encode())
    repo = get_artifact_repository(f"memory://shipyard-test-{uuid.uuid4().hex}")
    order: list[str] = []
    real = repo._fs.put_file  # type: ignore[attr-defined]

    def put_file(local, target, *args, **kwargs):  # type: ignore[no-untyped-def]
        order.append(Path(local).name)
        if Path(local).name == "c.bin" and len(order) < 5:
            raise OSError(28, "No space left on device")  # the object store's disk is full
        return real(local, target, *args, **kwargs)

    repo._fs.put_file = put_file  # type: ignore[attr-defined]
    with pytest.raises(StorageFull):
        repo.log_dir(src, "model", last="MLmodel.yaml")
    assert order == ["a.bin", "b.bin", "c.bin"] and repo.list("model") == []
    repo.log_dir(src, "model", last="MLmodel.yaml")
    assert order[3:] == ["a.bin", "b.bin", "c.bin", "MLmodel.yaml"]
