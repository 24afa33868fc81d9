"""The prediction logger: what a serving replica writes, and that it loses no row."""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipyard.errors import InvalidInput
from shipyard.serving._predlog_schema import _records_to_table_fast, _records_to_table_slow, records_to_table
from shipyard.serving.predlog import PredictionLogger
from shipyard.serving.reader import read_prediction_log

MAY_1 = int(dt.datetime(2024, 5, 1, tzinfo=dt.UTC).timestamp() * 1000)


def record(i: int, ts: int = MAY_1, **over: Any) -> dict[str, Any]:
    base = {"request_id": f"req-{i}", "timestamp_ms": ts, "deployment": "d", "revision": 2, "model": "churn",
            "version": 3, "shadow": False, "features": {"x": float(i), "n": i, "city": "Oslo", "ok": True},
            "prediction": 0.5, "probabilities": [0.5, 0.5], "latency_ms": 1.25}
    return {**base, **over}


def segments(root: Path) -> list[Path]:
    return sorted(root.rglob("*.parquet"))


def read(root: Path, deployment: str = "d", **kw: Any) -> pa.Table:
    return read_prediction_log(deployment, with_feedback=False, root=str(root), **kw)


def test_records_round_trip_with_their_types(tmp_path: Path) -> None:
    rows = [record(1, MAY_1 + 5, prediction=1, probabilities=None, shadow=True),
            record(2, MAY_1 + 9, features={"x": 2.5, "city": None, "ok": False})]
    with PredictionLogger(str(tmp_path)) as plog:
        plog.append("d", rows)
    table = read(tmp_path)
    assert table.schema.field("timestamp").type == pa.timestamp("ms", tz="UTC")
    types = {f.name: f.type for f in table.schema}
    assert types["revision"] == pa.int32() and types["version"] == pa.int32() and types["shadow"] == pa.bool_()
    assert types["prediction"] == pa.float64() and types["probabilities"] == pa.list_(pa.float64())
    assert (types["feature.x"], types["feature.n"], types["feature.city"], types["feature.ok"]) == (
        pa.float64(), pa.int64(), pa.string(), pa.bool_())
    first, second = table.to_pylist()
    assert first["request_id"] == "req-1" and first["shadow"] is True and first["prediction"] == 1.0
    assert first["probabilities"] is None and first["feature.n"] == 1 and first["latency_ms"] == 1.25
    assert first["timestamp"] == dt.datetime(2024, 5, 1, 0, 0, 0, 5000, tzinfo=dt.UTC)
    assert second["feature.n"] is None and second["feature.city"] is None and second["feature.ok"] is False
    assert (second["model"], second["version"], second["revision"]) == ("churn", 3, 2)


def test_mixed_values_follow_the_documented_rules() -> None:
    rows = [record(1, prediction="yes", features={"m": 1, "b": True, "l": [1, 2]}),
            record(2, prediction=True, features={"m": "two", "b": 1.5, "l": None})]
    table = records_to_table(rows, "d")
    assert table["prediction"].to_pylist() == ["yes", "true"]  # a string column: non-strings as JSON
    assert table["feature.m"].to_pylist() == ["1", "two"]
    assert table["feature.b"].to_pylist() == ["true", "1.5"]
    assert table["feature.l"].to_pylist() == ["[1,2]", None]
    assert records_to_table([record(1, prediction=True), record(2, prediction=2)], "d")["prediction"].to_pylist() == [
        1.0, 2.0]


def test_fast_and_slow_conversion_agree() -> None:
    rows = [record(i, MAY_1 + i, deployment=None if i % 2 else "d") for i in range(50)]
    rows[3] = {**rows[3], "features": {"x": 1.0}}
    assert _records_to_table_fast(rows, "d").equals(_records_to_table_slow(rows, "d"))


def test_partition_layout_one_segment_per_date(tmp_path: Path) -> None:
    before, after = MAY_1 - 100, MAY_1 + 100
    with PredictionLogger(str(tmp_path), replica_id="r1") as plog:
        plog.append("churn api", [record(1, before), record(2, after)])
        plog.append("other", [record(3, after)])
    names = [re.sub(r"-\d+~", "-SEQ~", p.relative_to(tmp_path).as_posix()) for p in segments(tmp_path)]
    # <replica>-<seq>~<first timestamp>-<last timestamp>-<rows>: a reader picks files by name
    assert names == [f"deployment=churn%20api/date=2024-04-30/r1-SEQ~{before}-{before}-1.parquet",
                     f"deployment=churn%20api/date=2024-05-01/r1-SEQ~{after}-{after}-1.parquet",
                     f"deployment=other/date=2024-05-01/r1-SEQ~{after}-{after}-1.parquet"]
    seqs = {int(p.name.split("~")[0].rsplit("-", 1)[1]) for p in segments(tmp_path)}
    assert len(seqs) == 1  # one flush, one generation: its segments share the id <replica>-<generation>
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]  # no temp file left behind
    assert read(tmp_path, "churn api")["request_id"].to_pylist() == ["req-1", "req-2"]


