"""``shipyard monitors create|list|show|run|results|alerts|delete``.

    shipyard monitors create rain --deployment rain-api --window "1000 rows" \\
        --threshold accuracy=0.75 --threshold roc_auc=0.7 --webhook https://hooks.example/x --schedule "every 10m"
    shipyard monitors run rain          # one run now: results stored, incidents opened or resolved
    shipyard monitors results rain      # the time series
    shipyard monitors alerts --open

Settings beyond these options (per-column tests, data-quality bounds, ...) go in ``--checks JSON``,
the same document ``shipyard.monitoring.create_monitor(checks=...)`` takes.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from shipyard.cli._base import Context, add_verb, add_verbs, positive_int
from shipyard.cli._table import add_output_options
from shipyard.monitoring._messages import describe, label
from shipyard.monitoring._messages import show as show_number

if TYPE_CHECKING:
    from collections.abc import Callable

    from shipyard.entities import Alert, Monitor, MonitorResult
    from shipyard.monitoring._spec import MonitorSpec

HELP = "monitors: drift, model quality from feedback, data quality and service health over a deployment"


def _threshold(text: str) -> tuple[str, Any]:
    """``accuracy=0.75`` (a minimum for higher-is-better metrics) or ``mae<=30`` / ``accuracy>=0.8``."""
    for sep, op in ((">=", "min"), ("<=", "max"), ("=", None)):
        if sep in text:
            metric, _, value = text.partition(sep)
            try:
                number = float(value)
            except ValueError:
                raise argparse.ArgumentTypeError(f"threshold {text!r}: {value!r} is not a number") from None
            return metric.strip(), number if op is None else {op: number}
    raise argparse.ArgumentTypeError(f"threshold {text!r}: expected METRIC=VALUE, METRIC>=VALUE or METRIC<=VALUE")


def _json_object(text: str) -> dict[str, Any]:
    import orjson

    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def register(parser: argparse.ArgumentParser) -> None:
    verbs = add_verbs(parser)
    p = add_verb(verbs, "create", create, "create a monitor of a deployment")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--deployment", required=True, metavar="NAME", help="the deployment whose traffic is watched")
    p.add_argument("--window", required=True, metavar="W", help="'1000 rows', '1h', '30m', ...")
    p.add_argument("--threshold", dest="thresholds", action="append", type=_threshold, default=[],
                   metavar="METRIC=VALUE", help="a performance threshold from feedback (repeatable)")
    p.add_argument("--drift-share", type=float, metavar="S", default=None,
                   help="alert when this share of features drifts (default 0.5)")
    p.add_argument("--checks", type=_json_object, metavar="JSON", default=None,
                   help="the full checks document (see docs/monitoring.md); options above are merged into it")
    p.add_argument("--webhook", action="append", default=[], metavar="URL", help="POST alerts as JSON here")
    p.add_argument("--slack", action="append", default=[], metavar="URL", help="a Slack incoming-webhook URL")
    p.add_argument("--command", dest="commands", action="append", default=[], metavar="CMD",
                   help="run this command with the alert as JSON on stdin (split like a shell would)")
    p.add_argument("--schedule", metavar="S", default=None, help="'every 10m' or a cron expression")
    p.add_argument("--task", choices=["classification", "regression"], default=None)
    p.add_argument("--reference-dataset", metavar="RUN_ID/NAME", default=None,
                   help="compare with a dataset logged by a run instead of the model's training profile")
    p.add_argument("--description", metavar="TEXT", default="")
    add_output_options(add_verb(verbs, "list", list_monitors, "list monitors and their latest status"))
    p = add_verb(verbs, "show", show, "a monitor's settings and latest result")
    p.add_argument("name", metavar="NAME")
    p = add_verb(verbs, "run", run, "run a monitor once now (exit 3 when a check alerts)")
    p.add_argument("name", metavar="NAME")
    p = add_verb(verbs, "results", results, "a monitor's results over time (oldest first)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--version", type=int, metavar="V", default=None, help="only this model version")
    p.add_argument("--max-results", type=positive_int, metavar="N", default=50)
    add_output_options(p)
    p = add_verb(verbs, "estimates", estimates,
                 "performance estimated without labels per window, beside the realized one (oldest first)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--metric", metavar="M", default=None, help="only this metric (roc_auc, accuracy, mae, ...)")
    p.add_argument("--version", type=int, metavar="V", default=None, help="only this model version")
    p.add_argument("--max-results", type=positive_int, metavar="N", default=50)
    add_output_options(p)
    p = add_verb(verbs, "alerts", alerts, "incidents, newest first")
    p.add_argument("name", metavar="NAME", nargs="?", default=None, help="only this monitor's")
    p.add_argument("--open", action="store_true", help="only the open ones")
    p.add_argument("--max-results", type=positive_int, metavar="N", default=50)
    add_output_options(p)
    p = add_verb(verbs, "delete", delete, "delete a monitor with its results and alerts")
    p.add_argument("name", metavar="NAME")


def _checks(a: argparse.Namespace) -> dict[str, Any]:
    checks = dict(a.checks or {})
    if a.thresholds:
        checks["performance"] = {**(checks.get("performance") or {}), **dict(a.thresholds)}
    if a.drift_share is not None:
        checks["feature_drift"] = {**(checks.get("feature_drift") or {}), "share": a.drift_share}
    return checks


def _channels(a: argparse.Namespace) -> list[dict[str, Any]]:
    import shlex

    channels: list[dict[str, Any]] = [{"type": "log"}]
    channels += [{"type": "webhook", "url": url} for url in a.webhook]
    channels += [{"type": "webhook", "url": url, "format": "slack"} for url in a.slack]
    channels += [{"type": "command", "argv": shlex.split(cmd)} for cmd in a.commands]
    return channels


def create(ctx: Context) -> int:
    a = ctx.args
    reference: Any = "model"
    if a.reference_dataset:
        run_id, _, name = a.reference_dataset.partition("/")
        reference = {"dataset": {"run_id": run_id, "name": name}}
    monitor = ctx.client.create_monitor(a.name, a.deployment, window=a.window, reference=reference,
                                        checks=_checks(a), channels=_channels(a), schedule=a.schedule,
                                        task=a.task, description=a.description)
    if ctx.json:
        ctx.print_json(monitor_dict(monitor))
    else:
        ctx.print(f"created monitor {monitor.name} of deployment {monitor.deployment}")
    return 0


def monitor_dict(m: Monitor) -> dict[str, Any]:
    return {"name": m.name, "deployment": m.deployment, "description": m.description, "spec": m.spec,
            "created_time": m.created_time, "updated_time": m.updated_time}


def result_dict(r: MonitorResult) -> dict[str, Any]:
    return {"result_id": r.result_id, "run_time": r.run_time, "model": r.model, "version": r.version,
            "status": r.status, "rows": r.rows, "labeled_rows": r.labeled_rows, "window_start": r.window_start,
            "window_end": r.window_end,
            "checks": [{**c.to_dict(), "label": label(c), "message": describe(c)} for c in r.checks],
            "features": [{k: v for k, v in f.items() if k != "histogram"} for f in r.features]}


def alert_dict(a: Alert) -> dict[str, Any]:
    return {"alert_id": a.alert_id, "monitor": a.monitor, "check": a.check, "model": a.model, "version": a.version,
            "state": a.state, "opened_time": a.opened_time, "resolved_time": a.resolved_time, "value": a.value,
            "threshold": a.threshold, "message": a.message, "resolved_message": a.resolved_message,
            "deliveries": a.deliveries}


def _window_text(spec: MonitorSpec) -> str:  # the spec module (NumPy, SciPy) is imported by the verbs
    return f"{spec.window_rows} rows" if spec.window_rows is not None else f"{spec.window_seconds} s"


def _spec(monitor: Monitor) -> MonitorSpec:
    from shipyard.monitoring._spec import MonitorSpec

    return MonitorSpec.from_dict(monitor.spec)


def _status(status: str) -> str:
    return {"ok": "[green]ok[/]", "alert": "[bold red]alert[/]"}.get(status, "[dim]no data[/]")


def list_monitors(ctx: Context) -> int:
    from shipyard.cli._base import format_time
    from shipyard.cli._table import Col, emit

    monitors = ctx.client.list_monitors()
    latest = {m.name: ctx.client.get_monitor_results(m.name, max_results=1) for m in monitors}

    def last(m: Monitor) -> MonitorResult | None:
        return latest[m.name][-1] if latest[m.name] else None

    cols = [Col("Name", lambda m: m.name, rank=0), Col("Deployment", lambda m: m.deployment),
            Col("Window", lambda m: _window_text(_spec(m)), rank=2),
            Col("Schedule", lambda m: _spec(m).schedule, rank=3),
            Col("Last run", lambda m: (r := last(m)) and r.run_time, format_time, rank=2),
            Col("Status", lambda m: (r := last(m)) and r.status, lambda s: _status(s) if s else "-", rank=0)]
    emit(ctx, cols, monitors,
         lambda: [{**monitor_dict(m), "latest": [result_dict(r) for r in latest[m.name]]} for m in monitors])
    return 0


def _checks_table(result: MonitorResult) -> Any:
    from shipyard.cli._base import format_value, table

    out = table("Check", "Value", "Threshold", "Verdict", title=f"{result.model} v{result.version}: "
                f"{result.rows} rows, {result.labeled_rows} labeled")
    for c in result.checks:
        value = "-" if c.value is None else show_number(c.value, c.threshold)
        bound = "-" if c.threshold is None else f"{c.op} {show_number(c.threshold, c.value)}"
        undecided = f"[dim]undecided: {c.reason}[/]" if c.reason else "[dim]recorded (no threshold)[/]"
        verdict = undecided if c.passed is None else "[green]pass[/]" if c.passed else "[bold red]ALERT[/]"
        out.add_row(format_value(label(c)), value, bound, verdict)
    return out


def _drift_table(result: MonitorResult) -> Any:
    from shipyard.cli._base import format_value, table

    out = table("Feature", "Test", "Statistic", "Threshold", "Drifted", title="feature drift")
    for f in result.features:
        stat = "-" if f["statistic"] is None else f"{f['statistic']:.4g}"
        out.add_row(format_value(f["column"]), f["test"], stat, f"{f['threshold']:g}",
                    "[bold red]yes[/]" if f["drifted"] else "no")
    return out


def show(ctx: Context) -> int:
    from shipyard.cli._base import key_values

    monitor = ctx.client.get_monitor(ctx.args.name)
    latest = ctx.client.get_monitor_results(monitor.name, max_results=20)
    newest = [r for r in latest if r.run_time == latest[-1].run_time] if latest else []
    if ctx.json:
        ctx.print_json({**monitor_dict(monitor), "latest": [result_dict(r) for r in newest]})
        return 0
    from shipyard.monitoring._spec import CHECKS

    spec = _spec(monitor)
    enabled = [name for name in CHECKS if getattr(spec, name) is not None]
    ctx.section(key_values([("deployment", monitor.deployment), ("window", _window_text(spec)),
                            ("schedule", spec.schedule or "-"), ("reference", str(spec.reference)),
                            ("checks", ", ".join(enabled)),
                            ("channels", ", ".join(c["type"] for c in spec.channels))], title=monitor.name))
    for result in newest:
        ctx.section(_checks_table(result))
        if result.features:
            ctx.section(_drift_table(result))
    return 0


def run(ctx: Context) -> int:
    import logging

    if not logging.getLogger().handlers:  # the notes below say it; no second copy from logging's last resort
        logging.getLogger("shipyard.monitoring").addHandler(logging.NullHandler())
    outcome = ctx.client.run_monitor(ctx.args.name)
    if ctx.json:
        ctx.print_json({"monitor": outcome.monitor, "run_time": outcome.run_time, "status": outcome.status,
                        "results": [result_dict(r) for r in outcome.results],
                        "events": [e.payload() for e in outcome.events]})
    else:
        for result in outcome.results:
            ctx.section(_checks_table(result))
        for event in outcome.events:
            ctx.note(event.text())
    return 3 if outcome.status == "alert" else 0


def results(ctx: Context) -> int:
    from shipyard.cli._base import format_time
    from shipyard.cli._table import Col, emit

    a = ctx.args
    series = ctx.client.get_monitor_results(a.name, version=a.version, max_results=a.max_results)
    names: list[str] = []
    for r in series:  # the columns: every check with a value, in first-seen order
        names += [label(c) for c in r.checks if c.value is not None and label(c) not in names]
    checks = [{label(c): c for c in r.checks} for r in series]
    rows = list(zip(series, checks, strict=True))
    cols = [Col("Run", lambda row: row[0].run_time, format_time, rank=0),
            Col("Version", lambda row: row[0].version, rank=0), Col("Rows", lambda row: row[0].rows, rank=3),
            Col("Status", lambda row: row[0].status, _status, rank=0),
            *(Col(name, _check_value(name), _check_cell, rank=2, export=lambda c: c and c.value) for name in names)]
    emit(ctx, cols, rows, lambda: [result_dict(r) for r in series])
    return 0


def estimates(ctx: Context) -> int:
    """One row per window and estimated metric: the estimate, its band, and the realized value with
    the estimation error once the window had labels."""
    from shipyard.cli._base import format_time
    from shipyard.cli._table import Col, emit

    a = ctx.args
    series = ctx.client.get_monitor_results(a.name, version=a.version, max_results=a.max_results)
    rows = [(r, c) for r in series for c in r.checks
            if c.check.startswith("estimated_performance.") and c.check != "estimated_performance.assumptions"
            and c.value is not None and (a.metric is None or c.metric == a.metric)]

    def number(key: str) -> Callable[[tuple[MonitorResult, Any]], Any]:
        return lambda row: row[1].detail.get(key)

    def trusted(row: tuple[MonitorResult, Any]) -> str:
        check = row[0].check("estimated_performance.assumptions")
        return "-" if check is None else "yes" if check.passed else "NO"

    def fmt(value: Any) -> str:
        return "-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)

    cols = [Col("Run", lambda row: row[0].run_time, format_time, rank=0),
            Col("Version", lambda row: row[0].version, rank=1),
            Col("Metric", lambda row: row[1].metric, rank=0),
            Col("Estimated", lambda row: row[1], _check_cell, rank=0, export=lambda c: c.value),
            Col("Low", number("low"), fmt, rank=2), Col("High", number("high"), fmt, rank=2),
            Col("Realized", number("realized"), fmt, rank=0), Col("Error", number("error"), fmt, rank=1),
            Col("In band", number("within_band"), fmt, rank=1), Col("Trusted", trusted, rank=1),
            Col("Labeled", lambda row: row[0].labeled_rows, rank=3)]
    emit(ctx, cols, rows, lambda: [{"run_time": r.run_time, "version": r.version, **c.to_dict()} for r, c in rows])
    return 0


def _check_value(name: str) -> Callable[[tuple[MonitorResult, dict[str, Any]]], Any]:
    """Reads one check's result of a results row (None when the run did not record it)."""
    return lambda row: row[1].get(name)


