"""Small server-side SVG pictures: drift histograms (reference vs current) and a pipeline run's tasks.

Every text that reaches the markup is escaped here; colours come from CSS classes (the UI's CSP
allows no style attributes).
"""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

if TYPE_CHECKING:
    from shipyard.entities import PipelineRun

__all__ = ["histogram_svg", "tasks_svg"]

_W, _H, _PAD = 260, 90, 14


def _f(value: float) -> str:
    return f"{value:.2f}"


def _label(value: float) -> str:
    return f"{value:.4g}"


def histogram_svg(hist: dict[str, Any] | None) -> Markup:
    """Reference (filled) and current (outlined) shares per bin or category, on one scale."""
    if not hist or not (hist.get("reference") or hist.get("current")):
        return Markup('<span class="muted">no histogram</span>')
    ref = [float(x or 0) for x in hist.get("reference", [])]
    cur = [float(x or 0) for x in hist.get("current", [])]
    n = max(len(ref), len(cur))
    if n == 0:
        return Markup('<span class="muted">no histogram</span>')
    top = max([*ref, *cur, 1e-12])
    plot_h = _H - _PAD
    width = _W / n
    parts = [f'<svg class="hist" viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" role="img" '
             f'aria-label="reference and current distribution">']
    categorical = hist.get("kind") == "categorical"
    names = [str(c) for c in hist.get("categories", [])] if categorical else []
    for i in range(n):
        x = i * width
        for share, cls, inset in ((ref[i] if i < len(ref) else 0.0, "ref", 0.0),
                                  (cur[i] if i < len(cur) else 0.0, "cur", width * 0.25)):
            h = plot_h * share / top
            where = f"{names[i]}: " if i < len(names) else ""
            tip = escape(f"{where}{'reference' if cls == 'ref' else 'current'} {share * 100:.1f} %")
            bar = max(width - 2 * inset - 0.5, 0.5)
            parts.append(f'<rect class="{cls}" x="{_f(x + inset)}" y="{_f(plot_h - h)}" width="{_f(bar)}" '
                         f'height="{_f(h)}"><title>{tip}</title></rect>')
    edges = hist.get("edges") or []
    if not categorical and len(edges) >= 2:
        parts.append(f'<text x="0" y="{_H - 2}" class="axis">{escape(_label(float(edges[0])))}</text>')
        parts.append(f'<text x="{_W}" y="{_H - 2}" class="axis end">{escape(_label(float(edges[-1])))}</text>')
    elif categorical:
        shown = ", ".join(names[:4]) + ("…" if len(names) > 4 else "")
        parts.append(f'<text x="0" y="{_H - 2}" class="axis">{escape(shown)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def tasks_svg(run: PipelineRun) -> Markup:
    """The run's tasks in start order, one row each, a bar from start to end on the run's clock,
    coloured by state. (The store records no task dependencies, so no edges are drawn.)"""
    tasks = sorted(run.task_runs, key=lambda t: (t.start_time is None, t.start_time or 0, t.key))
    if not tasks:
        return Markup('<p class="empty">No task has run.</p>')
    starts = [t.start_time for t in tasks if t.start_time is not None]
    ends = [t.end_time or t.start_time for t in tasks if t.start_time is not None]
    t0 = min(starts) if starts else 0
    t1 = max([*ends, t0 + 1]) if ends else t0 + 1
    span = max(t1 - t0, 1)
    label_w, bar_w, row_h = 220, 560, 24
    height = row_h * len(tasks) + 24
    parts = [f'<svg class="tasks" viewBox="0 0 {label_w + bar_w + 90} {height}" role="img" '
             f'aria-label="tasks of the run in start order">']
    for i, task in enumerate(tasks):
        y = i * row_h + 4
        parts.append(f'<text x="0" y="{y + 15}" class="label">{escape(task.key[:32])}</text>')
        if task.start_time is None:
            parts.append(f'<text x="{label_w}" y="{y + 15}" class="axis">{escape(task.state.lower())}</text>')
            continue
        x = label_w + bar_w * (task.start_time - t0) / span
        w = max(bar_w * ((task.end_time or t1) - task.start_time) / span, 3)
        duration = "" if task.end_time is None else f", {(task.end_time - task.start_time) / 1000:.2f} s"
        tip = escape(f"{task.key}: {task.state}{duration}, {task.attempts} attempt(s)")
        parts.append(f'<rect x="{_f(x)}" y="{y}" width="{_f(w)}" height="{row_h - 8}" '
                     f'class="task {escape(task.state.lower())}"><title>{tip}</title></rect>')
        parts.append(f'<text x="{_f(min(x + w + 4, label_w + bar_w + 4))}" y="{y + 15}" class="axis">'
                     f'{escape(task.state.lower())}</text>')
    seconds = span / 1000
    parts.append(f'<text x="{label_w}" y="{height - 4}" class="axis">0 s</text>')
    parts.append(f'<text x="{label_w + bar_w}" y="{height - 4}" class="axis end">'
                 f'{escape(_label(seconds) if math.isfinite(seconds) else "")} s</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
