"""What starts a retraining: a monitor's verdict, a performance metric, a schedule, new data, or a person.

Each trigger's ``check(store, policy, now)`` returns the trigger context (a JSON-able dict: kind,
reason, the numbers, the window) or None. Monitor-based triggers also return ``incident``: the ids of
the open alerts behind the verdict, so one incident starts one retraining however many windows it
stays open (see the policy's cool-down too).

Written as dicts (in Python or ``shipyard.yaml``)::

    {"monitor": "rain", "checks": ["performance.roc_auc", "performance.accuracy"]}   # any of them alerting
    {"performance": {"monitor": "rain", "metric": "roc_auc", "below": 0.75}}
    {"performance": {"monitor": "rain", "metric": "roc_auc", "below": 0.75, "estimated": True}}  # before labels
    {"monitor": "rain", "checks": ["estimated_performance.roc_auc"]}      # the check's own threshold
    {"drift": {"monitor": "rain", "columns": ["dew point"], "share": 0.5}}
    {"schedule": "every 7d"}
    {"new_data": my_module.new_rows_arrived}     # a callable (store, policy) -> context dict or None
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInput
from shipyard.monitoring._messages import describe

if TYPE_CHECKING:
    from shipyard.store.base import Store

__all__ = ["Trigger", "parse_trigger"]


class Trigger:
    kind = "trigger"

    def check(self, store: Store, policy: Any, now: int) -> dict[str, Any] | None:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError


def _latest(store: Store, monitor: str, model: str) -> list[Any]:
    """The newest run's results of ``monitor`` for versions of ``model``."""
    results = store.list_monitor_results(monitor, model=model, max_results=20)
    if not results:
        return []
    newest = results[-1].run_time
    return [r for r in results if r.run_time == newest]


def _incident(store: Store, monitor: str, checks: list[str]) -> list[str]:
    return sorted(a.alert_id for a in store.list_alerts(monitor, state="OPEN", max_results=1000)
                  if a.check in checks or not checks)


class MonitorTrigger(Trigger):
    """Fires when the monitor's newest run failed any of ``checks`` (any check at all when empty)."""

    kind = "monitor"

    def __init__(self, monitor: str, checks: list[str] | None = None) -> None:
        self.monitor, self.checks = monitor, list(checks or [])

    def check(self, store: Store, policy: Any, now: int) -> dict[str, Any] | None:
        for result in _latest(store, self.monitor, policy.model):
            failed = [c for c in result.checks
                      if c.passed is False and (not self.checks or c.check in self.checks)]
            if failed:
                return {"trigger": self.kind, "monitor": self.monitor, "version": result.version,
                        "reason": "; ".join(describe(c) for c in failed),
                        "checks": {c.check: c.value for c in failed},
                        "window_start": result.window_start, "window_end": result.window_end,
                        "incident": _incident(store, self.monitor, [c.check for c in failed])}
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"monitor": self.monitor, "checks": self.checks}


class PerformanceTrigger(Trigger):
    """Fires when the monitor's newest value of ``metric`` is below ``below`` (or above ``above``).
    ``estimated``: the value estimated without labels (check ``estimated_performance``), ignored
    while the labels say the estimate's assumptions no longer hold."""

    kind = "performance"

    def __init__(self, monitor: str, metric: str, below: float | None = None, above: float | None = None,
                 estimated: bool = False) -> None:
        if (below is None) == (above is None):
            raise InvalidInput("a performance trigger needs exactly one of 'below' and 'above'")
        self.monitor, self.metric, self.below, self.above = monitor, metric, below, above
        self.estimated = bool(estimated)

    def check(self, store: Store, policy: Any, now: int) -> dict[str, Any] | None:
        check = f"{'estimated_performance' if self.estimated else 'performance'}.{self.metric}"
        for result in _latest(store, self.monitor, policy.model):
            entry = result.check(check)
            value = None if entry is None else entry.value
            broken = result.check("estimated_performance.assumptions")
            if value is None or (self.estimated and broken is not None and broken.passed is False):
                continue
            if (self.below is not None and value < self.below) or (self.above is not None and value > self.above):
                bound = f"< {self.below:g}" if self.below is not None else f"> {self.above:g}"
                word = "estimated " if self.estimated else ""
                return {"trigger": self.kind, "monitor": self.monitor, "version": result.version,
                        "reason": f"{word}{self.metric} = {value:.4g} {bound}", "checks": {check: value},
                        "window_start": result.window_start, "window_end": result.window_end,
                        "incident": _incident(store, self.monitor, [check])}
        return None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"monitor": self.monitor, "metric": self.metric, "below": self.below,
                               "above": self.above}
        if self.estimated:
            out["estimated"] = True
        return {"performance": out}