def _check_cell(c: Any) -> str:
    """A check's value, red when it alerted; in CSV and JSON the value itself (see Col.get)."""
    if c is None or c.value is None:
        return "-"
    text = f"{c.value:.3g}"
    return f"[bold red]{text}[/]" if c.passed is False else text


def alerts(ctx: Context) -> int:
    from shipyard.cli._base import format_time
    from shipyard.cli._table import Col, emit

    a = ctx.args
    found = ctx.client.list_alerts(a.name, "OPEN" if a.open else None, a.max_results)
    cols = [Col("Opened", lambda x: x.opened_time, format_time, rank=0), Col("Monitor", lambda x: x.monitor, rank=2),
            Col("Check", lambda x: x.check, rank=0), Col("Version", lambda x: f"{x.model} v{x.version}", rank=3),
            Col("State", lambda x: x.state, lambda s: "[bold red]OPEN[/]" if s == "OPEN" else "resolved", rank=0),
            Col("Resolved", lambda x: x.resolved_time, format_time, rank=4),
            Col("Message", lambda x: x.message, rank=1, wrap=True)]
    emit(ctx, cols, found, lambda: [alert_dict(x) for x in found],
         empty_note="no alerts" + (" open" if a.open else "") + (f" for monitor {a.name}" if a.name else ""))
    return 0


def delete(ctx: Context) -> int:
    ctx.client.delete_monitor(ctx.args.name)
    if not ctx.json:
        ctx.print(f"deleted monitor {ctx.args.name}")
    return 0