def test_a_restart_with_the_same_replica_id_never_overwrites(tmp_path: Path) -> None:
    for i in range(2):
        with PredictionLogger(str(tmp_path), replica_id="pod-0") as plog:
            plog.append("d", [record(i)])
    assert len(segments(tmp_path)) == 2 and read(tmp_path).num_rows == 2


def test_default_replica_ids_differ(tmp_path: Path) -> None:
    a, b = PredictionLogger(str(tmp_path)), PredictionLogger(str(tmp_path))
    try:
        assert a.replica_id != b.replica_id and str(os.getpid()) in a.replica_id
    finally:
        a.close(), b.close()
    with pytest.raises(InvalidInput):
        PredictionLogger(str(tmp_path), replica_id="../x")


def wait_for(condition: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_flush_by_size(tmp_path: Path) -> None:
    with PredictionLogger(str(tmp_path), max_rows=100, max_seconds=60) as plog:
        plog.append("d", [record(i) for i in range(60)])
        time.sleep(0.2)
        assert segments(tmp_path) == []
        plog.append("d", [record(i) for i in range(60, 100)])
        assert wait_for(lambda: len(segments(tmp_path)) == 1)
        assert read(tmp_path).num_rows == 100


def test_flush_by_time(tmp_path: Path) -> None:
    with PredictionLogger(str(tmp_path), max_rows=10_000, max_seconds=0.5) as plog:
        started = time.monotonic()
        plog.append("d", [record(1)])
        assert segments(tmp_path) == []
        assert wait_for(lambda: len(segments(tmp_path)) == 1)
        assert time.monotonic() - started >= 0.45
        plog.append("d", [record(2)])  # the clock starts again with the next row
        assert wait_for(lambda: len(segments(tmp_path)) == 2)


def test_close_is_idempotent_and_append_after_close_still_writes(tmp_path: Path) -> None:
    plog = PredictionLogger(str(tmp_path))
    plog.append("d", [record(1)])
    plog.close()
    plog.close()
    plog.append("d", [record(2)])
    assert read(tmp_path).num_rows == 2 and not plog._thread.is_alive()


def test_malformed_rows_are_dropped_and_counted_the_rest_written(tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    with PredictionLogger(str(tmp_path)) as plog:
        plog.append("d", [record(1), {"request_id": "no-time"}, record(2, probabilities=["x"]), record(3)])
    assert read(tmp_path)["request_id"].to_pylist() == ["req-1", "req-3"]
    assert plog.dropped_rows == 2 and "dropped 1 row(s)" in caplog.text


def test_a_failed_write_keeps_the_rows_for_the_next_flush(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plog = PredictionLogger(str(tmp_path), max_seconds=60)
    real = plog._sink.files.write_table
    monkeypatch.setattr(plog._sink.files, "write_table", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    plog.append("d", [record(1, MAY_1 - 1), record(2, MAY_1)])
    with pytest.raises(OSError, match="disk full"):
        plog.flush()
    monkeypatch.setattr(plog._sink.files, "write_table", real)
    plog.close()
    assert sorted(read(tmp_path)["request_id"].to_pylist()) == ["req-1", "req-2"]


def test_readers_see_only_whole_segments_while_a_replica_writes(tmp_path: Path) -> None:
    (tmp_path / "deployment=d" / "date=2024-05-01").mkdir(parents=True)
    (tmp_path / "deployment=d" / "date=2024-05-01" / ".r-000009.parquet.1234.tmp").write_bytes(b"PAR1 half")
    counts: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            try:
                counts.append(read(tmp_path).num_rows)
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    with PredictionLogger(str(tmp_path), max_seconds=60) as plog:
        for batch in range(40):
            plog.append("d", [record(batch * 50 + i, MAY_1 + i) for i in range(50)])
            plog.flush()
    done.set()
    thread.join()
    assert errors == [] and len(counts) > 1
    assert all(n % 50 == 0 for n in counts)  # never part of a segment
    assert read(tmp_path).num_rows == 2000


def test_three_replicas_in_threads_write_every_row_exactly_once(tmp_path: Path) -> None:
    def replica(k: int) -> None:
        with PredictionLogger(str(tmp_path), max_rows=300, max_seconds=0.05) as plog:
            for i in range(0, 2000, 10):
                plog.append("d", [record(k * 10_000 + i + j, MAY_1 + i) for j in range(10)])

    threads = [threading.Thread(target=replica, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = read(tmp_path)["request_id"].to_pylist()
    assert len(ids) == 6000 and len(set(ids)) == 6000
    assert len({p.name.split("~")[0].rsplit("-", 1)[0] for p in segments(tmp_path)}) == 3


def test_memory_url_root() -> None:
    import fsspec

    root = "memory://predlog-test-root"
    try:
        with PredictionLogger(root, replica_id="m") as plog:
            plog.append("d", [record(1, MAY_1 - 1), record(2, MAY_1)])
        fs = fsspec.filesystem("memory")
        assert [re.sub(r"-\d+~", "-SEQ~", p) for p in sorted(fs.find("/predlog-test-root"))] == [
            f"/predlog-test-root/deployment=d/date=2024-04-30/m-SEQ~{MAY_1 - 1}-{MAY_1 - 1}-1.parquet",
            f"/predlog-test-root/deployment=d/date=2024-05-01/m-SEQ~{MAY_1}-{MAY_1}-1.parquet"]
        table = read_prediction_log("d", "2024-05-01", with_feedback=False, root=root)
        assert table["request_id"].to_pylist() == ["req-2"]
    finally:
        fsspec.filesystem("memory").rm("/predlog-test-root", recursive=True)


def test_segments_are_plain_parquet_with_a_format_marker(tmp_path: Path) -> None:
    with PredictionLogger(str(tmp_path)) as plog:
        plog.append("d", [record(1)])
    (path,) = segments(tmp_path)
    assert pq.read_schema(path).metadata[b"shipyard.prediction_log"] == b"2"  # 2: with the error column


def test_large_flushes_convert_in_chunks_and_keep_mixed_types(tmp_path) -> None:
    from shipyard.serving._predlog_schema import records_to_table

    base = {"timestamp_ms": 1_700_000_000_000, "deployment": "d", "revision": 1, "model": "m", "version": 1,
            "shadow": False, "prediction": 1.0, "probabilities": None, "latency_ms": 1.0}
    records = [{**base, "request_id": f"r{i}", "features": {"x": i if i < 300 else f"v{i}"}} for i in range(700)]
    table = records_to_table(records, "d")
    assert table.num_rows == 700
    assert table.column("feature.x").type == "string"  # int in the first chunk, text later: text
    assert table.column("feature.x")[0].as_py() == "0" and table.column("feature.x")[699].as_py() == "v699"


def test_record_blocks_write_the_same_rows_as_records() -> None:
    import numpy as np

    from shipyard.serving._predlog_schema import RecordBlock, blocks_to_table, records_to_table

    rng = np.random.default_rng(0)
    blocks = [RecordBlock(request_ids=[f"r{i}-{j}" for j in range(n)], timestamp_ms=1_700_000_000_000 + i,
                          deployment="d", revision=1 + i % 2, model="m", version=3, shadow=bool(i % 3 == 0),
                          features=rng.normal(size=(n, 3)), feature_names=["a", "b", "c"],
                          predictions=rng.integers(0, 2, n), probabilities=rng.random((n, 2)), latency_ms=1.5)
              for i, n in enumerate([1, 4, 2, 1])]
    blocks.append(RecordBlock(request_ids=["x"], timestamp_ms=1_700_000_000_009, deployment="d", revision=2,
                              model="m", version=4, shadow=False, features={"a": np.array([1.0]), "z": np.array(["t"])},
                              predictions=np.array(["yes"]), probabilities=None))
    from_blocks = records_to_table(blocks, "d").sort_by("request_id")  # type: ignore[arg-type]
    assert blocks_to_table(blocks[:4]).num_rows == 8  # like blocks stack without the slow path
    from_records = records_to_table([r for b in blocks for r in b.records()], "d").sort_by("request_id")
    assert from_blocks.num_rows == 9
    for name in from_records.column_names:
        assert from_blocks.column(name).to_pylist() == from_records.column(name).to_pylist(), name
    like = blocks_to_table(blocks[:4]).sort_by("request_id")
    expected = records_to_table([r for b in blocks[:4] for r in b.records()], "d").sort_by("request_id")
    for name in expected.column_names:
        assert like.column(name).to_pylist() == expected.column(name).to_pylist(), name
