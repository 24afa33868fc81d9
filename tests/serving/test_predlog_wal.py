"""The write-ahead file: what a replica answered survives a kill -9 and is logged once."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shipyard.serving._predlog_schema import RecordBlock
from shipyard.serving._wal import decode_entry, encode_entry, find_orphans
from shipyard.serving.predlog import PredictionLogger
from shipyard.serving.reader import read_prediction_log

MAY_1 = int(dt.datetime(2024, 5, 1, tzinfo=dt.UTC).timestamp() * 1000)


def record(i: int, ts: int = MAY_1, **over: Any) -> dict[str, Any]:
    base = {"request_id": f"req-{i}", "timestamp_ms": ts, "deployment": "d", "revision": 2, "model": "churn",
            "version": 3, "shadow": False, "features": {"x": float(i), "city": "Oslo"}, "prediction": 0.5,
            "probabilities": [0.5, 0.5], "latency_ms": 1.25}
    return {**base, **over}


def block(k: int, n: int, **over: Any) -> RecordBlock:
    kw: dict[str, Any] = dict(
        request_ids=[f"b{k}-{j}" for j in range(n)], timestamp_ms=MAY_1 + k * 10 + np.arange(n), deployment="d",
        revision=1, model="m", version=2, shadow=False, features=np.arange(n * 3, dtype=float).reshape(n, 3),
        feature_names=["a", "b", "c"], predictions=np.arange(n) % 2, probabilities=None, latency_ms=1.5)
    kw.update(over)
    return RecordBlock(**kw)


def ids(root: Path) -> list[str]:
    table = read_prediction_log("d", with_feedback=False, root=str(root))
    return sorted(table["request_id"].to_pylist())


def wal_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.wal") if p.stat().st_size)


def test_entries_round_trip_through_the_frame_format() -> None:
    rows: list[Any] = [block(0, 3), block(1, 2, predictions=np.array(["no", "yes"], dtype=object),
                                        features={"x": np.array([1, 2]), "y": np.array(["a", "b"], dtype=object)}),
                       record(7, features={"x": 1, "nested": {"a": [1, 2]}})]
    deployment, back = decode_entry(encode_entry("d", rows)[8:])
    assert deployment == "d" and [type(r) for r in back] == [RecordBlock, RecordBlock, dict]
    for before, after in zip(rows[:2], back[:2], strict=True):
        assert after.records() == before.records()
    assert back[2] == rows[2]


def test_arrays_keep_their_values_and_dtypes_through_the_binary_frame() -> None:
    """Numeric arrays travel as raw bytes: every value (NaN and infinities too) and dtype comes back
    (text labels come back as text, as from the JSON frames before); columns whose names look like
    the frame's own markers stay columns."""
    rng = np.random.default_rng(3)
    rows = [block(0, 4, features=rng.normal(size=(4, 3)).astype(np.float32),
                  probabilities=np.array([[0.1, 0.9], [np.nan, 1.0], [np.inf, -np.inf], [0.5, 0.5]]),
                  predictions=np.array([True, False, True, True])),
            block(1, 2, features={"$nd": np.array([1, 2], dtype=np.int32), "$cols": np.array([0.5, np.nan]),
                                  "city": np.array(["Oslo", None], dtype=object)},
                  timestamp_ms=MAY_1, latency_ms=np.array([0.25, 3.0])),
            block(2, 1, features=np.zeros((1, 0)), feature_names=[], predictions=np.array(["yes"], dtype=object))]
    _, back = decode_entry(encode_entry("d", rows)[8:])
    for before, after in zip(rows, back, strict=True):
        for name in ("features", "predictions", "probabilities", "timestamp_ms", "latency_ms"):
            want, got = getattr(before, name), getattr(after, name)
            if isinstance(want, dict):
                assert list(got) == list(want)
                for k in want:
                    assert got[k].dtype == want[k].dtype or want[k].dtype == object
                    np.testing.assert_array_equal(got[k], want[k])
            elif want is not None:
                assert np.asarray(got).dtype == np.asarray(want).dtype or np.asarray(want).dtype == object
                np.testing.assert_array_equal(got, want)
            else:
                assert got is None


