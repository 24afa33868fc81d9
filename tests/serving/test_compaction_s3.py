"""The prediction log on an S3-compatible store (moto's server on 127.0.0.1): written, compacted
while read, every row once; the compactors' lock on an object store."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

from tests.serving.test_compaction import DURING, LATER, MAY_1, record  # noqa: E402

from shipyard.serving.compaction import compact_prediction_log  # noqa: E402
from shipyard.serving.predlog import PredictionLogger  # noqa: E402
from shipyard.serving.reader import read_prediction_log  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    import s3fs

    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
                       "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}.items():
        monkeypatch.setenv(key, value)
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        s3fs.S3FileSystem().mkdir("predlog")
        yield "s3://predlog/prediction-logs"
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()


def ids(root: str, **kw: Any) -> list[str]:
    return read_prediction_log("d", with_feedback=False, root=root, **kw)["request_id"].to_pylist()


def test_s3_log_compacted_by_hour_then_day_every_row_once(bucket: str) -> None:
    import s3fs

    with PredictionLogger(bucket, replica_id="pod", max_rows=5) as plog:
        for s in range(8):
            plog.append("d", [record(s * 5 + j, MAY_1 + s * 600_000 + j) for j in range(5)])
            plog.flush()
    written = ids(bucket)
    assert len(written) == 40 and ids(bucket, last_rows=7) == written[-7:]

    report = compact_prediction_log(bucket, grace_s=600, now_ms=DURING)
    assert sum(f.rows for f in report.written) == 40 and report.files_merged == 8
    assert ids(bucket) == written  # inputs and hour files side by side: each row once
    compact_prediction_log(bucket, grace_s=0, now_ms=LATER)  # replaced segments go; the day is merged
    compact_prediction_log(bucket, grace_s=0, now_ms=LATER)
    left = s3fs.S3FileSystem().find("predlog/prediction-logs")
    assert [p.rsplit("/", 1)[1][:2] for p in left] == ["d~"]  # one day file (the lock file is gone too)
    assert ids(bucket) == written and ids(bucket, last_rows=7) == written[-7:]
    assert ids(bucket, start=MAY_1 + 600_000, end=MAY_1 + 1_200_000) == written[5:10]
