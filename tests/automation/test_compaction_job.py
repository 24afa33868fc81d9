"""The scheduler's job list compacts the prediction log (``shipyard scheduler`` and ``server --scheduler``)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from tests.serving.test_compaction import log_segments

import shipyard
from shipyard.serving.reader import read_prediction_log


def test_the_job_list_runs_the_log_compaction(shipyard_home: Path) -> None:
    from shipyard.automation import JobList
    from shipyard.pipelines import Scheduler
    from shipyard.pipelines._schedule import Schedule

    store = shipyard.Client().store
    root = f"{store.artifact_root}/prediction-logs"
    written = log_segments(root, 5)
    jobs = JobList(store)
    assert jobs.compaction in jobs() and jobs.compaction.name == "predlog.compaction"
    assert jobs.compaction.schedule.spec == "every 5m"
    jobs.compaction.schedule = Schedule.parse("every 1s")  # not wait five minutes
    scheduler = Scheduler(jobs, store, poll_s=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=scheduler.serve, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while jobs.compaction.last_report is None and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=10)
    report = jobs.compaction.last_report
    assert report is not None and [(f.level, f.inputs) for f in report.written] == [("d", 5)]
    assert read_prediction_log("d", with_feedback=False, root=root).num_rows == written