def test_a_file_written_by_the_json_format_is_still_shipped(tmp_path: Path) -> None:
    """Write-ahead files of a replica that ran an earlier version (frames of JSON) are read after
    an upgrade: a killed replica's rows are not lost to a format change."""
    import orjson

    from shipyard.serving._wal import _BLOCK_FIELDS, _OPTIONS, _default, frame

    rows: list[Any] = [block(0, 3), record(5)]
    items = [{"block": {name: getattr(rows[0], name) for name in _BLOCK_FIELDS}}, rows[1]]
    old = frame(orjson.dumps({"deployment": "d", "rows": items}, default=_default, option=_OPTIONS))
    deployment, back = decode_entry(old[8:])
    assert deployment == "d" and back[0].records() == rows[0].records() and back[1] == rows[1]
    folder = tmp_path / "wal"
    folder.mkdir()
    (folder / "dead-replica.1.wal").write_bytes(old)
    with PredictionLogger(str(tmp_path / "log"), wal_dir=folder) as plog:
        assert plog.recovered_rows == 4
    assert ids(tmp_path / "log") == ["b0-0", "b0-1", "b0-2", "req-5"]


def test_rows_are_on_disk_before_the_flush_and_the_file_goes_once_written(tmp_path: Path) -> None:
    log, wal = tmp_path / "log", tmp_path / "wal"
    with PredictionLogger(str(log), wal_dir=wal, max_seconds=60) as plog:
        plog.append("d", [record(1), record(2)])
        plog.append("d", block(0, 4))
        [live] = wal_files(wal)  # answered rows are in the write-ahead file, none in the log yet
        assert not list(log.rglob("*.parquet"))
        plog.flush()
        assert not live.exists() and ids(log) == ["b0-0", "b0-1", "b0-2", "b0-3", "req-1", "req-2"]
    assert not list(wal.glob("*.wal"))  # a clean close leaves nothing behind


_KILLED = textwrap.dedent("""
    import os, signal, sys
    from shipyard.serving.predlog import PredictionLogger
    sys.path.insert(0, {tests!r})
    from test_predlog_wal import block, record
    plog = PredictionLogger({log!r}, wal_dir={wal!r}, max_seconds=60)
    plog.append("d", [record(i) for i in range(5)])
    plog.append("d", block(0, 3))
    plog.flush()  # generation 0 is written ...
    plog.append("d", [record(i) for i in range(5, 9)])
    plog.append("d", block(1, 2))  # ... generation 1 is only answered
    print(plog.replica_id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def _killed_replica(log: Path, wal: Path) -> str:
    code = _KILLED.format(tests=str(Path(__file__).parent), log=str(log), wal=str(wal))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    return proc.stdout.strip()


def test_a_killed_replica_loses_nothing_and_its_rows_are_shipped_once(tmp_path: Path) -> None:
    log, wal = tmp_path / "log", tmp_path / "wal"
    dead = _killed_replica(log, wal)
    assert len(ids(log)) == 8  # what the killed process had written
    [left] = wal_files(wal)  # generation 1's file (generations are numbered from the clock in ms)
    second = int(left.name.split(".")[-2])
    assert left.name == f"{dead}.{second:06d}.wal"
    with PredictionLogger(str(log), wal_dir=wal) as plog:
        assert plog.recovered_rows == 6  # shipped at its first cycle, at once
    expected = sorted([f"req-{i}" for i in range(9)] + ["b0-0", "b0-1", "b0-2", "b1-0", "b1-1"])
    assert ids(log) == expected
    # the shipped rows carry the dead replica's name for that generation
    assert sorted(p.name.split("~")[0] for p in log.rglob("*.parquet")) == [f"{dead}-{second - 1:06d}",
                                                                            f"{dead}-{second:06d}"]
    assert not wal_files(wal)


def test_a_file_shipped_twice_is_not_logged_twice(tmp_path: Path) -> None:
    """Killed after its segment was written but before its write-ahead file was deleted: shipping
    the file again finds the same rows under the same name and writes nothing."""
    log, wal = tmp_path / "log", tmp_path / "wal"
    _killed_replica(log, wal)
    [left] = wal_files(wal)
    kept = left.read_bytes()
    with PredictionLogger(str(log), wal_dir=wal):
        pass
    left.write_bytes(kept)  # as if the kill came between the segment and the file's deletion
    with PredictionLogger(str(log), wal_dir=wal) as plog:
        assert plog.recovered_rows == 6
    assert plog.rows_written == 0 and len(ids(log)) == 14 and not wal_files(wal)


def test_a_torn_tail_ends_the_file_and_the_whole_frames_are_shipped(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    log, wal = tmp_path / "log", tmp_path / "wal"
    _killed_replica(log, wal)
    [left] = wal_files(wal)
    with left.open("ab") as out:
        out.write(encode_entry("d", [record(99)])[:-3])  # a machine crash in the middle of a write
    with PredictionLogger(str(log), wal_dir=wal):
        pass
    assert len(ids(log)) == 14 and "req-99" not in ids(log)
    assert "torn or corrupt frame" in caplog.text


def test_a_live_replicas_files_are_not_taken_by_another(tmp_path: Path) -> None:
    log, wal = tmp_path / "log", tmp_path / "wal"
    with PredictionLogger(str(log), wal_dir=wal, max_seconds=60) as first:
        first.append("d", [record(1)])
        assert not find_orphans(wal)  # held by a live logger
        with PredictionLogger(str(log), wal_dir=wal, max_seconds=60) as second:
            assert second.recovered_rows == 0
    assert ids(log) == ["req-1"]


def test_a_log_store_that_is_down_at_close_leaves_the_rows_in_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log, wal = tmp_path / "log", tmp_path / "wal"
    plog = PredictionLogger(str(log), wal_dir=wal, max_seconds=60)
    monkeypatch.setattr(plog._sink, "write", lambda *a: (_ for _ in ()).throw(OSError("bucket gone")))
    plog.append("d", [record(1), record(2)])
    plog.close()  # logs a warning, does not raise: the rows are safe on disk
    assert len(wal_files(wal)) == 1 and not list(log.rglob("*.parquet"))
    monkeypatch.undo()
    with PredictionLogger(str(log), wal_dir=wal):
        pass
    assert ids(log) == ["req-1", "req-2"]


def test_fsync_option_writes_the_same_file(tmp_path: Path) -> None:
    log, wal = tmp_path / "log", tmp_path / "wal"
    with PredictionLogger(str(log), wal_dir=wal, wal_fsync=True) as plog:
        plog.append("d", [record(1)])
        assert wal_files(wal)
    assert ids(log) == ["req-1"]
    assert os.listdir(wal) == []


_FORKED = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {tests!r})
    from shipyard.serving.predlog import PredictionLogger
    from test_predlog_wal import record
    plog = PredictionLogger({log!r}, wal_dir={wal!r}, max_seconds=60)
    plog.append("d", [record(1)])
    pid = os.fork()
    if pid == 0:  # the child: a fresh replica id and write-ahead file; the parent's rows are not its own
        plog.append("d", [record(2)])
        plog.close()
        os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
    assert plog.buffered_rows == 1 and any(os.path.getsize(os.path.join({wal!r}, n)) for n in os.listdir({wal!r}))
    plog.close()
""")


