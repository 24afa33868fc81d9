"""Chart data: M4 downsampling keeps what a chart shows (every spike, the ends) in a few points per pixel;
long histories are read in range; the SVG pictures escape what they draw."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from shipyard.entities import Metric, PipelineRun, TaskRun
from shipyard.errors import InvalidInput, NotFound
from shipyard.server.ui._downsample import m4_indices
from shipyard.server.ui._series import parse_range, series
from shipyard.server.ui._svg import histogram_svg, tasks_svg
from shipyard.store.sql import SqlStore


def test_m4_keeps_ends_and_extremes_of_every_bucket_in_at_most_four_points_each() -> None:
    rng = np.random.default_rng(0)
    x = np.arange(100_000, dtype=float)
    y = np.sin(x / 700) + rng.normal(0, 0.05, x.size)
    y[31_337], y[77_777] = 9.0, -9.0
    keep = m4_indices(x, y, 500)
    assert keep.size <= 4 * 500 and np.all(np.diff(keep) > 0)
    assert {0, 99_999, 31_337, 77_777} <= set(keep.tolist())
    edges = np.linspace(0, 100_000, 501)
    for lo, hi in zip(edges[:-1:50], edges[1::50], strict=True):  # every 50th bucket: its min and max are kept
        inside = (x >= lo) & (x < hi)
        kept = inside[keep]
        assert y[keep][kept].max() == y[inside].max() and y[keep][kept].min() == y[inside].min()


def test_m4_edge_cases() -> None:
    assert m4_indices(np.arange(10.0), np.arange(10.0), 5).tolist() == list(range(10))  # few points: all
    same_x = m4_indices(np.zeros(40), np.arange(40.0), 2)  # one x: split by count
    assert same_x.tolist() == [0, 19, 20, 39]
    y = np.full(1000, np.nan)
    y[500] = 1.0
    y[501] = np.inf
    keep = m4_indices(np.arange(1000.0), y, 10)
    assert 500 in keep and keep.size <= 40  # NaN and inf skipped for min/max, never crash
    gappy = np.concatenate([np.arange(100.0), np.arange(10_000.0, 10_100.0)])  # empty buckets in between
    assert m4_indices(gappy, np.ones(200), 20).size <= 80


@pytest.fixture
def long_run(sql_store: SqlStore) -> str:
    run = sql_store.create_run(sql_store.create_experiment("charts"), run_name="long")
    start = int(time.time() * 1000)
    sql_store.log_batch(run.info.run_id, metrics=[
        Metric("loss", math.nan if s == 5 else 1.0 / (s + 1), start + 2 * s, s) for s in range(20_000)])
    return run.info.run_id


class HistoryOnly:
    """A store with only the protocol's get_metric_history (as RestStore is)."""

    def __init__(self, store: SqlStore) -> None:
        self.get_metric_history = store.get_metric_history


@pytest.mark.parametrize("kind", ["sql", "protocol"])
def test_series_downsamples_and_reads_only_the_zoomed_range(sql_store: SqlStore, long_run: str, kind: str) -> None:
    store = sql_store if kind == "sql" else HistoryOnly(sql_store)
    full = series(store, [(long_run, "long")], ["loss", "missing"], buckets=100)  # type: ignore[arg-type]
    (loss,) = full["series"]  # a key without points is left out
    assert loss["total"] == 20_000 and loss["shown"] <= 400 and loss["x"][0] == 0 and loss["x"][-1] == 19_999
    assert loss["y"][0] == 1.0 and loss["label"] == "loss"
    zoom = series(store, [(long_run, "long")], ["loss"], bounds=(1.0, 10.0), buckets=100)  # type: ignore[arg-type]
    (detail,) = zoom["series"]
    assert detail["x"] == list(range(1, 11)) and detail["total"] == 10
    assert detail["y"][4] is None or math.isnan(detail["y"][4])  # NaN stays a gap (JSON null)
    by_time = series(store, [(long_run, "long")], ["loss"], axis="time", buckets=100)  # type: ignore[arg-type]
    xs = by_time["series"][0]["x"]
    assert xs == sorted(xs) and xs[-1] - xs[0] == pytest.approx(2 * 19_999 / 1000)  # seconds, for uPlot


def test_series_limits_and_ranges(sql_store: SqlStore, long_run: str) -> None:
    with pytest.raises(InvalidInput, match="at most 40 series"):
        series(sql_store, [(long_run, "x")] * 5, [f"k{i}" for i in range(9)])
    assert parse_range("step", None, "") is None
    assert parse_range("time", "1.5", "2") == (1.5, 2.0)
    for args in (("epoch", None, None), ("step", "1", None), ("step", "x", "2"), ("step", "3", "2"),
                 ("step", "nan", "1")):
        with pytest.raises(InvalidInput):
            parse_range(*args)


def test_metric_points_of_the_sql_store(sql_store: SqlStore, long_run: str) -> None:
    points = sql_store.metric_points(long_run, "loss", step_range=(4, 6))
    assert [(s, v) for s, _, v in points] == [(4, 0.2), (5, None), (6, 1 / 7)]
    t0 = points[0][1]
    assert [s for s, _, _ in sql_store.metric_points(long_run, "loss", time_range=(t0, t0 + 4))] == [4, 5, 6]
    assert sql_store.metric_points(long_run, "nope") == []
    with pytest.raises(NotFound):
        sql_store.metric_points("0" * 32, "loss")


def test_pictures_escape_what_they_draw() -> None:
    evil = "<img src=x onerror=alert(1)>"
    svg = histogram_svg({"kind": "categorical", "categories": [evil, "b"], "reference": [0.5, 0.5],
                         "current": [0.9, 0.1]})
    assert "<img" not in svg and "&lt;img" in svg and svg.count("<rect") == 4
    numeric = histogram_svg({"kind": "numeric", "edges": [0, 1, 2], "reference": [1, 0], "current": [0, 1]})
    assert 'class="axis end">2<' in numeric
    assert "no histogram" in histogram_svg(None) and "no histogram" in histogram_svg({"reference": []})
    run = PipelineRun("r", "p", "FAILED", {}, 0, task_runs=[
        TaskRun("r", evil, "t", "FAILED", 1, 1000, 3000), TaskRun("r", "later", "t", "SKIPPED")])
    picture = tasks_svg(run)
    assert "<img" not in picture and "failed" in picture and "skipped" in picture
    assert "No task" in tasks_svg(PipelineRun("r", "p", "PENDING", {}, 0))
