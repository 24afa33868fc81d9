"""Progressive rollout: canary steps with a dwell time, an analysis at each step, promote or roll back.

    plan = RolloutPlan(steps=(10, 50, 100), dwell="10m", metric="roc_auc")
    rollout = start_rollout(client, "rain-api", "rain", candidate_version=2, plan=plan)
    advance_rollout(client, rollout)      # the scheduler calls this; it acts only once the dwell is over

The rollout row in the store owns the traffic split. Each tick first *reconciles*: the deployment's
routes are made to match the current step (so a scheduler that died between writing the step and
changing the routes leaves nothing half-done), and a rolled-back rollout's candidate is taken out
of the routes. Moving to the next step is a compare-and-set on the row, so two schedulers (or a
scheduler and ``--wait``) never both move it.

The analysis compares the candidate's rows of the current step with the stable version's rows since
the rollout started, from the prediction log with feedback: error rate (candidate <= stable +
``max_error_rate_increase``), p99 latency (<= stable x ``max_latency_ratio`` + 5 ms) and, when both
have ``min_labeled`` labeled rows, ``metric`` (not worse than stable by more than ``metric_tolerance``).
With ``estimate=True`` a candidate short of labels is judged on its *estimated* ``metric`` (the
version's estimator, see ``shipyard.monitoring.fit_version_estimator``) instead of waiting for them.
At 100 % the candidate becomes ``champion`` and the former champion keeps alias ``previous``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow.compute as pc

from shipyard.entities import PolicyEvent, Rollout, Route
from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.monitoring._checks import labeled, probabilities, split_failed
from shipyard.monitoring._metrics import HIGHER_IS_BETTER, performance
from shipyard.monitoring._spec import parse_window

if TYPE_CHECKING:
    import pyarrow as pa

    from shipyard.registry.client import RegistryClient

__all__ = ["AUTOMATION_USER", "RolloutPlan", "StepAnalysis", "VersionNumbers", "advance_rollout", "analyze",
           "start_rollout"]

logger = logging.getLogger("shipyard.automation")
AUTOMATION_USER = "shipyard-automation"
_LATENCY_SLACK_MS = 5.0  # below this a p99 difference is noise on a shared machine
_MIN_WAIT_MS = 10_000  # a short (or zero) dwell still gives a step's rows and labels time to arrive


@dataclass(frozen=True)
class RolloutPlan:
    """How a candidate is rolled out; ``dwell`` is "10m", "30s", or seconds."""

    steps: tuple[float, ...] = (10.0, 50.0, 100.0)
    dwell: Any = "10m"
    metric: str | None = None
    metric_tolerance: float = 0.02
    max_error_rate_increase: float = 0.02
    max_latency_ratio: float = 2.0
    min_rows: int = 30
    min_labeled: int = 30
    max_wait_factor: float = 3.0  # a step short of rows waits this many dwells (at least 10 s), then aborts
    estimate: bool = False  # too few labels: judge the candidate's estimated metric instead of waiting

    @property
    def dwell_ms(self) -> int:
        if isinstance(self.dwell, int | float) and not isinstance(self.dwell, bool):
            return int(float(self.dwell) * 1000)
        window = parse_window(self.dwell)
        if "seconds" not in window:
            raise InvalidInput(f"rollout dwell must be a time span such as '10m', got {self.dwell!r}")
        return window["seconds"] * 1000

    def criteria(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("steps")
        d.pop("dwell")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any] | RolloutPlan | None) -> RolloutPlan:
        if d is None:
            return cls()
        if isinstance(d, RolloutPlan):
            return d
        known = set(cls.__dataclass_fields__)
        if unknown := set(d) - known:
            raise InvalidInput(f"rollout: unknown setting(s) {', '.join(sorted(unknown))} (known: {', '.join(known)})")
        d = dict(d)
        if "steps" in d:
            d["steps"] = tuple(float(p) for p in d["steps"])
        plan = cls(**d)
        plan.dwell_ms  # noqa: B018 (validates the dwell now, not at the first tick)
        return plan

    @classmethod
    def of(cls, rollout: Rollout) -> RolloutPlan:
        """The plan a stored rollout runs under (its criteria JSON, steps and dwell), typed again.
        Settings a plan no longer has are ignored, settings added since take their defaults."""
        known = set(cls.__dataclass_fields__) - {"steps", "dwell"}
        return cls.from_dict({**{k: v for k, v in rollout.criteria.items() if k in known},
                              "steps": rollout.steps, "dwell": rollout.dwell_ms / 1000})


@dataclass(frozen=True)
class VersionNumbers:
    """One version's numbers in a canary analysis (``metric``: the plan's metric, when labeled enough)."""

    rows: int
    errors: int
    error_rate: float | None
    p99_latency_ms: float | None
    labeled: int = 0
    metric: float | None = None
    estimated: bool = False  # ``metric`` was estimated from predictions (too few labels)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VersionNumbers:
        known: dict[str, Any] = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


@dataclass(frozen=True)
class StepAnalysis:
    """The canary analysis of one step: ``verdict`` "pass", "fail" or "wait", and why (``reasons``).
    Stored in the rollout's events as :meth:`to_dict`."""

    step: int
    percent: float
    verdict: str
    candidate: VersionNumbers
    stable: VersionNumbers | None
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "percent": self.percent, "verdict": self.verdict,
                "candidate": self.candidate.to_dict(), "stable": None if self.stable is None else self.stable.to_dict(),
                "reasons": list(self.reasons)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StepAnalysis:
        return cls(int(d["step"]), float(d["percent"]), str(d["verdict"]), VersionNumbers.from_dict(d["candidate"]),
                   None if d.get("stable") is None else VersionNumbers.from_dict(d["stable"]),
                   tuple(d.get("reasons", ())))


