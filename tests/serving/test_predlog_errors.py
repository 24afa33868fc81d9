"""Failed predictions in the prediction log: the ``error`` column, written from column blocks and
from record dicts alike, and read back as null from segments written before it existed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from shipyard.serving._predlog_schema import (
    FIXED_SCHEMA,
    MAX_ERROR_CHARS,
    RecordBlock,
    _records_to_table_fast,
    _records_to_table_slow,
    blocks_to_table,
    error_text,
    partition_dir,
    records_to_table,
)
from shipyard.serving.predlog import PredictionLogger
from shipyard.serving.reader import read_prediction_log

MAY_1 = int(dt.datetime(2024, 5, 1, tzinfo=dt.UTC).timestamp() * 1000)


def block(i: int, n: int = 2, *, failed: bool = False, strings: bool = False, **over: Any) -> RecordBlock:
    preds: Any = np.array(["yes"] * n) if strings else np.arange(n) % 2
    kw: dict[str, Any] = dict(
        request_ids=[f"r{i}-{j}" for j in range(n)], timestamp_ms=MAY_1 + i, deployment="d", revision=1,
        model="m", version=1, shadow=False, features=np.full((n, 2), float(i)), feature_names=["a", "b"],
        predictions=None if failed else preds, probabilities=None if failed else np.full((n, 2), 0.5),
        latency_ms=2.0, error="ValueError: boom" if failed else None)
    kw.update(over)
    return RecordBlock(**kw)


def test_error_is_a_fixed_nullable_string_column() -> None:
    assert FIXED_SCHEMA.names[-1] == "error" and FIXED_SCHEMA.field("error").type == pa.string()


def test_error_text_names_the_type_and_is_bounded() -> None:
    assert error_text(ValueError("bad shape")) == "ValueError: bad shape"
    long = error_text(RuntimeError("x" * 5000))
    assert len(long) == MAX_ERROR_CHARS and long.startswith("RuntimeError: xxx") and long.endswith("...")


def test_failed_blocks_have_null_predictions_and_their_error() -> None:
    blocks = [block(0, strings=True), block(1, failed=True), block(2, 3, strings=True), block(4, 1, failed=True)]
    table = blocks_to_table(blocks).sort_by("request_id")  # a failed group joins a string group as is
    rows = {r["request_id"]: r for r in table.to_pylist()}
    assert len(rows) == 8 and table.schema.field("prediction").type == pa.string()
    for rid in ("r1-0", "r1-1", "r4-0"):
        assert rows[rid]["prediction"] is None and rows[rid]["probabilities"] is None
        assert rows[rid]["error"] == "ValueError: boom" and rows[rid]["feature.a"] in (1.0, 4.0)
        assert rows[rid]["latency_ms"] == 2.0
    assert rows["r0-1"]["error"] is None and rows["r0-1"]["prediction"] == "yes"
    assert rows["r0-1"]["probabilities"] == [0.5, 0.5]
    # the same rows through record dicts (the general path) come out the same
    expected = records_to_table([r for b in blocks for r in b.records()], "d").sort_by("request_id")
    for name in expected.column_names:
        assert table.column(name).to_pylist() == expected.column(name).to_pylist(), name
    # numbers, strings and failures in one flush: records_to_table falls back to one conversion
    mixed = records_to_table([block(5), block(6, failed=True), block(7, strings=True)], "d")  # type: ignore[list-item]
    assert mixed.sort_by("request_id")["error"].to_pylist() == [None, None, "ValueError: boom", "ValueError: boom",
                                                                 None, None]


def test_only_failed_rows_still_type_prediction_as_float64() -> None:
    table = blocks_to_table([block(0, failed=True), block(1, failed=True, features={}, feature_names=None)])
    assert table.schema.field("prediction").type == pa.float64()
    assert table.num_rows == 4 and table["error"].null_count == 0
    numeric = blocks_to_table([block(0), block(1, failed=True)])
    assert numeric.schema.field("prediction").type == pa.float64()
    assert numeric["prediction"].to_pylist() == [0.0, 1.0, None, None]


def test_success_only_blocks_write_a_null_error_column() -> None:
    table = blocks_to_table([block(0), block(1)])
    assert table.schema.field("error").type == pa.string() and table["error"].null_count == 4


def test_record_dicts_carry_the_error_through_fast_and_slow_conversion() -> None:
    base = {"timestamp_ms": MAY_1, "deployment": "d", "revision": 1, "model": "m", "version": 1,
            "features": {"x": 1.0}, "latency_ms": 1.0}
    rows = [{**base, "request_id": "ok", "prediction": 1.0},
            {**base, "request_id": "bad", "prediction": None, "error": "KeyError: 'x'"}]
    fast, slow = _records_to_table_fast(rows, "d"), _records_to_table_slow(rows, "d")
    assert fast.equals(slow)
    assert fast["error"].to_pylist() == [None, "KeyError: 'x'"]
    assert fast.schema.field("error").type == pa.string()
    odd = records_to_table([{**rows[1], "error": {"code": 3}}], "d")  # not a string: JSON text, not dropped
    assert odd["error"].to_pylist() == ['{"code":3}']


def write_old_segment(root: Path, rows: list[dict[str, Any]]) -> None:
    """A segment as format version 1 wrote it: no error column, marker b"1"."""
    table = records_to_table(rows, "d")
    table = table.drop_columns(["error"]).replace_schema_metadata({b"shipyard.prediction_log": b"1"})
    folder = root / partition_dir("d", "2024-05-01")
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / "old-replica-000000.parquet")


def test_a_log_mixing_old_and_new_segments_reads_error_as_null_for_the_old(tmp_path: Path) -> None:
    record = {"timestamp_ms": MAY_1, "deployment": "d", "revision": 1, "model": "m", "version": 1,
              "features": {"x": 1.0}, "prediction": 1.0, "latency_ms": 1.0}
    write_old_segment(tmp_path, [{**record, "request_id": "old-1"}, {**record, "request_id": "old-2"}])
    with PredictionLogger(str(tmp_path), replica_id="new") as plog:
        plog.append("d", [{**record, "request_id": "new-ok", "timestamp_ms": MAY_1 + 1},
                          {**record, "request_id": "new-bad", "timestamp_ms": MAY_1 + 2, "prediction": None,
                           "error": "ValueError: boom"}])
    assert len(list(tmp_path.rglob("*.parquet"))) == 2
    table = read_prediction_log("d", with_feedback=False, root=str(tmp_path))
    assert table.schema.field("error").type == pa.string()
    assert table["request_id"].to_pylist() == ["old-1", "old-2", "new-ok", "new-bad"]
    assert table["error"].to_pylist() == [None, None, None, "ValueError: boom"]
    assert table["prediction"].to_pylist() == [1.0, 1.0, 1.0, None]


def test_a_log_of_old_segments_only_still_has_an_error_column(tmp_path: Path) -> None:
    write_old_segment(tmp_path, [{"request_id": "old", "timestamp_ms": MAY_1, "prediction": 1.0}])
    table = read_prediction_log("d", with_feedback=False, root=str(tmp_path))
    assert table.schema.field("error").type == pa.string() and table["error"].to_pylist() == [None]
    table = read_prediction_log("d", with_feedback=False, root=str(tmp_path), last_rows=1)
    assert table["error"].to_pylist() == [None]
