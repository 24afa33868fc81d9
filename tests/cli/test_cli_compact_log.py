"""``shipyard deployments compact-log``: merges the prediction log's segments, reads stay whole."""

from __future__ import annotations

from typing import TYPE_CHECKING

import shipyard
from shipyard.serving.reader import read_prediction_log
from tests.serving.test_compaction import log_segments

if TYPE_CHECKING:
    from tests.cli.conftest import Cli, Data


def test_compact_log_merges_a_deployments_segments(cli: Cli, data: Data) -> None:
    assert cli("deployments", "create", "d", "--route", "churn:1").code == 0
    root = f"{shipyard.Client().store.artifact_root}/prediction-logs"
    written = log_segments(root, 6)  # May 1, 2024: a closed day, merged into one file

    result = cli("deployments", "compact-log", "d", "--grace", "0", "--json")
    assert result.code == 0, result.err
    (made,) = result.json()
    assert made["level"] == "d" and made["inputs"] == 6 and made["rows"] == written
    assert "6 file(s) merged into 1" in result.err
    result = cli("deployments", "compact-log", "--grace", "0")  # every deployment: the replaced segments go
    assert result.code == 0 and "6 replaced file(s) removed" in result.err and "nothing to merge" in result.err
    assert read_prediction_log("d", with_feedback=False, root=root).num_rows == written


def test_compact_log_of_an_unknown_deployment_is_an_error(cli: Cli, data: Data) -> None:
    result = cli("deployments", "compact-log", "nope")
    assert result.code != 0 and "nope" in result.err


def test_compact_log_while_another_compactor_runs_is_a_conflict(cli: Cli, data: Data) -> None:
    from shipyard.serving._log_lock import LogLock
    from shipyard.serving._segment_files import SegmentFiles

    root = f"{shipyard.Client().store.artifact_root}/prediction-logs"
    log_segments(root, 2)
    other = LogLock(SegmentFiles(root))
    assert other.acquire()
    try:
        result = cli("deployments", "compact-log")
        assert result.code != 0 and "another compactor holds the lock" in result.err
    finally:
        other.release()
    assert cli("deployments", "compact-log").code == 0