def _now() -> int:
    return int(time.time() * 1000)


def _make_event(rollout: Rollout, kind: str, message: str, **data: Any) -> PolicyEvent:
    logger.info("%s: %s", rollout.deployment, message)
    return PolicyEvent(rollout.policy or "", rollout.deployment, kind, message,
                       {"rollout_id": rollout.rollout_id, **data})


def _event(client: RegistryClient, rollout: Rollout, kind: str, message: str, **data: Any) -> None:
    client.store.add_policy_event(_make_event(rollout, kind, message, **data))


def _routes_for(rollout: Rollout, percent: float | None) -> list[Route]:
    """The routes of ``percent`` % to the candidate (None or 0: the stable version alone)."""
    if not percent or (rollout.stable_version is None and percent < 100):
        stable = rollout.stable_version if rollout.stable_version is not None else rollout.candidate_version
        return [Route(rollout.model, stable, 100.0)]
    if percent >= 100 or rollout.stable_version is None:
        return [Route(rollout.model, rollout.candidate_version, 100.0)]
    return [Route(rollout.model, rollout.stable_version, 100.0 - percent),
            Route(rollout.model, rollout.candidate_version, float(percent))]


def _apply(client: RegistryClient, rollout: Rollout, routes: list[Route], why: str) -> None:
    current = client.store.get_deployment(rollout.deployment).current.routes
    if [(r.model, r.version, r.weight) for r in current] == [(r.model, r.version, r.weight) for r in routes]:
        return
    client.store.update_deployment(rollout.deployment, routes=routes, created_by=AUTOMATION_USER, reason=why)


def _stable_version(client: RegistryClient, deployment: str, model: str, candidate: int) -> int | None:
    routes = [r for r in client.store.get_deployment(deployment).current.routes if r.model == model]
    others = [r for r in routes if r.version != candidate and r.weight > 0]
    if not others:
        return None
    return max(others, key=lambda r: r.weight).version


def _left_out(client: RegistryClient, deployment: str, model: str, stable: int | None, candidate: int) -> list[Route]:
    """Routes carrying traffic that a rollout between ``stable`` and ``candidate`` would drop: a
    manual canary (another version, or another model) an operator set with ``deployments update``."""
    kept = {(model, candidate), (model, stable)}
    return [r for r in client.store.get_deployment(deployment).current.routes
            if r.weight > 0 and (r.model, r.version) not in kept]


