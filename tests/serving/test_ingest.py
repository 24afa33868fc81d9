"""Where a logger sends its segments, and what a server accepts as one."""

from __future__ import annotations

import pytest

from shipyard.errors import InvalidInput
from shipyard.serving._ingest import FolderSink, ServerSink, make_sink, server_of, table_from_ipc, table_to_ipc
from shipyard.serving._predlog_schema import records_to_table


def test_a_servers_artifact_url_is_the_server_anything_else_a_folder(tmp_path) -> None:
    assert server_of("http://host:5000/api/v1/artifacts/prediction-logs") == "http://host:5000"
    assert server_of("https://h/base/api/v1/artifacts/prediction-logs/") == "https://h/base"
    assert server_of("s3://bucket/prediction-logs") is None and server_of(str(tmp_path)) is None
    with pytest.raises(InvalidInput, match="prediction-logs"):
        server_of("http://host:5000/api/v1/artifacts/elsewhere")
    assert isinstance(make_sink("http://host:5000/api/v1/artifacts/prediction-logs"), ServerSink)
    assert isinstance(make_sink(str(tmp_path)), FolderSink)


def test_a_segment_of_an_older_replica_without_the_error_column_is_accepted() -> None:
    row = {"request_id": "r", "timestamp_ms": 1, "deployment": "d", "revision": 1, "model": "m", "version": 1,
           "shadow": False, "features": {"x": 1.0}, "prediction": 1.0, "latency_ms": 1.0}
    old = records_to_table([row], "d").drop_columns(["error"])
    back = table_from_ipc(table_to_ipc(old), "d")
    assert back["error"].to_pylist() == [None] and back["request_id"].to_pylist() == ["r"]
