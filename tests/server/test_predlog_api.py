"""The prediction log through the server: replicas send segments, monitors and replicas read them back.

What a serving replica and a monitor with only the server's URL and a token rely on: a segment sent
twice is stored once, bad bodies are a 4xx that stores nothing, and reads through the server give
what a direct read of the same log gives (feedback joined)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest

from shipyard.entities import Feedback, Route
from shipyard.errors import Conflict, InvalidInput, PermissionDenied
from shipyard.serving._ingest import ServerSink, table_to_ipc
from shipyard.serving._predlog_schema import records_to_table
from shipyard.serving.predlog import PredictionLogger
from shipyard.serving.reader import read_prediction_log
from shipyard.store.sql import SqlStore
from shipyard.store.sql.tokens import TokenStore

pytestmark = pytest.mark.integration

MAY_1 = int(dt.datetime(2024, 5, 1, tzinfo=dt.UTC).timestamp() * 1000)
SEGMENT = "/api/v1/deployments/d/prediction-log/segments"


def record(i: int, ts: int = MAY_1, **over: Any) -> dict[str, Any]:
    base = {"request_id": f"req-{i:03d}", "timestamp_ms": ts + i, "deployment": "d", "revision": 1,
            "model": "m" if i % 2 else "n", "version": 1 + i % 2, "shadow": False,
            "features": {"x": float(i)}, "prediction": float(i % 2), "probabilities": None, "latency_ms": 1.0}
    return {**base, **over}


def table(rows: range, deployment: str = "d") -> pa.Table:
    return records_to_table([record(i, deployment=deployment) for i in rows], deployment)


@pytest.fixture
def server(live_server, sql_store: SqlStore) -> tuple[str, dict[str, str]]:
    tokens = {role: TokenStore(sql_store).create_token(f"{role}-t", role) for role in ("reader", "writer")}
    return live_server(auth=True).url, tokens


def log_root(sql_store: SqlStore) -> Path:
    return Path(sql_store.artifact_root) / "prediction-logs"


def direct(sql_store: SqlStore) -> pa.Table:
    return read_prediction_log("d", with_feedback=False, root=str(log_root(sql_store)))


def test_a_retried_segment_is_stored_once(server, sql_store: SqlStore) -> None:
    url, tokens = server
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens['writer']}"}) as http:
        sink = ServerSink(url, client=http)
        assert sink.write("d", "r1-000000", table(range(10))) is True
        assert sink.write("d", "r1-000000", table(range(10))) is False  # the answer was lost: sent again
        assert sink.write("d", "r1-000001", table(range(10, 15))) is True
        with pytest.raises(Conflict):  # the name of other rows: another process with this replica id
            sink.write("d", "r1-000001", table(range(20, 25)))
    assert sorted(direct(sql_store)["request_id"].to_pylist()) == [f"req-{i:03d}" for i in range(15)]
    assert sorted(p.name for p in log_root(sql_store).rglob("*.parquet")) == [  # named by their rows' times
        f"r1-000000~{MAY_1}-{MAY_1 + 9}-10.parquet", f"r1-000001~{MAY_1 + 10}-{MAY_1 + 14}-5.parquet"]


@pytest.mark.parametrize(("body", "segment", "message"), [
    (b"not arrow at all", "r1-000000", "not an Arrow IPC stream"),
    (table_to_ipc(table(range(3)).drop_columns(["request_id"])), "r1-000000", "no column 'request_id'"),
    (table_to_ipc(table(range(3), deployment="other")), "r1-000000", "other deployments"),
    (table_to_ipc(table(range(3)).append_column("secret", pa.array([1, 2, 3]))), "r1-000000", "'secret'"),
    (table_to_ipc(table(range(3))), "a..b", "segment id"),
    (table_to_ipc(table(range(3))), ".hidden", "segment id"),
])
def test_a_bad_segment_is_a_4xx_and_stores_nothing(server, sql_store: SqlStore, body: bytes, segment: str,
                                                    message: str) -> None:
    url, tokens = server
    response = httpx.put(f"{url}{SEGMENT}/{segment}", content=body,
                         headers={"Authorization": f"Bearer {tokens['writer']}"})
    assert 400 <= response.status_code < 500 and message in response.json()["message"], response.text
    assert not list(log_root(sql_store).rglob("*")) or not list(log_root(sql_store).rglob("*.parquet"))


def test_a_reader_token_cannot_send_segments(server) -> None:
    url, tokens = server
    with (httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens['reader']}"}) as http,
          pytest.raises(PermissionDenied)):
        ServerSink(url, client=http).write("d", "r1-000000", table(range(3)))


def test_a_logger_with_only_the_url_and_a_token_logs_and_reads_back(
        server, sql_store: SqlStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url, tokens = server
    monkeypatch.setenv("SHIPYARD_TRACKING_TOKEN", tokens["writer"])
    root = f"{url}/api/v1/artifacts/prediction-logs"
    with PredictionLogger(root, wal_dir=tmp_path / "wal") as plog:
        plog.append("d", [record(i) for i in range(40)])
        plog.flush()
        assert plog.rows_written == 40
    assert direct(sql_store).num_rows == 40  # in the server's own log folder
    sql_store.create_registered_model("m")
    sql_store.create_model_version("m", "/nowhere")
    sql_store.create_deployment("d", [Route("m", 1)])
    sql_store.log_feedback("d", [Feedback("d", "req-003", 1.0, MAY_1 + 100)])
    monkeypatch.setenv("SHIPYARD_TRACKING_TOKEN", tokens["reader"])
    everything = read_prediction_log("d", root=root)
    assert everything.num_rows == 40 and everything.column_names == read_prediction_log(
        "d", root=str(log_root(sql_store)), store=sql_store).column_names
    labels = dict(zip(everything["request_id"].to_pylist(), everything["label"].to_pylist(), strict=True))
    assert labels["req-003"] == 1.0 and labels["req-004"] is None
    last = read_prediction_log("d", None, MAY_1 + 30, last_rows=5, with_feedback=False, root=root)
    assert last["request_id"].to_pylist() == [f"req-{i:03d}" for i in range(25, 30)]
    window = read_prediction_log("d", MAY_1 + 10, dt.datetime(2024, 5, 1, 0, 0, 0, 12000), with_feedback=False,
                                 root=root)
    assert window["request_id"].to_pylist() == ["req-010", "req-011"]
    one_version = httpx.get(f"{url}/api/v1/deployments/d/prediction-log", params={"version": 2, "feedback": "false"},
                            headers={"Authorization": f"Bearer {tokens['reader']}"})
    with pa.ipc.open_stream(one_version.content) as reader:
        assert set(reader.read_all()["version"].to_pylist()) == {2}


def test_replicas_find_each_others_answers_through_the_server(
        server, sql_store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.serving._feedback import find_in_log

    url, tokens = server
    rid = "0190f0f0f0f07" + "a" * 19  # a UUIDv7 request id, as the serving app issues them
    stamp = int(rid[:12], 16)
    monkeypatch.setenv("SHIPYARD_TRACKING_TOKEN", tokens["writer"])
    ServerSink(url).write("d", "r1-000000", records_to_table([record(0, request_id=rid, timestamp_ms=stamp)], "d"))
    monkeypatch.setenv("SHIPYARD_TRACKING_TOKEN", tokens["reader"])
    root = f"{url}/api/v1/artifacts/prediction-logs"
    assert find_in_log(root, "d", [rid, "0190f0f0f0f07" + "b" * 19]) == {rid: ("n", 1)}
    with pytest.raises(InvalidInput):
        find_in_log(root, "d", ["not-a-request-id"])


def test_an_unknown_deployment_reads_as_not_found(server, monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.errors import NotFound

    url, tokens = server
    monkeypatch.setenv("SHIPYARD_TRACKING_TOKEN", tokens["reader"])
    with pytest.raises(NotFound):
        read_prediction_log("nothing", root=f"{url}/api/v1/artifacts/prediction-logs")


def test_a_replica_keeps_answering_through_a_server_outage_and_ships_after(
        server, sql_store: SqlStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import socket

    from shipyard.errors import StoreUnavailable

    url, tokens = server
    with socket.socket() as s:  # a port nothing listens on: the server is down
        s.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("SHIPYARD_TRACKING_TOKEN", tokens["writer"])
    monkeypatch.setenv("SHIPYARD_HTTP_RETRY_S", "0")
    plog = PredictionLogger(f"{down}/api/v1/artifacts/prediction-logs", wal_dir=tmp_path / "wal", max_seconds=0.1)
    for i in range(30):
        plog.append("d", [record(i)])  # never waits, never raises
    with pytest.raises(StoreUnavailable):
        plog.flush()
    assert plog.buffered_rows == 30 and plog.rows_written == 0 and plog.dropped_rows == 0
    plog.close()  # the rows stay in the write-ahead files
    assert list((tmp_path / "wal").glob("*.wal"))
    with PredictionLogger(f"{url}/api/v1/artifacts/prediction-logs", wal_dir=tmp_path / "wal") as back:
        assert back.recovered_rows == 30
    assert sorted(direct(sql_store)["request_id"].to_pylist()) == [f"req-{i:03d}" for i in range(30)]