def start_rollout(client: RegistryClient, deployment: str, model: str, candidate_version: int,
                  plan: RolloutPlan | dict[str, Any] | None = None, *, policy: str | None = None,
                  reason: str = "", replace_routes: bool = False) -> Rollout:
    """Begin a rollout at its first step. Raises Conflict if one is in progress on ``deployment``.

    A rollout owns the deployment's traffic split: its routes are the stable version and the
    candidate. A route to anything else (a manual canary) would be dropped, so the rollout is refused
    with a Conflict naming it, unless ``replace_routes`` says to drop it (the event then lists it).
    """
    plan = RolloutPlan.from_dict(plan)
    client.get_model_version(model, candidate_version)  # NotFound before anything changes
    stable = _stable_version(client, deployment, model, int(candidate_version))
    dropped = _left_out(client, deployment, model, stable, int(candidate_version))
    if dropped and not replace_routes:
        names = ", ".join(f"{r.model} v{r.version} ({r.weight:g}%)" for r in dropped)
        raise Conflict(
            f"deployment {deployment!r} also routes traffic to {names} besides the stable v{stable}: a rollout of "
            f"{model} v{candidate_version} would drop that route. End that canary first (shipyard deployments "
            "update, or rollback), or replace it on purpose (shipyard deployments rollout --replace-routes; "
            "start_rollout(..., replace_routes=True))")
    rollout = client.store.create_rollout(Rollout(
        "", deployment, model, int(candidate_version), stable, list(plan.steps), plan.dwell_ms, plan.criteria(),
        policy=policy, reason=reason))
    _event(client, rollout, "rollout_started",
           f"rollout of {model} v{candidate_version} against v{stable} started: steps "
           f"{', '.join(f'{p:g}%' for p in rollout.steps)}, dwell {plan.dwell_ms / 1000:g} s"
           + (f"; replacing the routes to {', '.join(f'{r.model} v{r.version}' for r in dropped)}" if dropped else ""),
           candidate_version=rollout.candidate_version, stable_version=stable, steps=rollout.steps,
           replaced_routes=[r.to_dict() for r in dropped])
    _apply(client, rollout, _routes_for(rollout, rollout.percent),
           f"rollout {rollout.rollout_id}: {model} v{candidate_version} at {rollout.percent:g}%")
    return rollout


def _version_rows(table: pa.Table, model: str, version: int) -> pa.Table:
    return table.filter(pc.and_(pc.equal(table["model"], model), pc.equal(table["version"], version)))


def _numbers(rows: pa.Table, metric: str | None, min_labeled: int) -> VersionNumbers:
    answered, failed = split_failed(rows)
    n = rows.num_rows
    p99 = float(np.percentile(answered["latency_ms"].to_numpy(), 99)) if answered.num_rows else None
    labeled_rows, value = 0, None
    if metric and answered.num_rows:
        with_labels = labeled(answered)
        labeled_rows = with_labels.num_rows
        if with_labels.num_rows >= min_labeled:
            values = performance(with_labels["label"].to_numpy(zero_copy_only=False),
                                 with_labels["prediction"].to_numpy(zero_copy_only=False), probabilities(with_labels))
            value = values.get(metric)
    return VersionNumbers(n, failed, failed / n if n else None, p99, labeled_rows, value)


def _estimated(client: RegistryClient, numbers: VersionNumbers, rows: pa.Table, model: str, version: int,
               metric: str) -> VersionNumbers:
    """``numbers`` with the version's estimated ``metric`` on ``rows`` (unchanged when it has no estimator)."""
    from dataclasses import replace

    from shipyard.monitoring._checks import _numpy
    from shipyard.monitoring._estimator_store import version_estimator
    from shipyard.serving._predlog_schema import FEATURE_PREFIX

    estimator, _ = version_estimator(client.store, model, version)
    answered, _ = split_failed(rows)
    if estimator is None or not answered.num_rows:
        return numbers
    pred = _numpy(answered["prediction"])
    if estimator.task == "classification":
        proba = probabilities(answered)
        if proba is None:
            return numbers
        got = estimator.estimate(proba, pred)
    else:
        X = {c[len(FEATURE_PREFIX):]: _numpy(answered[c]) for c in answered.column_names
             if c.startswith(FEATURE_PREFIX)}
        got = estimator.estimate(X, pred)
    return replace(numbers, metric=got.get(metric), estimated=metric in got)


