"""A pipeline run's DAG as inline SVG, from the upstream keys its driver recorded on each task run.

Layered left to right (a task's column is one more than its furthest upstream task's, so every edge
points right); within a column tasks are ordered by the mean row of their upstream tasks, which
keeps most edges short and uncrossed without a layout library. Colours come from CSS classes (the
UI's CSP allows no style attributes) and every text is escaped here.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from markupsafe import Markup

if TYPE_CHECKING:
    from shipyard.entities import TaskRun

__all__ = ["MAX_DRAWN", "dag_svg", "layers"]

MAX_DRAWN = 400  # beyond this the picture is unreadable; the table below it lists every task
_NODE_W, _NODE_H, _GAP_X, _GAP_Y, _PAD = 170, 30, 56, 12, 8


def layers(tasks: list[TaskRun]) -> list[list[str]]:
    """The task keys by column: sources first, each task one column right of its furthest upstream."""
    keys = [t.key for t in tasks]
    known = set(keys)
    ups = {t.key: [u for u in t.upstream if u in known and u != t.key] for t in tasks}
    column: dict[str, int] = {}
    waiting = {k: len(ups[k]) for k in keys}
    children: dict[str, list[str]] = {}
    for k in keys:
        for u in ups[k]:
            children.setdefault(u, []).append(k)
    ready = [k for k in keys if waiting[k] == 0]
    while ready:  # Kahn's order: a task's column is known once all its upstream tasks' are
        k = ready.pop(0)
        column[k] = 1 + max((column[u] for u in ups[k]), default=-1)
        for child in children.get(k, ()):
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    for k in keys:  # a cycle (never recorded by a driver, but the store does not forbid one): column 0
        column.setdefault(k, 0)
    out: list[list[str]] = [[] for _ in range(max(column.values(), default=-1) + 1)]
    row: dict[str, float] = {}
    for k in keys:
        out[column[k]].append(k)
    for col in out:
        col.sort(key=lambda k: (sum(row[u] for u in ups[k] if u in row) / max(1, len(ups[k])) if ups[k] else 0.0,
                                keys.index(k)))
        for i, k in enumerate(col):
            row[k] = float(i)
    return out


def dag_svg(tasks: list[TaskRun]) -> Markup:
    """Boxes for the tasks (coloured by state) and arrows for the recorded edges."""
    if not tasks:
        return Markup('<p class="empty">No task has run.</p>')
    if len(tasks) > MAX_DRAWN:
        return Markup(f'<p class="muted">{len(tasks):,} tasks: too many to draw; the table lists them.</p>')
    by_key = {t.key: t for t in tasks}
    cols = layers(tasks)
    tallest = max(len(c) for c in cols)
    width = len(cols) * (_NODE_W + _GAP_X) - _GAP_X + 2 * _PAD
    height = tallest * (_NODE_H + _GAP_Y) - _GAP_Y + 2 * _PAD
    where: dict[str, tuple[float, float]] = {}
    for c, col in enumerate(cols):
        offset = (tallest - len(col)) * (_NODE_H + _GAP_Y) / 2  # centre short columns
        for r, key in enumerate(col):
            where[key] = (_PAD + c * (_NODE_W + _GAP_X), _PAD + offset + r * (_NODE_H + _GAP_Y))
    parts = [f'<svg class="dag" id="dag" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'role="img" aria-label="the run\'s tasks and their dependencies">',
             '<defs><marker id="dag-arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" '
             'orient="auto"><path d="M0,0 L8,4 L0,8 z" class="arrow"/></marker></defs>']
    edges = 0
    for task in tasks:
        x2, y2 = where[task.key]
        for up in task.upstream:
            if up not in where or up == task.key:
                continue
            x1, y1 = where[up]
            sx, sy, ex, ey = x1 + _NODE_W, y1 + _NODE_H / 2, x2, y2 + _NODE_H / 2
            bend = max((ex - sx) / 2, 12)
            parts.append(f'<path class="edge" data-from="{escape(up)}" data-to="{escape(task.key)}" '
                         f'd="M{sx:.1f},{sy:.1f} C{sx + bend:.1f},{sy:.1f} {ex - bend:.1f},{ey:.1f} {ex:.1f},{ey:.1f}" '
                         'marker-end="url(#dag-arrow)"/>')
            edges += 1
    for key, (x, y) in where.items():
        task = by_key[key]
        state = task.state.lower()
        shown = key if len(key) <= 22 else key[:21] + "…"
        waits = f", waits for {', '.join(task.upstream)}" if task.upstream else ""
        tip = f"{key} ({task.task_name}): {state}{waits}"
        parts.append(f'<g class="node {escape(state)}" data-key="{escape(key)}"><title>{escape(tip)}</title>'
                     f'<rect x="{x:.1f}" y="{y:.1f}" width="{_NODE_W}" height="{_NODE_H}" rx="5"/>'
                     f'<text x="{x + 8:.1f}" y="{y + 19:.1f}">{escape(shown)}</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))
