"""Prediction-log compaction: every row read exactly once before, during and after it, and reads
that touch a bounded number of files however many segments the log holds."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from shipyard.serving._log_index import DayFolder, list_day, resolve
from shipyard.serving._segment_files import SegmentFiles
from shipyard.serving._segment_names import segment_name
from shipyard.serving.compaction import _merge, compact_prediction_log
from shipyard.serving.predlog import PredictionLogger
from shipyard.serving.reader import read_prediction_log

HOUR = 3_600_000
MAY_1 = int(dt.datetime(2024, 5, 1, tzinfo=dt.UTC).timestamp() * 1000)
DAY_FOLDER = DayFolder("deployment=d/date=2024-05-01", MAY_1 // 86_400_000)
DURING = MAY_1 + 4 * HOUR  # "now" for a run while May 1 is the current day: hour files
LATER = MAY_1 + 3 * 86_400_000  # "now" for a run that finds May 1 closed: one day file


def record(i: int, ts: int) -> dict[str, Any]:
    return {"request_id": f"req-{i:07d}", "timestamp_ms": ts, "revision": 1, "model": "m", "version": 1,
            "features": {"x": float(i)}, "prediction": float(i % 2), "latency_ms": 0.5}


def log_segments(root: str, segments: int, rows: int = 10, start: int = MAY_1, step_ms: int = 2000) -> int:
    """``segments`` segments of ``rows`` rows, one every ``step_ms``, written by one replica."""
    with PredictionLogger(root, replica_id="r", max_rows=rows) as plog:
        for s in range(segments):
            plog.append("d", [record(s * rows + j, start + s * step_ms + j) for j in range(rows)])
            plog.flush()
    return segments * rows


def read_ids(root: str, **kw: Any) -> list[str]:
    return read_prediction_log("d", with_feedback=False, root=root, **kw)["request_id"].to_pylist()


def names(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "deployment=d" / "date=2024-05-01").iterdir())


def test_hours_then_the_day_each_row_once_and_inputs_kept_for_the_grace_period(tmp_path: Path) -> None:
    root = str(tmp_path)
    written = log_segments(root, 30, step_ms=HOUR // 10)  # 3 hours, 10 segments each
    before = read_ids(root)
    assert len(before) == written

    report = compact_prediction_log(root, grace_s=600, now_ms=DURING)
    assert [(f.level, f.inputs, f.rows) for f in report.written] == [("h", 10, 100)] * 3
    assert len(names(tmp_path)) == 33  # the inputs stay for readers that listed them ...
    assert read_ids(root) == before  # ... and are skipped by those who see the hour files

    report = compact_prediction_log(root, grace_s=0, now_ms=DURING)  # nothing new; the replaced segments go
    assert report.written == [] and report.deleted == 30
    assert [n[0] for n in names(tmp_path)] == ["h", "h", "h"] and read_ids(root) == before

    report = compact_prediction_log(root, grace_s=0, now_ms=LATER)  # May 1 is over: one day file
    assert [(f.level, f.inputs, f.rows) for f in report.written] == [("d", 3, written)]
    assert read_ids(root) == before
    compact_prediction_log(root, grace_s=0, now_ms=LATER)
    (day_file,) = names(tmp_path)
    assert day_file.startswith("d~") and read_ids(root) == before
    assert read_ids(root, last_rows=15) == before[-15:]
    assert read_ids(root, start=MAY_1 + HOUR, end=MAY_1 + 2 * HOUR) == before[100:200]


def test_new_segments_of_a_compacted_hour_make_a_new_hour_file(tmp_path: Path) -> None:
    root = str(tmp_path)
    log_segments(root, 5)
    compact_prediction_log(root, grace_s=0, now_ms=DURING)
    log_segments(root, 3, start=MAY_1 + 60_000)
    report = compact_prediction_log(root, grace_s=0, now_ms=DURING)
    assert [(f.inputs, f.rows) for f in report.written] == [(4, 80)]  # the hour file and 3 new segments
    compact_prediction_log(root, grace_s=0, now_ms=DURING)
    assert len(names(tmp_path)) == 1 and len(read_ids(root)) == 80


def test_with_no_grace_a_run_in_the_same_millisecond_collects_what_the_last_one_replaced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`compact --grace 0` twice leaves one file per hour even when the second run lists in the
    millisecond the first one published (a fast disk: CI saw it)."""
    import shipyard.serving.compaction as compaction

    root = str(tmp_path)
    written = log_segments(root, 5)
    monkeypatch.setattr(compaction, "_now_ms", lambda: DURING)  # every clock read is the same ms
    assert compact_prediction_log(root, grace_s=0, now_ms=DURING).files_merged == 5
    report = compact_prediction_log(root, grace_s=0, now_ms=DURING)
    assert report.deleted == 5 and len(names(tmp_path)) == 1
    assert len(read_ids(root)) == written


