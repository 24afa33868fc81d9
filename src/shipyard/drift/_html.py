"""A self-contained HTML drift report: verdict, table, and per-column histogram overlays in inline SVG."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._report import ColumnDrift, DriftReport

W, H, PAD = 360, 140, 18
REF_COLOR, CUR_COLOR = "#4c78a8", "#f58518"

CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;font-size:13px}
td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left}
.drift{color:#b00;font-weight:600}.ok{color:#070}.undecided{color:#a60}.cards{display:flex;flex-wrap:wrap;gap:16px;margin-top:16px}
.card{border:1px solid #ddd;border-radius:6px;padding:8px}.card h3{margin:0 0 4px;font-size:14px}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
"""


def _fmt(x: float | None) -> str:
    if x is None:
        return "—"
    if isinstance(x, bool):
        return str(x)
    return f"{x:.4g}"


def _svg(row: ColumnDrift) -> str:
    hist = row.histogram
    ref, cur = hist.get("reference", []), hist.get("current", [])
    n = len(ref)
    if not n:
        return "<p>no data to plot</p>"
    top = max([*ref, *cur, 1e-12])
    bw = (W - 2 * PAD) / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" role="img">']
    for i, (r, c) in enumerate(zip(ref, cur, strict=True)):
        x = PAD + i * bw
        for share, color, off in ((r, REF_COLOR, 0.0), (c, CUR_COLOR, bw / 2)):
            h = (H - 2 * PAD) * share / top
            parts.append(f'<rect x="{x + off:.1f}" y="{H - PAD - h:.1f}" width="{max(bw / 2 - 1, 0.5):.1f}" '
                         f'height="{h:.1f}" fill="{color}" fill-opacity="0.8"/>')
    parts.append(f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" stroke="#999"/>')
    if hist.get("kind") == "numeric":
        lo, hi = hist["edges"][0], hist["edges"][-1]
        parts.append(f'<text x="{PAD}" y="{H - 4}" font-size="10">{lo:.4g}</text>')
        parts.append(f'<text x="{W - PAD}" y="{H - 4}" font-size="10" text-anchor="end">{hi:.4g}</text>')
    else:
        cats = ", ".join(escape(str(c)) for c in hist.get("categories", [])[:8])
        parts.append(f'<text x="{PAD}" y="{H - 4}" font-size="10">{cats}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render(report: DriftReport) -> str:
    verdict = {True: "Dataset drift detected", False: "No dataset drift"}.get(
        report.dataset_drift, "Dataset drift: no column could decide")  # type: ignore[arg-type]
    head = ("<tr><th>column</th><th>type</th><th>role</th><th>test</th><th>statistic</th><th>p-value</th>"
            "<th>threshold</th><th>drifted</th><th>missing ref → cur</th><th>note</th></tr>")
    body = []
    for r in report.rows:
        cls = "drift" if r.drifted else ("ok" if r.drifted is False else "undecided")
        body.append(
            f"<tr><td>{escape(r.column)}</td><td>{r.type}</td><td>{r.role}</td><td>{r.test}</td>"
            f"<td>{_fmt(r.statistic)}</td><td>{_fmt(r.p_value)}</td><td>{_fmt(r.threshold)}</td>"
            f'<td class="{cls}">{"yes" if r.drifted else ("no" if r.drifted is False else "cannot decide")}</td>'
            f"<td>{r.reference_missing_share:.1%} → {r.missing_share:.1%}</td>"
            f"<td>{escape(r.reason or '')}</td></tr>"
        )
    cards = [
        f'<div class="card"><h3 class="{"drift" if r.drifted else "ok"}">{escape(r.column)} '
        f"({r.test}: {escape(r.statistic_name or 'statistic')} = {_fmt(r.statistic)})</h3>{_svg(r)}</div>"
        for r in report.rows
    ]
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Drift report</title>"
        f"<style>{CSS}</style></head><body>"
        f'<h1 class="{"drift" if report.dataset_drift else "ok"}">{verdict}</h1>'
        f"<p>{report.number_of_drifted_columns} of {report.number_of_columns} feature columns drifted "
        f"(share {report.drift_share:.2f}; threshold {report.drift_share_threshold:.2f}).</p>"
        f'<p class="legend"><span style="background:{REF_COLOR}"></span>reference'
        f'<span style="background:{CUR_COLOR}"></span>current</p>'
        f"<table>{head}{''.join(body)}</table><div class='cards'>{''.join(cards)}</div></body></html>"
    )