def test_a_forked_child_logs_its_own_rows_and_leaves_the_parents(tmp_path: Path) -> None:
    log, wal = tmp_path / "log", tmp_path / "wal"
    code = _FORKED.format(tests=str(Path(__file__).parent), log=str(log), wal=str(wal))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert ids(log) == ["req-1", "req-2"] and not list(wal.glob("*.wal"))


def test_a_long_outage_holds_a_bounded_number_of_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    log, wal = tmp_path / "log", tmp_path / "wal"
    monkeypatch.setattr(PredictionLogger, "max_open_files", 2)
    plog = PredictionLogger(str(log), wal_dir=wal, max_seconds=0.02)
    real = plog._sink.write
    monkeypatch.setattr(plog._sink, "write", lambda *a: (_ for _ in ()).throw(OSError("bucket gone")))
    for i in range(40):  # many write cycles fail meanwhile
        plog.append("d", [record(i)])
        time.sleep(0.01)
    assert len(list(wal.glob("*.wal"))) <= 3  # two closed generations and the open one, which grows
    monkeypatch.setattr(plog._sink, "write", real)
    plog.close()
    assert ids(log) == sorted(f"req-{i}" for i in range(40)) and not list(wal.glob("*.wal"))


def test_serve_refuses_a_folder_it_cannot_write_and_says_what_to_do(tmp_path: Path) -> None:
    from shipyard.errors import InvalidInput
    from shipyard.serving.server import ServeOptions, _usable_wal

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(InvalidInput, match=r"--wal-dir .* or turn it off with --no-wal"):
        _usable_wal(ServeOptions(wal_dir=str(blocker / "wal")))
    assert _usable_wal(ServeOptions(wal=False)) is None
    assert _usable_wal(ServeOptions(wal_dir=str(tmp_path / "wal"))) == str(tmp_path / "wal")
