"""Blocks of whole batches (per-row times and latencies), and the logger converting them in pieces
as they arrive: the same rows and the same Parquet schema as one conversion at write time."""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipyard.serving._predlog_schema import RecordBlock, blocks_to_table, records_to_table
from shipyard.serving.predlog import PredictionLogger
from shipyard.serving.reader import read_prediction_log

MIDNIGHT = int(dt.datetime(2024, 5, 2, tzinfo=dt.UTC).timestamp() * 1000)  # 2024-05-01 | 2024-05-02
NAMES = ["a", "b", "c"]


def batch(k: int, n: int, *, start: int = MIDNIGHT - 10_000, per_row: bool = True, **over: Any) -> RecordBlock:
    """Block ``k``: ``n`` rows; with ``per_row`` each row has its own time and latency."""
    rng = np.random.default_rng(k)
    stamps = start + k * 100 + np.arange(n) if per_row else start + k * 100
    latency = 1.0 + np.arange(n) / 10 if per_row else 1.5
    kw: dict[str, Any] = dict(
        request_ids=[f"b{k}-{j}" for j in range(n)], timestamp_ms=stamps, deployment="d", revision=1, model="m",
        version=2, shadow=False, features=rng.normal(size=(n, 3)), feature_names=NAMES,
        predictions=rng.integers(0, 2, n), probabilities=rng.random((n, 2)), latency_ms=latency)
    kw.update(over)
    return RecordBlock(**kw)


def test_per_row_times_and_latencies_reach_their_rows() -> None:
    block = batch(0, 4)
    table = blocks_to_table([block])
    assert table["timestamp"].cast(pa.int64()).to_pylist() == block.timestamp_ms.tolist()
    assert table["latency_ms"].to_pylist() == pytest.approx([1.0, 1.1, 1.2, 1.3])
    records = block.records()
    assert [r["timestamp_ms"] for r in records] == block.timestamp_ms.tolist()
    assert [r["latency_ms"] for r in records] == pytest.approx([1.0, 1.1, 1.2, 1.3])


def test_batch_blocks_write_the_schema_and_rows_of_one_row_blocks() -> None:
    """A batch of 5 requests as one block, or as 5 one-row blocks, or as dicts: the same table."""
    whole = batch(3, 5)
    singles = [RecordBlock(request_ids=[rid], timestamp_ms=int(whole.timestamp_ms[i]), deployment="d", revision=1,
                           model="m", version=2, shadow=False, features=whole.features[i:i + 1], feature_names=NAMES,
                           predictions=whole.predictions[i:i + 1], probabilities=whole.probabilities[i:i + 1],
                           latency_ms=float(whole.latency_ms[i]))
               for i, rid in enumerate(whole.request_ids)]
    from_batch, from_singles = blocks_to_table([whole]), blocks_to_table(singles)
    from_dicts = records_to_table(whole.records(), "d")
    assert from_batch.schema == from_singles.schema == from_dicts.schema
    assert from_batch.schema.metadata == from_singles.schema.metadata
    assert from_batch.to_pylist() == from_singles.to_pylist() == from_dicts.to_pylist()


def test_blocks_with_numbers_and_blocks_with_arrays_stack_together() -> None:
    blocks = [batch(0, 3), batch(1, 2, per_row=False), batch(2, 1)]
    table = blocks_to_table(blocks)
    assert table.num_rows == 6
    assert table["latency_ms"].to_pylist() == pytest.approx([1.0, 1.1, 1.2, 1.5, 1.5, 1.0])
    assert table["timestamp"].cast(pa.int64()).to_pylist()[3:5] == [blocks[1].timestamp_ms] * 2


def test_a_batch_across_midnight_goes_to_two_dates(tmp_path: Path) -> None:
    block = batch(0, 6, start=MIDNIGHT - 3)  # rows at -3, -2, -1 ms and 0, 1, 2 ms from midnight
    days = block.by_day()
    assert [len(part) for _, part in days] == [3, 3] and days[0][0] + 1 == days[1][0]
    with PredictionLogger(str(tmp_path)) as plog:
        plog.append("d", block)
    dates = sorted(p.parent.name for p in tmp_path.rglob("*.parquet"))
    assert dates == ["date=2024-05-01", "date=2024-05-02"]
    table = read_prediction_log("d", with_feedback=False, root=str(tmp_path))
    assert sorted(table["request_id"].to_pylist()) == sorted(block.request_ids)