def analyze(client: RegistryClient, rollout: Rollout, now: int, root: str | None = None) -> StepAnalysis:
    """The canary analysis of the current step, under the plan the rollout was started with."""
    from shipyard.serving.reader import read_prediction_log

    plan = RolloutPlan.of(rollout)
    root = root or f"{client.store.artifact_root.rstrip('/')}/prediction-logs"
    table = read_prediction_log(rollout.deployment, rollout.started_time, now, store=client.store, root=root)
    step_rows = table.filter(pc.greater_equal(table["timestamp"].cast("int64"), rollout.step_started_time)) \
        if table.num_rows else table
    candidate = _numbers(_version_rows(step_rows, rollout.model, rollout.candidate_version), plan.metric,
                         plan.min_labeled)
    stable = _numbers(_version_rows(table, rollout.model, rollout.stable_version), plan.metric, plan.min_labeled) \
        if rollout.stable_version is not None else None

    def verdict(word: str, *reasons: str) -> StepAnalysis:
        return StepAnalysis(rollout.step, rollout.percent, word, candidate, stable, tuple(reasons))

    waited = now - rollout.step_started_time
    if candidate.rows < plan.min_rows:
        if waited < _wait_limit(rollout, plan):
            return verdict("wait", f"{candidate.rows} candidate rows so far, waiting for {plan.min_rows}")
        return verdict("fail", f"only {candidate.rows} candidate rows after {waited / 1000:.0f} s: "
                               "not enough traffic to judge the candidate")
    if plan.metric and plan.estimate and candidate.labeled < plan.min_labeled:
        candidate = _estimated(client, candidate, _version_rows(step_rows, rollout.model, rollout.candidate_version),
                               rollout.model, rollout.candidate_version, plan.metric)
        if stable is not None and stable.metric is None and rollout.stable_version is not None:
            stable = _estimated(client, stable, _version_rows(table, rollout.model, rollout.stable_version),
                                rollout.model, rollout.stable_version, plan.metric)
    if plan.metric and candidate.labeled < plan.min_labeled and not candidate.estimated \
            and waited < _wait_limit(rollout, plan):
        # quality is the point of the canary: wait for its feedback a while
        return verdict("wait", f"{candidate.labeled} labeled candidate rows so far, waiting for {plan.min_labeled}")
    reasons = []
    base_rate = stable.error_rate if stable and stable.error_rate is not None else 0.0
    if candidate.error_rate is not None and candidate.error_rate > base_rate + plan.max_error_rate_increase:
        reasons.append(f"error rate {candidate.error_rate:.3f} > stable {base_rate:.3f} + "
                       f"{plan.max_error_rate_increase:g}")
    if stable and stable.p99_latency_ms is not None and candidate.p99_latency_ms is not None:
        bound = stable.p99_latency_ms * plan.max_latency_ratio + _LATENCY_SLACK_MS
        if candidate.p99_latency_ms > bound:
            reasons.append(f"p99 latency {candidate.p99_latency_ms:.1f} ms > {bound:.1f} ms")
    metric = plan.metric
    if metric and stable and candidate.metric is not None and stable.metric is not None:
        worse = stable.metric - candidate.metric if metric in HIGHER_IS_BETTER else candidate.metric - stable.metric
        if worse > plan.metric_tolerance:
            word = "estimated " if candidate.estimated else ""
            reasons.append(f"{word}{metric} {candidate.metric:.4g} worse than stable {stable.metric:.4g} "
                           f"by more than {plan.metric_tolerance:g}")
    return verdict("fail" if reasons else "pass", *reasons)


def _wait_limit(rollout: Rollout, plan: RolloutPlan) -> float:
    return max(rollout.dwell_ms * plan.max_wait_factor, _MIN_WAIT_MS)