def test_two_compactors_that_raced_the_later_file_is_ignored_then_removed(tmp_path: Path) -> None:
    root = str(tmp_path)
    log_segments(root, 4)
    files = SegmentFiles(root)
    inputs = resolve(files, DAY_FOLDER, list_day(files, DAY_FOLDER)).read
    _merge(files, DAY_FOLDER, inputs[:3], "h", created=1)  # two compactors, each with its own listing
    _merge(files, DAY_FOLDER, inputs[1:], "h")  # published later (the lock normally prevents it)
    assert sorted(read_ids(root)) == [f"req-{i:07d}" for i in range(40)]
    compact_prediction_log(root, grace_s=0, now_ms=DURING)  # removes the loser and what the winner replaced
    compact_prediction_log(root, grace_s=0, now_ms=DURING)
    assert sorted(read_ids(root)) == [f"req-{i:07d}" for i in range(40)] and len(names(tmp_path)) == 1


def test_a_second_compactor_waits_for_the_lock(tmp_path: Path) -> None:
    from shipyard.serving._log_lock import LogLock

    log_segments(str(tmp_path), 3)
    held = LogLock(SegmentFiles(str(tmp_path)))
    assert held.acquire()
    report = compact_prediction_log(str(tmp_path))
    assert report.skipped and held.owner in report.skipped and report.written == []
    held.release()
    assert compact_prediction_log(str(tmp_path)).written


def test_writers_compactor_and_readers_at_once_every_row_read_exactly_once(tmp_path: Path) -> None:
    """Two replicas append, a compactor runs in a loop (short grace), readers read in a loop: every
    read holds each row at most once and none written before it started is missing."""
    root = str(tmp_path)
    now = int(time.time() * 1000) - 10_000
    stop = threading.Event()
    committed: list[set[str]] = [set(), set()]  # ids flushed (so durable) by each replica
    problems: list[str] = []
    done = {"reads": 0, "merged": 0, "deleted": 0}

    def replica(k: int) -> None:
        with PredictionLogger(root, replica_id=f"pod-{k}", max_rows=1000, max_seconds=60) as plog:
            i = 0
            while not stop.is_set():
                batch = [{**record(i + j, now + i + j), "request_id": f"{k}-{i + j}"} for j in range(7)]
                plog.append("d", batch)
                plog.flush()
                committed[k].update(r["request_id"] for r in batch)
                i += 7
                time.sleep(0.005)

    def compactor() -> None:
        while not stop.is_set():
            report = compact_prediction_log(root, grace_s=1.0)
            done["merged"] += report.files_merged
            done["deleted"] += report.deleted
            time.sleep(0.05)

    def reader() -> None:
        while not stop.is_set():
            known = set().union(*committed)
            ids = read_ids(root)
            if len(ids) != len(set(ids)):
                problems.append(f"{len(ids) - len(set(ids))} duplicated rows")
            if missing := known - set(ids):
                problems.append(f"{len(missing)} rows missing, e.g. {sorted(missing)[:3]}")
            done["reads"] += 1

    threads = [threading.Thread(target=f, args=a) for f, a in
               [(replica, (0,)), (replica, (1,)), (compactor, ()), (reader, ()), (reader, ())]]
    for t in threads:
        t.start()
    time.sleep(6)
    stop.set()
    for t in threads:
        t.join()
    assert problems == []
    assert done["reads"] >= 4 and done["merged"] >= 20 and done["deleted"] >= 20, done  # it did race
    compact_prediction_log(root, grace_s=0)
    compact_prediction_log(root, grace_s=0)
    final = read_ids(root)
    written = set().union(*committed)
    assert len(final) == len(written) and set(final) == written
    assert len(list(Path(root).rglob("*.parquet"))) <= 2  # one or two hour files left


class CountingFS:
    """Counts the file opens and folder listings of the memory file system."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from fsspec.implementations.memory import MemoryFileSystem

        self.opens = self.lists = 0
        real_open, real_ls = MemoryFileSystem._open, MemoryFileSystem.ls

        def _open(fs: Any, path: str, *a: Any, **kw: Any) -> Any:
            self.opens += 1
            return real_open(fs, path, *a, **kw)

        def ls(fs: Any, path: str, *a: Any, **kw: Any) -> Any:
            self.lists += 1
            return real_ls(fs, path, *a, **kw)

        monkeypatch.setattr(MemoryFileSystem, "_open", _open)
        monkeypatch.setattr(MemoryFileSystem, "ls", ls)

    def reset(self) -> None:
        self.opens = self.lists = 0


def fast_segments(root: str, count: int, rows: int = 50) -> None:
    """Segments in the writer's format, written directly (fast): ``count`` of ``rows`` rows, 2 s apart."""
    from shipyard.serving._predlog_schema import records_to_table

    files = SegmentFiles(root)
    for s in range(count):
        start = MAY_1 + s * 2000
        table = records_to_table([record(s * rows + j, start + j) for j in range(rows)], "d")
        files.write_table(f"{DAY_FOLDER.rel}/{segment_name('r', s, start, start + rows - 1, rows)}", table)