def test_per_row_arrays_must_match_the_rows() -> None:
    with pytest.raises(ValueError, match="latency_ms has"):
        batch(0, 3, latency_ms=np.ones(2))


def test_take_keeps_each_rows_values() -> None:
    block = batch(0, 5, features={"a": np.arange(5.0), "s": np.array(list("vwxyz"), dtype=object)})
    part = block.take(np.array([4, 1]))
    assert part.request_ids == ["b0-4", "b0-1"] and part.timestamp_ms.tolist() == [block.timestamp_ms[4],
                                                                                   block.timestamp_ms[1]]
    assert part.features["s"].tolist() == ["z", "w"] and part.predictions.tolist() == block.predictions[[4, 1]].tolist()


def test_the_writer_converts_in_pieces_and_writes_one_segment(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows are converted as they arrive, a piece every ``convert_entries`` blocks; the segment
    written at ``max_seconds`` holds every row once, with the schema one conversion would give."""
    monkeypatch.setattr(PredictionLogger, "convert_entries", 8)
    blocks = [batch(k, 1 + k % 3, start=MIDNIGHT + 1000) for k in range(40)]
    with PredictionLogger(str(tmp_path), max_seconds=2.0) as plog:
        converted = []
        real = plog._convert

        def spy(entries: int | None, **kwargs: Any) -> None:
            before = len(plog._pending)
            real(entries, **kwargs)
            converted.append(before)

        monkeypatch.setattr(plog, "_convert", spy)
        for block in blocks:
            plog.append("d", block)
            time.sleep(0.002)
        deadline = time.monotonic() + 10
        while not list(tmp_path.rglob("*.parquet")) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(list(tmp_path.rglob("*.parquet"))) == 1  # written by time, once
        assert len(converted) >= 3  # in pieces before that
    [segment] = list(tmp_path.rglob("*.parquet"))
    table = pq.read_table(segment)
    expected = blocks_to_table(blocks)
    assert table.schema.equals(expected.schema) and table.schema.metadata == expected.schema.metadata
    assert table.sort_by("request_id").to_pylist() == expected.sort_by("request_id").to_pylist()
    assert plog.rows_written == sum(len(b) for b in blocks) and plog.segments_written == 1


def test_pieces_typed_differently_are_unified_into_one_segment(tmp_path: Path) -> None:
    with PredictionLogger(str(tmp_path), max_seconds=60) as plog:
        plog.append("d", batch(0, 2, start=MIDNIGHT))
        with plog._io_lock:
            plog._convert(None)  # a converted piece with numeric predictions is waiting ...
        plog.append("d", batch(1, 2, start=MIDNIGHT, predictions=np.array(["no", "yes"], dtype=object)))
    # ... and text ones join its segment as the reader would unify two segments: predictions as text
    [segment] = list(tmp_path.rglob("*.parquet"))
    assert pq.read_table(segment)["prediction"].type == pa.string()
    table = read_prediction_log("d", with_feedback=False, root=str(tmp_path))
    assert table.num_rows == 4 and table["prediction"].type == pa.string()
    assert sorted(table["prediction"].to_pylist())[2:] == ["no", "yes"]
    assert set(table["prediction"].to_pylist()[:2]) <= {"0", "1"}  # 0.0 and 1.0 as the reader casts them


def test_a_store_that_keeps_failing_drops_the_oldest_rows_beyond_the_buffer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    plog = PredictionLogger(str(tmp_path), max_seconds=60)
    plog.max_buffered_rows = 5
    real = plog._sink.files.write_table
    monkeypatch.setattr(plog._sink.files, "write_table", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with caplog.at_level(logging.ERROR):
        for k in range(4):
            plog.append("d", batch(k, 2, start=MIDNIGHT))
            with pytest.raises(OSError, match="disk full"):
                plog.flush()
    assert plog.dropped_rows == 3 and "buffer is full" in caplog.text
    monkeypatch.setattr(plog._sink.files, "write_table", real)
    plog.close()
    ids = read_prediction_log("d", with_feedback=False, root=str(tmp_path))["request_id"].to_pylist()
    assert sorted(ids) == ["b1-1", "b2-0", "b2-1", "b3-0", "b3-1"]  # the newest 5 of 8
