"""read_prediction_log: windows, partition pruning, unified schemas and the feedback join."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from shipyard.entities import Feedback
from shipyard.errors import InvalidInput, NotFound
from shipyard.serving.predlog import PredictionLogger
from shipyard.serving.reader import read_prediction_log

MIDNIGHT = int(dt.datetime(2024, 5, 1, tzinfo=dt.UTC).timestamp() * 1000)


def record(i: int, ts: int, **over: Any) -> dict[str, Any]:
    base = {"request_id": f"req-{i}", "timestamp_ms": ts, "deployment": "d", "revision": 1, "model": "m",
            "version": 1, "shadow": False, "features": {"x": float(i)}, "prediction": float(i % 2),
            "probabilities": None, "latency_ms": 0.5}
    return {**base, **over}


def write(root: Path, rows: list[dict[str, Any]], deployment: str = "d") -> None:
    with PredictionLogger(str(root)) as plog:
        plog.append(deployment, rows)


@pytest.fixture
def around_midnight(tmp_path: Path) -> Path:
    """Rows every 10 minutes from 22:00 on April 30 to 02:00 on May 1 (UTC), written in one flush."""
    write(tmp_path, [record(i, MIDNIGHT + (i - 12) * 600_000) for i in range(25)])
    return tmp_path


def ids(table: pa.Table) -> list[str]:
    return table["request_id"].to_pylist()


def test_window_is_half_open_and_crosses_midnight(around_midnight: Path) -> None:
    def window(start: Any, end: Any) -> list[str]:
        return ids(read_prediction_log("d", start, end, with_feedback=False, root=str(around_midnight)))

    assert window(MIDNIGHT - 600_000, MIDNIGHT + 600_000) == ["req-11", "req-12"]
    assert window("2024-04-30T23:50:00Z", "2024-05-01T00:10:00+00:00") == ["req-11", "req-12"]
    assert window(dt.datetime(2024, 4, 30, 23, 50), dt.datetime(2024, 5, 1, 2, 0, tzinfo=dt.UTC)) == [
        f"req-{i}" for i in range(11, 24)]  # a naive datetime is UTC
    assert window(None, dt.date(2024, 5, 1)) == [f"req-{i}" for i in range(12)]
    assert len(window(None, None)) == 25
    assert window("2024-05-02", None) == []


def test_rows_come_back_sorted_by_time(tmp_path: Path) -> None:
    write(tmp_path, [record(2, MIDNIGHT + 2), record(0, MIDNIGHT), record(1, MIDNIGHT + 1)])
    write(tmp_path, [record(3, MIDNIGHT - 1)])
    assert ids(read_prediction_log("d", with_feedback=False, root=str(tmp_path))) == [
        "req-3", "req-0", "req-1", "req-2"]


def test_dates_outside_the_window_are_never_opened(around_midnight: Path) -> None:
    junk = around_midnight / "deployment=d" / "date=2024-04-20"
    junk.mkdir()
    (junk / "broken-000000.parquet").write_bytes(b"not parquet at all")
    table = read_prediction_log("d", "2024-04-30", with_feedback=False, root=str(around_midnight))
    assert table.num_rows == 25
    with pytest.raises(pa.ArrowInvalid):
        read_prediction_log("d", with_feedback=False, root=str(around_midnight))


def test_segments_with_different_feature_sets_and_types_are_unified(tmp_path: Path) -> None:
    write(tmp_path, [record(1, MIDNIGHT, features={"a": 1, "b": "x"}, prediction=1)])
    write(tmp_path, [record(2, MIDNIGHT + 1, features={"a": 2.5, "c": True}, prediction="cat",
                            probabilities=[0.2, 0.8])])
    table = read_prediction_log("d", with_feedback=False, root=str(tmp_path))
    types = {f.name: f.type for f in table.schema}
    assert (types["feature.a"], types["feature.b"], types["feature.c"]) == (pa.float64(), pa.string(), pa.bool_())
    assert types["prediction"] == pa.string()
    rows = table.to_pylist()
    assert [r["feature.a"] for r in rows] == [1.0, 2.5]
    assert [r["feature.b"] for r in rows] == ["x", None] and [r["feature.c"] for r in rows] == [None, True]
    assert [r["prediction"] for r in rows] == ["1", "cat"] and rows[1]["probabilities"] == [0.2, 0.8]


def test_unknown_or_empty_log_gives_an_empty_table_with_the_fixed_columns(tmp_path: Path) -> None:
    table = read_prediction_log("nothing", with_feedback=False, root=str(tmp_path / "missing"))
    assert table.num_rows == 0 and table.schema.names[:3] == ["request_id", "timestamp", "deployment"]
    assert table.to_pandas().empty


def test_bad_time_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not an ISO date"):
        read_prediction_log("d", "yesterday", with_feedback=False, root=str(tmp_path))


@pytest.fixture
def deployment() -> Any:
    """A Client whose store (the test's own SHIPYARD_HOME) knows deployment "d"."""
    import shipyard

    client = shipyard.Client()
    client.create_model_version("m", "/x")
    client.create_deployment("d", routes=[{"model": "m", "version": 1}])
    return client


def test_feedback_is_joined_by_request_id(deployment: Any, tmp_path: Path) -> None:
    write(tmp_path, [record(i, MIDNIGHT + i) for i in range(5)] + [record(1, MIDNIGHT + 1, shadow=True, version=2)])
    deployment.store.log_feedback("d", [Feedback("d", "req-1", 1, MIDNIGHT + 60_000),
                                        Feedback("d", "req-3", 0.0, MIDNIGHT + 120_000),
                                        Feedback("d", "elsewhere", 1, MIDNIGHT)])
    table = read_prediction_log("d", root=str(tmp_path), store=deployment.store)
    assert table.schema.field("label").type == pa.float64()
    assert table.schema.field("feedback_timestamp").type == pa.timestamp("ms", tz="UTC")
    labels = {(r["request_id"], r["shadow"]): r["label"] for r in table.to_pylist()}
    assert labels == {("req-0", False): None, ("req-1", False): 1.0, ("req-1", True): 1.0, ("req-2", False): None,
                      ("req-3", False): 0.0, ("req-4", False): None}
    frame = table.to_pandas()
    assert frame.loc[frame.request_id == "req-3", "feedback_timestamp"].iloc[0] == dt.datetime(
        2024, 5, 1, 0, 2, tzinfo=dt.UTC)


def test_string_labels_and_the_environment_defaults(deployment: Any) -> None:
    from shipyard.config import resolve_settings

    root = resolve_settings().artifact_uri + "/prediction-logs"
    write(Path(root), [record(1, MIDNIGHT, prediction="yes"), record(2, MIDNIGHT + 1, prediction="no")])
    deployment.store.log_feedback("d", [Feedback("d", "req-2", "yes", MIDNIGHT + 5)])
    table = read_prediction_log("d")  # root and store resolved like the SDK does
    assert table["label"].type == pa.string() and table["label"].to_pylist() == [None, "yes"]


def test_a_log_the_store_does_not_know(deployment: Any, tmp_path: Path) -> None:
    write(tmp_path, [record(1, MIDNIGHT)], deployment="gone")
    table = read_prediction_log("gone", root=str(tmp_path), store=deployment.store)
    assert table["label"].to_pylist() == [None]  # a deleted deployment's log outlives it
    with pytest.raises(NotFound):
        read_prediction_log("typo", root=str(tmp_path), store=deployment.store)


# --- last_rows: the newest N rows, reading date folders from the newest back ---------------------


def test_last_rows_are_the_newest_of_the_window_oldest_first(around_midnight: Path) -> None:
    def last(n: int, start: Any = None, end: Any = None) -> list[str]:
        return ids(read_prediction_log("d", start, end, last_rows=n, with_feedback=False, root=str(around_midnight)))

    assert last(3) == ["req-22", "req-23", "req-24"]
    assert last(3, end=MIDNIGHT) == ["req-9", "req-10", "req-11"]  # rows before end only, across midnight
    assert last(14, end=MIDNIGHT + 600_000) == [f"req-{i}" for i in range(13)]  # both days, start open
    assert last(5, start=MIDNIGHT - 3_000_000, end=MIDNIGHT + 600_000) == [f"req-{i}" for i in range(8, 13)]
    assert last(100, start=MIDNIGHT) == [f"req-{i}" for i in range(12, 25)]  # fewer than N: all of them
    assert last(1, start="2024-05-02") == []


def test_last_rows_stops_at_the_date_that_completes_the_count(around_midnight: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.serving._segment_files import SegmentFiles

    junk = around_midnight / "deployment=d" / "date=2024-04-20"
    junk.mkdir()
    (junk / "broken-000000.parquet").write_bytes(b"not parquet at all")
    listed: list[str] = []
    real = SegmentFiles.list_names
    monkeypatch.setattr(SegmentFiles, "list_names", lambda self, rel: listed.append(rel) or real(self, rel))
    table = read_prediction_log("d", last_rows=13, with_feedback=False, root=str(around_midnight))
    assert ids(table) == [f"req-{i}" for i in range(12, 25)]
    assert listed == ["deployment=d", "deployment=d/date=2024-05-01"]  # April's folders never listed
    assert ids(read_prediction_log("d", last_rows=14, with_feedback=False, root=str(around_midnight)))[0] == "req-11"
    with pytest.raises(pa.ArrowInvalid):  # a count that needs every date reaches the broken one
        read_prediction_log("d", last_rows=100, with_feedback=False, root=str(around_midnight))


def test_last_rows_unifies_the_segments_it_reads_and_breaks_ties_by_request_id(tmp_path: Path) -> None:
    write(tmp_path, [record(1, MIDNIGHT, features={"a": 1}), record(2, MIDNIGHT + 5, features={"a": 1})])
    write(tmp_path, [record(3, MIDNIGHT + 5, features={"a": 2.5, "b": "x"}, prediction="cat"),
                     record(4, MIDNIGHT + 5, features={"b": "y"}, prediction="dog")])
    table = read_prediction_log("d", last_rows=2, with_feedback=False, root=str(tmp_path))
    assert ids(table) == ["req-3", "req-4"]  # three rows at MIDNIGHT + 5: the last two by request id
    assert table["prediction"].to_pylist() == ["cat", "dog"] and table["feature.b"].to_pylist() == ["x", "y"]
    assert table.schema.field("feature.a").type == pa.float64()


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_last_rows_must_be_a_positive_integer(tmp_path: Path, bad: Any) -> None:
    with pytest.raises(InvalidInput, match="last_rows must be a positive integer"):
        read_prediction_log("d", last_rows=bad, with_feedback=False, root=str(tmp_path))


def test_last_rows_with_feedback(deployment: Any, tmp_path: Path) -> None:
    write(tmp_path, [record(i, MIDNIGHT + i) for i in range(6)])
    deployment.store.log_feedback("d", [Feedback("d", "req-0", 1, MIDNIGHT), Feedback("d", "req-5", 0, MIDNIGHT)])
    table = read_prediction_log("d", last_rows=2, root=str(tmp_path), store=deployment.store)
    assert ids(table) == ["req-4", "req-5"] and table["label"].to_pylist() == [None, 0.0]
