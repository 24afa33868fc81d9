"""Monitors: per monitor, drift per feature (reference vs current histograms) of a chosen window,
its checks, every check over time (uPlot, one line per model version; an estimated metric also
draws its 95 % band and, once labels arrived, the realized value), and the alerts."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from fastapi import Request
from starlette.responses import Response

from shipyard.monitoring._messages import describe, label
from shipyard.server.ui._session import ViewerDep
from shipyard.server.ui._svg import histogram_svg
from shipyard.server.ui._web import make_router, render

if TYPE_CHECKING:
    from shipyard.entities import MonitorResult

__all__ = ["router"]

HISTORY = 1000  # results read for the charts
PICK = 50  # recent results offered in the window picker
_FIRST_CHECKS = ("performance.roc_auc", "performance.accuracy", "estimated_performance.roc_auc",
                 "estimated_performance.accuracy", "estimated_performance.mae", "feature_drift", "prediction_drift")
# the extra lines of an estimated metric: (detail key, label suffix, line style for ui.js)
_ESTIMATE_LINES = (("low", "band low", "band"), ("high", "band high", "band"), ("realized", "realized", "realized"))

router = make_router()


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _charts(results: list[MonitorResult]) -> dict[str, Any]:
    """{check: {metric, threshold, op, series: [{label, x (s), y}]}} for the checks with numbers."""
    charts: dict[str, Any] = {}
    for result in results:
        when = (result.window_end or result.run_time) / 1000
        for check in result.checks:
            value = _number(check.value)
            if value is None:
                continue
            chart = charts.setdefault(label(check), {"metric": check.metric, "threshold": None,
                                                     "op": check.op, "series": {}})
            chart["threshold"] = _number(check.threshold)
            name = f"{result.model} v{result.version}"
            line = chart["series"].setdefault(name, {"x": [], "y": []})
            line["x"].append(when)
            line["y"].append(value)
            if check.check.startswith("estimated_performance."):
                for key, suffix, style in _ESTIMATE_LINES:
                    extra = _number(check.detail.get(key))
                    if extra is not None:
                        more = chart["series"].setdefault(f"{name} {suffix}", {"x": [], "y": [], "style": style})
                        more["x"].append(when)
                        more["y"].append(extra)
    for chart in charts.values():
        chart["series"] = [{"label": label, **line} for label, line in sorted(chart["series"].items())]
    first = {name: i for i, name in enumerate(_FIRST_CHECKS)}
    return dict(sorted(charts.items(), key=lambda kv: (first.get(kv[0], len(first)), kv[0])))


def window_text(spec: Any) -> str | None:
    """"1000 rows" / "3600 seconds" from a stored spec; None when the spec is not one a monitor can
    run (written by an older version or straight into the database): the page marks it instead of
    failing for every viewer."""
    window = spec.get("window") if isinstance(spec, dict) else None
    if not (isinstance(window, dict) and len(window) == 1):
        return None
    (kind, amount), = window.items()
    if kind not in ("rows", "seconds") or isinstance(amount, bool) or not isinstance(amount, int):
        return None
    return f"{amount} {kind}"


@router.get("/monitors")
def monitors(request: Request, who: ViewerDep) -> Response:
    store = request.app.state.store
    rows = []
    for monitor in store.list_monitors():
        last = store.list_monitor_results(monitor.name, max_results=1)
        open_alerts = store.list_alerts(monitor=monitor.name, state="OPEN", max_results=100)
        rows.append((monitor, last[-1] if last else None, len(open_alerts), window_text(monitor.spec)))
    return render(request, "monitors.html", rows=rows)


@router.get("/monitors/{name}")
def monitor(request: Request, name: str, who: ViewerDep, result: str = "") -> Response:
    store = request.app.state.store
    found = store.get_monitor(name)
    results = store.list_monitor_results(name, max_results=HISTORY)
    chosen = next((r for r in results if r.result_id == result), None) if result else None
    if chosen is None:
        with_drift = [r for r in results if r.features]
        chosen = (with_drift or results or [None])[-1]
    drift = [(row, histogram_svg(row.get("histogram"))) for row in (chosen.features if chosen else [])]
    prediction = next((c for c in chosen.checks if c.detail.get("histogram")), None) if chosen else None
    charts = _charts(results)
    return render(request, "monitor.html", monitor=found, label=label, describe=describe, results=results,
                  recent=list(reversed(results[-PICK:])),
                  chosen=chosen, drift=drift, charts=charts, first_chart=next(iter(charts), ""),
                  prediction=(prediction, histogram_svg(prediction.detail["histogram"])) if prediction else None,
                  alerts=store.list_alerts(monitor=name, max_results=100))
