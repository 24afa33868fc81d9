"""A run (params, tags, metrics, charts, artifacts, datasets, logged models), the chart data, and
the comparison of several runs."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import Response

from shipyard.errors import InvalidInput, NotFound
from shipyard.server.ui._artifacts import listing
from shipyard.server.ui._modelinfo import logged_models
from shipyard.server.ui._series import parse_range, series
from shipyard.server.ui._session import ViewerDep
from shipyard.server.ui._web import json_response, make_router, render

__all__ = ["router"]

MAX_COMPARE = 10
CHARTED = 4  # metrics charted when a run page opens


def _split_tags(tags: dict[str, str]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    user = sorted((k, v) for k, v in tags.items() if not k.startswith("shipyard."))
    system = sorted((k, v) for k, v in tags.items() if k.startswith("shipyard."))
    return user, system


router = make_router()


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: str, who: ViewerDep) -> Response:
    from shipyard.artifacts import get_artifact_repository

    store = request.app.state.store
    run = store.get_run(run_id)
    try:
        experiment = store.get_experiment(run.info.experiment_id)
    except NotFound:
        experiment = None
    user_tags, system_tags = _split_tags(run.data.tags)
    metrics = sorted(run.data.metrics.items())
    versions = list(store.search_model_versions(run_id=run_id, max_results=100))
    files = listing(get_artifact_repository(run.info.artifact_uri), "")
    return render(request, "run.html", run=run, experiment=experiment, metrics=metrics, user_tags=user_tags,
                  system_tags=system_tags, models=logged_models(run), versions=versions, files=files,
                  charted=[k for k, _ in metrics[:CHARTED]])


@router.get("/series.json")
def series_data(request: Request, who: ViewerDep) -> Response:
    """Chart data: ``run`` and ``key`` repeated, ``x`` (step or time), optionally ``min``/``max`` (a
    zoomed range, in x units) and ``buckets`` (the chart's width in pixels)."""
    q = request.query_params
    store = request.app.state.store
    run_ids = list(dict.fromkeys(q.getlist("run")))[:MAX_COMPARE]
    keys = list(dict.fromkeys(k for k in q.getlist("key") if k))
    axis = q.get("x", "step")
    bounds = parse_range(axis, q.get("min"), q.get("max"))
    width = q.get("buckets", "1000")
    if not run_ids:
        raise InvalidInput("name at least one run")
    runs = [(rid, store.get_run(rid).info.run_name) for rid in run_ids]
    return json_response(series(store, runs, keys, axis, bounds, int(width) if width.isdigit() else 1000))


def _rows(values: list[dict[str, Any]]) -> list[tuple[str, list[Any], bool]]:
    """(key, the value of each run, whether they differ) for the union of keys."""
    keys = sorted({k for v in values for k in v})
    rows = []
    for key in keys:
        cells = [v.get(key) for v in values]
        present = [c for c in cells if c is not None]
        differs = len(present) != len(cells) or any(repr(c) != repr(present[0]) for c in present)
        rows.append((key, cells, differs))
    return rows


@router.get("/compare")
def compare(request: Request, who: ViewerDep) -> Response:
    q = request.query_params
    store = request.app.state.store
    run_ids = list(dict.fromkeys(q.getlist("run")))
    if len(run_ids) > MAX_COMPARE:
        raise InvalidInput(f"compare at most {MAX_COMPARE} runs at once")
    runs = [store.get_run(rid) for rid in run_ids]
    only_diff = q.get("diff") == "1"
    params = _rows([r.data.params for r in runs])
    metrics = _rows([r.data.metrics for r in runs])
    if only_diff:
        params = [row for row in params if row[2]]
        metrics = [row for row in metrics if row[2]]
    common = sorted(set.intersection(*(set(r.data.metrics) for r in runs))) if runs else []
    every = sorted({k for r in runs for k in r.data.metrics})
    return render(request, "compare.html", runs=runs, params=params, metrics=metrics, only_diff=only_diff,
                  metric_keys=every, charted=(common or every)[:2], run_ids=run_ids)
