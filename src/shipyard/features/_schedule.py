"""Scheduled materialization: which feature views the shipyard scheduler materializes, and how often.

A schedule is stored in the shipyard store beside the definitions (kind ``materialization_schedule``,
named after its view), so every scheduler on the store sees it and a change is picked up at the
next tick, as monitors are (``shipyard.automation.JobList``). Setting a view's schedule to None
turns it off; its history stays in the store's versions.

The schedule text is the scheduler's (``every 10m``, ``@hourly``, a cron expression); this layer
only stores it, the scheduler parses it (a text it cannot parse is logged once and skipped), and
the command line checks it before storing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipyard.errors import InvalidInput, NotFound
from shipyard.features._definitions import check_name

if TYPE_CHECKING:
    from shipyard.store.base import Store

__all__ = ["SCHEDULE_KIND", "MaterializationSchedule", "get_materialization_schedule", "list_materialization_schedules",
           "set_materialization_schedule"]

SCHEDULE_KIND = "materialization_schedule"


@dataclass(frozen=True, slots=True)
class MaterializationSchedule:
    """``feature_view`` is materialized incrementally on ``schedule`` into ``online_store`` (None:
    the scheduler's default online store, ``SHIPYARD_ONLINE_STORE`` or ``online_features.db``)."""

    feature_view: str
    schedule: str | None
    online_store: str | None = None
    version: int = 0
    updated_time: int = 0


def set_materialization_schedule(store: Store, feature_view: str, schedule: str | None, *,
                                 online_store: str | None = None) -> MaterializationSchedule:
    """Store (or with ``schedule=None`` turn off) the schedule of an applied feature view."""
    check_name(feature_view, "a feature view name")
    if schedule is not None and (not isinstance(schedule, str) or not schedule.strip() or len(schedule) > 200):
        raise InvalidInput(f"a schedule is a text such as 'every 10m' or a cron expression, got {schedule!r}")
    if online_store is not None and not online_store.startswith(("sqlite:///", "redis://", "rediss://", "postgresql://",
                                                                 "postgres://", "postgresql+psycopg://")):
        raise InvalidInput("online store URI must be sqlite:///path, redis://host:port/db or postgresql://..., "
                           f"got {online_store!r}")
    try:
        store.get_feature_definition("feature_view", feature_view)
    except NotFound:
        raise NotFound(f"no feature view {feature_view!r}: apply it before scheduling it") from None
    spec: dict[str, object] = {"schedule": None if schedule is None else schedule.strip(),
                               "online_store": online_store}
    record = store.apply_feature_definition(SCHEDULE_KIND, feature_view, spec)
    return _schedule(record.name, record.spec, record.version, record.created_time)


def get_materialization_schedule(store: Store, feature_view: str) -> MaterializationSchedule | None:
    """The view's schedule, None when it never had one or it is off."""
    try:
        record = store.get_feature_definition(SCHEDULE_KIND, feature_view)
    except NotFound:
        return None
    found = _schedule(record.name, record.spec, record.version, record.created_time)
    return found if found.schedule else None


def list_materialization_schedules(store: Store) -> list[MaterializationSchedule]:
    """Every view's schedule that is on, by view name."""
    schedules = [_schedule(d.name, d.spec, d.version, d.created_time)
                 for d in store.list_feature_definitions(SCHEDULE_KIND)]
    return [s for s in schedules if s.schedule]


def _schedule(name: str, spec: dict[str, object], version: int, created: int) -> MaterializationSchedule:
    text, online = spec.get("schedule"), spec.get("online_store")
    return MaterializationSchedule(name, text if isinstance(text, str) else None,
                                   online if isinstance(online, str) else None, version, created)