def _reconcile(client: RegistryClient, deployment: str) -> Rollout | None:
    """Make the routes match the running rollout, or take a rolled-back candidate out of them."""
    active = client.store.get_active_rollout(deployment)
    if active is not None:
        _apply(client, active, _routes_for(active, active.percent),
               f"rollout {active.rollout_id}: {active.model} v{active.candidate_version} at {active.percent:g}%")
        return active
    last = client.store.list_rollouts(deployment, max_results=1)
    if last and last[0].state == "PROMOTED":
        _finish_promotion(client, last[0])
    if last and last[0].state == "ROLLED_BACK":
        routes = client.store.get_deployment(deployment).current.routes
        if any(r.model == last[0].model and r.version == last[0].candidate_version and r.weight > 0 for r in routes):
            _apply(client, last[0], _routes_for(last[0], None), f"rollout {last[0].rollout_id} rolled back")
    return None


def advance_rollout(client: RegistryClient, rollout: Rollout | str, *, now: int | None = None,
                    root: str | None = None) -> Rollout:
    """One tick of a rollout: reconcile; after the dwell, analyze and advance, promote or roll back.
    Returns the rollout as it stands (unchanged while the dwell runs or the rows are too few)."""
    rollout_id = rollout if isinstance(rollout, str) else rollout.rollout_id
    current = client.store.get_rollout(rollout_id)
    if current.state != "RUNNING":
        _reconcile(client, current.deployment)
        return current
    _reconcile(client, current.deployment)
    now = _now() if now is None else now
    if now - current.step_started_time < current.dwell_ms:
        return current
    analysis = analyze(client, current, now, root)
    if analysis.verdict == "wait":
        return current
    try:
        if analysis.verdict == "fail":
            return _roll_back(client, current, analysis)
        if current.step + 1 < len(current.steps):
            following = current.steps[current.step + 1]
            moved = client.store.update_rollout(
                current.rollout_id, current.step, step=current.step + 1, step_started_time=now,
                event=_make_event(current, "rollout_step", f"canary v{current.candidate_version} passed at "
                                  f"{current.percent:g}%, now at {following:g}%", analysis=analysis.to_dict()))
            _apply(client, moved, _routes_for(moved, moved.percent),
                   f"rollout {moved.rollout_id}: {moved.model} v{moved.candidate_version} at {moved.percent:g}%")
            return moved
        return _promote(client, current, analysis)
    except Conflict:
        logger.info("rollout %s was moved by another process", current.rollout_id)
        return client.store.get_rollout(current.rollout_id)


def _promote(client: RegistryClient, rollout: Rollout, analysis: StepAnalysis) -> Rollout:
    message = f"{rollout.model} v{rollout.candidate_version} is champion" + (
        f"; v{rollout.stable_version} keeps alias 'previous'" if rollout.stable_version is not None else "")
    done = client.store.update_rollout(
        rollout.rollout_id, rollout.step, state="PROMOTED", reason=f"passed every step up to {rollout.percent:g}%",
        event=_make_event(rollout, "promoted", message, analysis=analysis.to_dict(),
                          candidate_version=rollout.candidate_version, previous_version=rollout.stable_version))
    _finish_promotion(client, done)
    return done


def _finish_promotion(client: RegistryClient, done: Rollout) -> None:
    """Aliases and routes of a promoted rollout (idempotent: reconcile repeats it after a crash)."""
    why = f"rollout {done.rollout_id} promoted v{done.candidate_version}"
    try:
        champion: int | None = int(client.get_model_version_by_alias(done.model, "champion").version)
    except NotFound:
        champion = None
    if champion != done.candidate_version:
        if done.stable_version is not None:
            client.set_registered_model_alias(done.model, "previous", done.stable_version, reason=why)
        client.set_registered_model_alias(done.model, "champion", done.candidate_version, reason=why)
    _apply(client, done, _routes_for(done, 100.0), why)


def _roll_back(client: RegistryClient, rollout: Rollout, analysis: StepAnalysis) -> Rollout:
    reason = "; ".join(analysis.reasons)
    done = client.store.update_rollout(
        rollout.rollout_id, rollout.step, state="ROLLED_BACK", reason=reason,
        event=_make_event(rollout, "rolled_back", f"canary v{rollout.candidate_version} rolled back at "
                          f"{rollout.percent:g}%: {reason}; v{rollout.stable_version} serves 100%",
                          analysis=analysis.to_dict()))
    _apply(client, done, _routes_for(done, None), f"rollout {rollout.rollout_id} rolled back: {reason}"[:8000])
    return done
