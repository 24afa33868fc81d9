"""``shipyard policies list|show|trigger|history``, and the CI commands of the automation:
``shipyard models validate`` (the gate) and ``shipyard deployments rollout`` (the progressive rollout).

Exit codes of the CI commands: 0 passed / promoted, 4 the gate rejected the candidate / the rollout
was rolled back, 1 an error (as every command).
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

from shipyard.cli._base import Context, add_verb, add_verbs, positive_int
from shipyard.cli._table import add_output_options

if TYPE_CHECKING:
    from shipyard.entities import PolicyEvent, Rollout

HELP = "policies: retraining on drift or bad quality, gated against the champion, rolled out progressively"
REJECTED = 4


def _finder(p: argparse.ArgumentParser) -> None:
    p.add_argument("--module", metavar="M", action="append", default=None,
                   help="module or .py file defining policies (repeatable; default: shipyard.yaml)")


def register(parser: argparse.ArgumentParser) -> None:
    verbs = add_verbs(parser)
    p = add_verb(verbs, "list", list_policies, "the policies found, with their last event")
    _finder(p)
    add_output_options(p)
    p = add_verb(verbs, "show", show, "a policy's triggers, gate and rollout, and its rollouts")
    p.add_argument("name", metavar="NAME")
    _finder(p)
    p = add_verb(verbs, "trigger", trigger, "retrain now: retrain, gate, and start the rollout")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--reason", metavar="R", default="manual trigger from the command line")
    p.add_argument("--executor", metavar="E", default=None,
                   help="where a retraining pipeline runs: threads (default), processes, dask://host:8786")
    _finder(p)
    p = add_verb(verbs, "history", history, "every event of a policy, newest first")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--max-results", type=positive_int, metavar="N", default=100)
    add_output_options(p)


def _policy(ctx: Context) -> Any:
    from shipyard.cli._pipelines import _setup
    from shipyard.cli._project import find_policies
    from shipyard.errors import NotFound

    _setup(ctx)
    found = find_policies(ctx.args.module)
    if ctx.args.name not in found:
        raise NotFound(f"no policy {ctx.args.name!r} (found: {', '.join(sorted(found)) or 'none'})")
    return found[ctx.args.name]


def event_dict(e: PolicyEvent) -> dict[str, Any]:
    return {"event_id": e.event_id, "time": e.time, "policy": e.policy, "deployment": e.deployment, "kind": e.kind,
            "message": e.message, "data": e.data}


def rollout_dict(r: Rollout) -> dict[str, Any]:
    return {"rollout_id": r.rollout_id, "deployment": r.deployment, "model": r.model,
            "candidate_version": r.candidate_version, "stable_version": r.stable_version, "steps": r.steps,
            "step": r.step, "percent": r.percent, "state": r.state, "dwell_ms": r.dwell_ms, "criteria": r.criteria,
            "policy": r.policy, "started_time": r.started_time, "step_started_time": r.step_started_time,
            "finished_time": r.finished_time, "reason": r.reason}


def list_policies(ctx: Context) -> int:
    from shipyard.cli._base import format_time
    from shipyard.cli._pipelines import _setup
    from shipyard.cli._project import find_policies
    from shipyard.cli._table import Col, emit

    _setup(ctx)
    policies = find_policies(ctx.args.module)
    last = {name: ctx.client.store.list_policy_events(name, max_results=1) for name in policies}

    def event(p: Any) -> PolicyEvent | None:
        return last[p.name][0] if last[p.name] else None

    cols = [Col("Name", lambda p: p.name, rank=0), Col("Deployment", lambda p: p.deployment, rank=2),
            Col("Model", lambda p: p.model, rank=3),
            Col("Triggers", lambda p: ", ".join(str(t.to_dict()) for t in p.triggers) or "manual", rank=4, wrap=True),
            Col("Last event", lambda p: (e := event(p)) and e.message, rank=1, wrap=True),
            Col("When", lambda p: (e := event(p)) and e.time, format_time, rank=1)]
    items = list(policies.values())
    emit(ctx, cols, items, lambda: [{**p.describe(), "last_event": [event_dict(e) for e in last[p.name]]}
                                    for p in items], empty_note="no policies found")
    return 0


def show(ctx: Context) -> int:
    import orjson

    from shipyard.cli._base import key_values

    policy = _policy(ctx)
    rollouts = ctx.client.store.list_rollouts(policy.deployment, max_results=10)
    info = policy.describe()
    if ctx.json:
        ctx.print_json({**info, "rollouts": [rollout_dict(r) for r in rollouts]})
        return 0
    ctx.section(key_values([(k, v if isinstance(v, str | int | float) else orjson.dumps(v).decode())
                            for k, v in info.items()], title=policy.name))
    if rollouts:
        ctx.section(_rollouts_table(rollouts))
    return 0


def _rollouts_table(rollouts: list[Rollout]) -> Any:
    from shipyard.cli._base import format_time, format_value, table

    out = table("Started", "Candidate", "Stable", "Step", "State", "Reason", title="rollouts")
    for r in rollouts:
        out.add_row(format_time(r.started_time), f"{r.model} v{r.candidate_version}",
                    "-" if r.stable_version is None else f"v{r.stable_version}", f"{r.percent:g}%", r.state,
                    format_value(r.reason))
    return out


def trigger(ctx: Context) -> int:
    from shipyard.pipelines._executors import check_executor

    policy = _policy(ctx)
    outcome = policy.trigger(ctx.client, reason=ctx.args.reason, executor=check_executor(ctx.args.executor))
    if ctx.json:
        ctx.print_json({"state": outcome.state, "message": outcome.message,
                        "candidate_version": outcome.candidate_version,
                        "gate": outcome.gate.to_dict() if outcome.gate else None,
                        "rollout": rollout_dict(outcome.rollout) if outcome.rollout else None})
    else:
        ctx.print(f"{policy.name}: {outcome.state}: {outcome.message}")
        if outcome.rollout is not None:
            ctx.note("the scheduler advances the rollout (`shipyard scheduler`), or follow it with "
                     f"`shipyard deployments rollout-status {policy.deployment}`")
    return 0 if outcome.state == "rolling_out" else REJECTED


def history(ctx: Context) -> int:
    from shipyard.cli._base import format_time
    from shipyard.cli._table import Col, emit

    events = ctx.client.store.list_policy_events(ctx.args.name, max_results=ctx.args.max_results)
    cols = [Col("Time", lambda e: e.time, format_time, rank=0), Col("Event", lambda e: e.kind, rank=0),
            Col("What happened", lambda e: e.message, rank=0, wrap=True)]
    emit(ctx, cols, events, lambda: [event_dict(e) for e in events],
         empty_note=f"no events of policy {ctx.args.name!r}")
    return 0


# --- shipyard models validate -----------------------------------------------------------------------

def add_validate(verbs: Any) -> None:
    p = add_verb(verbs, "validate", validate, "gate a version against the champion (exit 4 when it fails)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("version", metavar="VERSION", type=int)
    p.add_argument("--against", metavar="ALIAS", default="champion", help="the baseline alias (champion)")
    p.add_argument("--data", metavar="PATH", default=None,
                   help="held-out data, .parquet or .csv (default: the rows the version's run logged)")
    p.add_argument("--target", metavar="COL", default=None, help="the label column of --data")
    p.add_argument("--metric", default="roc_auc", help="compared with the baseline (roc_auc)")
    p.add_argument("--min-delta", type=float, default=0.0, help="how much better than the baseline (0)")
    p.add_argument("--min", dest="minimums", action="append", default=[], metavar="METRIC=V",
                   help="an absolute minimum (repeatable)")
    p.add_argument("--max", dest="maximums", action="append", default=[], metavar="METRIC=V",
                   help="an absolute maximum (repeatable)")


def _bounds(items: list[str]) -> dict[str, float]:
    from shipyard.errors import InvalidInput

    out = {}
    for item in items:
        metric, _, value = item.partition("=")
        try:
            out[metric.strip()] = float(value)
        except ValueError:
            raise InvalidInput(f"{item!r}: expected METRIC=NUMBER") from None
    return out


def validate(ctx: Context) -> int:
    from shipyard.automation import Gate, evaluate_gate, load_holdout
    from shipyard.automation._holdout import TARGET, read_table_file
    from shipyard.errors import InvalidInput

    a = ctx.args
    gate = Gate(metric=a.metric, min_delta=a.min_delta, minimums=_bounds(a.minimums), maximums=_bounds(a.maximums))
    version = ctx.client.get_model_version(a.name, a.version)
    if a.data:
        if a.target is None and not str(a.data).endswith(".parquet"):
            raise InvalidInput("--target names the label column of --data")
        X, y = read_table_file(str(a.data), a.target or TARGET)
    else:
        if not version.run_id:
            raise InvalidInput(f"{a.name} v{a.version} has no run with held-out data: pass --data")
        X, y = load_holdout(ctx.client, version.run_id)
    result = evaluate_gate(gate, ctx.client, a.name, a.version, X, y, against=a.against,
                           context={"trigger": "cli"})
    if ctx.json:
        ctx.print_json(result.to_dict())
    else:
        from shipyard.cli._base import table

        out = table("Metric", f"v{result.candidate_version}",
                    f"v{result.champion_version} ({a.against})" if result.champion_version else "no baseline",
                    title=f"{a.name}: {result.summary()} ({result.rows} rows, run {result.run_id})")
        for metric, value in result.candidate.items():
            base = (result.champion or {}).get(metric)
            out.add_row(metric, f"{value:.4g}", "-" if base is None else f"{base:.4g}")
        ctx.print(out)
    return 0 if result.passed else REJECTED


# --- shipyard deployments rollout -------------------------------------------------------------------

def add_rollout(verbs: Any) -> None:
    p = add_verb(verbs, "rollout", rollout, "roll a candidate out in canary steps (exit 4 if rolled back)")
    p.add_argument("name", metavar="DEPLOYMENT")
    p.add_argument("--candidate", required=True, metavar="MODEL@VERSION", help="e.g. rain@3")
    p.add_argument("--steps", default="10,50,100", help="canary percentages (10,50,100)")
    p.add_argument("--dwell", default="10m", help="time at each step before the analysis (10m)")
    p.add_argument("--metric", default=None, help="quality metric compared with the stable version, from feedback")
    p.add_argument("--min-rows", type=positive_int, default=30, help="candidate rows needed to judge a step")
    p.add_argument("--wait", action="store_true", help="drive the rollout here until it promotes or rolls back")
    p.add_argument("--poll", type=float, default=2.0, help="seconds between checks with --wait (2)")
    p.add_argument("--replace-routes", action="store_true",
                   help="drop routes to other versions or models (a manual canary); without it the rollout is refused")
    p = add_verb(verbs, "rollout-status", rollout_status, "the deployment's rollouts, newest first")
    p.add_argument("name", metavar="DEPLOYMENT")


def rollout(ctx: Context) -> int:
    from shipyard.automation import RolloutPlan, advance_rollout, start_rollout
    from shipyard.errors import InvalidInput

    a = ctx.args
    model, _, version = a.candidate.partition("@")
    try:
        steps = tuple(float(s) for s in a.steps.split(","))
        candidate = int(version)
    except ValueError:
        raise InvalidInput(f"--candidate MODEL@VERSION and --steps 10,50,100, got {a.candidate!r} and {a.steps!r}") \
            from None
    plan = RolloutPlan(steps=steps, dwell=a.dwell, metric=a.metric, min_rows=a.min_rows)
    current = start_rollout(ctx.client, a.name, model, candidate, plan, reason="shipyard deployments rollout",
                            replace_routes=a.replace_routes)
    ctx.note(f"rollout {current.rollout_id}: {model} v{candidate} at {current.percent:g}%")
    while a.wait and current.state == "RUNNING":
        time.sleep(a.poll)
        moved = advance_rollout(ctx.client, current)
        if moved.step != current.step or moved.state != current.state:
            ctx.note(f"rollout {moved.rollout_id}: {moved.state} at {moved.percent:g}% {moved.reason}")
        current = moved
    if ctx.json:
        ctx.print_json(rollout_dict(current))
    else:
        ctx.print(f"rollout {current.rollout_id}: {current.state} at {current.percent:g}% {current.reason}")
    return REJECTED if current.state == "ROLLED_BACK" else 0


def rollout_status(ctx: Context) -> int:
    rollouts = ctx.client.store.list_rollouts(ctx.args.name, max_results=20)
    if ctx.json:
        ctx.print_json([rollout_dict(r) for r in rollouts])
    else:
        ctx.print(_rollouts_table(rollouts))
    return 0