@pytest.mark.parametrize("compacted", [False, True])
def test_reads_touch_the_same_number_of_files_with_10x_the_segments(monkeypatch: pytest.MonkeyPatch,
                                                                   compacted: bool) -> None:
    import fsspec

    counted = CountingFS(monkeypatch)
    cost = []
    for count in (20, 200):
        root = f"memory://bounded-{count}-{compacted}"
        try:
            fast_segments(root, count)
            if compacted:
                compact_prediction_log(root, grace_s=0)
                compact_prediction_log(root, grace_s=0)
            counted.reset()
            last = read_prediction_log("d", last_rows=120, with_feedback=False, root=root)
            window = read_prediction_log("d", MAY_1 + 2000 * (count - 5), None, with_feedback=False, root=root)
            assert last["request_id"].to_pylist() == [f"req-{i:07d}" for i in range(count * 50 - 120, count * 50)]
            assert window.num_rows == 250
            cost.append((counted.opens, counted.lists))
        finally:
            fsspec.filesystem("memory").rm(f"/bounded-{count}-{compacted}", recursive=True)
    assert cost[0] == cost[1], cost  # flat in the number of segments
    assert cost[1][0] <= 20, cost


def test_legacy_segment_names_are_read_and_compacted(tmp_path: Path) -> None:
    """Segments named before names carried their time range (``<replica>-<seq>.parquet``)."""
    from shipyard.serving._predlog_schema import records_to_table

    files = SegmentFiles(str(tmp_path))
    for s in range(3):
        table = records_to_table([record(s, MAY_1 + s)], "d")
        files.write_table(f"{DAY_FOLDER.rel}/old-{s:06d}.parquet", table)
    log_segments(str(tmp_path), 2, start=MAY_1 + 10)
    assert len(read_ids(str(tmp_path))) == 23 and read_ids(str(tmp_path), last_rows=2) == [
        "req-0000018", "req-0000019"]
    compact_prediction_log(str(tmp_path), grace_s=0)
    compact_prediction_log(str(tmp_path), grace_s=0)
    assert len(names(tmp_path)) == 1 and len(read_ids(str(tmp_path))) == 23


def test_a_compacted_file_keeps_mixed_schemas(tmp_path: Path) -> None:
    root = str(tmp_path)
    with PredictionLogger(root, replica_id="r") as plog:
        plog.append("d", [{**record(1, MAY_1), "features": {"x": 1}}])
        plog.flush()
        plog.append("d", [{**record(2, MAY_1 + 1), "features": {"x": "text", "y": True}, "prediction": "yes"}])
    compact_prediction_log(root, grace_s=0)
    table = read_prediction_log("d", with_feedback=False, root=root)
    assert table["feature.x"].to_pylist() == ["1", "text"] and table["feature.y"].to_pylist() == [None, True]
    assert table.schema.field("prediction").type == pa.string()


def test_the_last_rows_of_a_compacted_file_read_only_its_newest_row_groups(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.serving import compaction
    from shipyard.serving.reader import _select

    monkeypatch.setattr(compaction, "_ROW_GROUP", 50)
    monkeypatch.setattr(compaction, "_BATCH_ROWS", 100)
    root = str(tmp_path)
    fast_segments(root, 20)  # 1,000 rows, 50 per segment
    compact_prediction_log(root, grace_s=0)
    compact_prediction_log(root, grace_s=0)
    (name,) = names(tmp_path)
    assert name.startswith("d~")
    rels, _, floor = _select(SegmentFiles(root), "d", None, None, 120)
    assert len(rels) == 1 and floor == MAY_1 + 17 * 2000  # the newest 3 row groups of 20, not the whole day
    assert read_ids(root, last_rows=120) == [f"req-{i:07d}" for i in range(880, 1000)]


def test_a_log_behind_a_server_is_left_to_the_server() -> None:
    from shipyard.serving.compaction import log_root_of

    assert log_root_of("s3://bucket/artifacts/") == "s3://bucket/artifacts/prediction-logs"
    assert log_root_of("/srv/shipyard/artifacts") == "/srv/shipyard/artifacts/prediction-logs"
    assert log_root_of("https://shipyard.example/api/v1/artifacts") is None  # the server's scheduler compacts
    assert log_root_of("shipyard-artifacts:/") is None
