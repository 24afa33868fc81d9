"""When something is due: cron presets and expressions in a time zone, or fixed intervals.

Cron expressions are evaluated in the zone's wall-clock time (``0 9 * * *`` in Europe/Berlin is
09:00 Berlin time on both sides of a DST change, so 08:00 UTC in winter and 07:00 UTC in summer). A
wall time that does not exist on a spring-forward day is run at the same offset as before the
change (02:30 becomes 03:30 summer time); a wall time that happens twice in autumn runs once, the
first time. Intervals are fixed durations counted from the Unix epoch, so they ignore DST.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shipyard.errors import InvalidInput

__all__ = ["Schedule"]

PRESETS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
           "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *"}
_EVERY = re.compile(r"^every\s+(\d+(?:\.\d+)?)\s*(s|m|h|d)$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MAX_TICKS = 10_000


@dataclass(frozen=True, slots=True)
class Schedule:
    """``Schedule.parse("@daily")``, ``Schedule.parse("30 2 * * 1-5", "America/New_York")``,
    ``Schedule.parse("every 15m")``; :meth:`ticks_between` lists the due times."""

    spec: str
    timezone: str = "UTC"
    cron: str | None = None
    interval_s: float | None = None

    @classmethod
    def parse(cls, spec: str, timezone: str = "UTC") -> Schedule:
        text = spec.strip()
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(f"unknown time zone {timezone!r}: use an IANA name such as 'Europe/Berlin'") from None
        match = _EVERY.match(text)
        if match:
            seconds = float(match.group(1)) * _UNIT[match.group(2)]
            if seconds < 1:
                raise InvalidInput(f"schedule {spec!r}: an interval must be at least 1 s")
            return cls(text, timezone, interval_s=seconds)
        expr = PRESETS.get(text.lower(), text)
        from croniter import croniter

        if text.startswith("@") and text.lower() not in PRESETS:
            raise InvalidInput(f"unknown schedule preset {spec!r} (known: {', '.join(PRESETS)})")
        if len(expr.split()) != 5 or not croniter.is_valid(expr):
            raise InvalidInput(f"bad cron expression {spec!r}: use 5 fields 'minute hour day month weekday' "
                               f"(e.g. '0 6 * * 1-5'), a preset ({', '.join(PRESETS)}) or 'every 15m'")
        return cls(text, timezone, cron=expr)

    def ticks_between(self, start: datetime, end: datetime) -> list[datetime]:
        """Due times t with start < t <= end, as aware UTC datetimes, oldest first."""
        if self.interval_s is not None:
            step = self.interval_s
            first = int(start.timestamp() // step) + 1
            last = int(end.timestamp() // step)
            return [datetime.fromtimestamp(k * step, UTC) for k in range(max(first, last - _MAX_TICKS), last + 1)]
        from croniter import croniter

        zone = ZoneInfo(self.timezone)
        # Start an hour early in wall time so a tick skipped over by a DST jump is not lost.
        local_start = start.astimezone(zone).replace(tzinfo=None) - timedelta(hours=1)
        it = croniter(self.cron, local_start)
        out: list[datetime] = []
        while len(out) < _MAX_TICKS:
            wall = it.get_next(datetime)
            tick = wall.replace(tzinfo=zone).astimezone(UTC)
            if tick > end:
                break
            if tick > start and (not out or tick > out[-1]):
                out.append(tick)
        return out[-_MAX_TICKS:]

    def latest(self, now: datetime, lookback: timedelta = timedelta(days=400)) -> datetime | None:
        """The last due time at or before ``now``."""
        if self.interval_s is not None:
            return datetime.fromtimestamp((now.timestamp() // self.interval_s) * self.interval_s, UTC)
        ticks = self.ticks_between(now - min(lookback, timedelta(days=40)), now)
        return ticks[-1] if ticks else None

    def next_after(self, now: datetime) -> datetime | None:
        """The first due time after ``now`` (within about a year), as an aware UTC datetime."""
        if self.interval_s is not None:
            return datetime.fromtimestamp((now.timestamp() // self.interval_s + 1) * self.interval_s, UTC)
        for days in (2, 40, 400):  # most schedules are due within a day; look further only when not
            ticks = self.ticks_between(now, now + timedelta(days=days))
            if ticks:
                return ticks[0]
        return None

    def __str__(self) -> str:
        return self.spec if self.timezone == "UTC" else f"{self.spec} ({self.timezone})"