class DriftTrigger(Trigger):
    """Fires when any of ``columns`` drifted in the monitor's newest run, or (no columns) when the
    share of drifted features (among those that could decide) is above ``share``."""

    kind = "drift"

    def __init__(self, monitor: str, columns: list[str] | None = None, share: float = 0.5) -> None:
        self.monitor, self.columns, self.share = monitor, list(columns or []), share

    def check(self, store: Store, policy: Any, now: int) -> dict[str, Any] | None:
        for result in _latest(store, self.monitor, policy.model):
            drifted = [f["column"] for f in result.features if f.get("drifted")]
            hit = [c for c in drifted if c in self.columns] if self.columns else drifted
            # Over the columns that could decide (an undecided column is neither drifted nor stable); a
            # share equal to the bound passes, as every bound in shipyard does.
            decided = [f for f in result.features if f.get("drifted") is not None]
            share = len(drifted) / len(decided) if decided else 0.0
            if (self.columns and hit) or (not self.columns and decided and share > self.share):
                return {"trigger": self.kind, "monitor": self.monitor, "version": result.version,
                        "reason": f"drifted: {', '.join(hit)}", "drifted": hit, "drift_share": share,
                        "window_start": result.window_start, "window_end": result.window_end,
                        "incident": [result.result_id]}
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"drift": {"monitor": self.monitor, "columns": self.columns, "share": self.share}}


class ScheduleTrigger(Trigger):
    """Fires once per tick of ``schedule`` (the policy remembers its last scheduled retraining)."""

    kind = "schedule"

    def __init__(self, schedule: str) -> None:
        from shipyard.pipelines._schedule import Schedule

        self.text, self.schedule = schedule, Schedule.parse(schedule)

    def check(self, store: Store, policy: Any, now: int) -> dict[str, Any] | None:
        from datetime import UTC, datetime

        tick = self.schedule.latest(datetime.fromtimestamp(now / 1000, UTC))
        if tick is None:
            return None
        tick_ms = int(tick.timestamp() * 1000)
        last = store.list_policy_events(policy.name, kinds=["triggered"], max_results=20)
        if any(e.data.get("trigger") == self.kind and e.data.get("tick") == tick_ms for e in last):
            return None
        if policy.created_ms is not None and tick_ms < policy.created_ms:
            return None  # no catch-up of ticks from before the policy existed
        return {"trigger": self.kind, "reason": f"scheduled ({self.text})", "tick": tick_ms,
                "incident": [f"schedule:{tick_ms}"]}

    def to_dict(self) -> dict[str, Any]:
        return {"schedule": self.text}


class NewDataTrigger(Trigger):
    """Fires when ``fn(store, policy)`` returns a context dict (say, which new rows arrived)."""

    kind = "new_data"

    def __init__(self, fn: Callable[[Any, Any], dict[str, Any] | None]) -> None:
        self.fn = fn

    def check(self, store: Store, policy: Any, now: int) -> dict[str, Any] | None:
        found = self.fn(store, policy)
        if not found:
            return None
        return {"trigger": self.kind, "reason": "new data", **dict(found)}

    def to_dict(self) -> dict[str, Any]:
        return {"new_data": getattr(self.fn, "__qualname__", repr(self.fn))}


def parse_trigger(spec: Any) -> Trigger:
    if isinstance(spec, Trigger):
        return spec
    if not isinstance(spec, dict) or len(spec) == 0:
        raise InvalidInput(f"a trigger is a dict such as {{'monitor': 'rain'}}, got {spec!r}")
    if "monitor" in spec and set(spec) <= {"monitor", "checks"}:
        return MonitorTrigger(spec["monitor"], spec.get("checks"))
    if len(spec) != 1:
        raise InvalidInput(f"a trigger has one kind (monitor, performance, drift, schedule, new_data), got {spec!r}")
    kind, value = next(iter(spec.items()))
    if kind == "performance" and isinstance(value, dict):
        return PerformanceTrigger(**value)
    if kind == "drift" and isinstance(value, dict):
        return DriftTrigger(**value)
    if kind == "schedule" and isinstance(value, str):
        return ScheduleTrigger(value)
    if kind == "new_data" and callable(value):
        return NewDataTrigger(value)
    raise InvalidInput(f"unknown trigger {spec!r} (kinds: monitor, performance, drift, schedule, new_data)")
