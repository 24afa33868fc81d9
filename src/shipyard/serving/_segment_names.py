"""The prediction log's file names: what a reader learns from a listing without opening a file.

Two kinds of file live in a ``deployment=<name>/date=YYYY-MM-DD`` folder::

    <replica_id>-<seq>~<first>-<last>-<rows>.parquet      a segment, written by one replica
    <level>~<first>-<last>-<rows>~<created>-<token>.parquet a compacted file (level h: hour, d: day)

``first``/``last`` are the smallest and largest row timestamps (ms since the epoch) and ``rows``
the row count, so a read of a time range or of the last N rows picks its files from one folder
listing. A segment's id is ``<replica_id>-<seq>``; ``seq`` starts at the writer's clock in ms
and only grows, so an id is never written twice, even by a replica restarted with a fixed id
after compaction removed its earlier segments. Segments named before this scheme
(``<replica_id>-<seq>.parquet``) carry no statistics: a reader treats them as spanning their whole
day and counts their rows by opening them (compaction turns them into named files).

A compacted file lists the ids of the files it replaces (its inputs) in its footer metadata under
``shipyard.covers``; ``created`` (ms) and ``token`` order compacted files, the earlier winning
when two ever claim the same input (see ``_log_index``). The ``~`` cannot occur in a replica
id, so the two kinds never collide with each other or with a writer's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["COVERS_KEY", "LogFile", "compacted_name", "parse_name", "segment_file_name", "segment_name"]

COVERS_KEY = b"shipyard.covers"
_DAY_MS = 86_400_000
# An id ends in its sequence number, maybe with the logger's suffixes ("-p<piece>", "-<clash>").
_SEGMENT = re.compile(r"^(?P<id>[\w.\-]+-p?\d+)(?:~(?P<lo>\d+)-(?P<hi>\d+)-(?P<rows>\d+))?\.parquet$")
_COMPACTED = re.compile(r"^(?P<id>(?P<level>[hd])~(?P<lo>\d+)-(?P<hi>\d+)-(?P<rows>\d+)~(?P<created>\d+)-"
                        r"(?P<token>[0-9a-f]+))\.parquet$")


@dataclass(frozen=True, slots=True)
class LogFile:
    """One file of a date folder as its name describes it.

    ``lo``/``hi``: smallest and largest timestamp (ms); ``rows`` None when the name does not say
    (an old segment, then ``lo``/``hi`` span its whole day); ``level`` "" for a segment."""

    name: str
    id: str
    lo: int
    hi: int
    rows: int | None
    level: str = ""
    created: int = 0

    @property
    def compacted(self) -> bool:
        return bool(self.level)

    def overlaps(self, start_ms: int | None, end_ms: int | None) -> bool:
        """Whether any of its rows may lie in ``start <= t < end``."""
        return (start_ms is None or self.hi >= start_ms) and (end_ms is None or self.lo < end_ms)

    def inside(self, start_ms: int | None, end_ms: int | None) -> bool:
        """Whether all of its rows lie in the window (so ``rows`` counts the window's rows)."""
        return (self.rows is not None and (start_ms is None or self.lo >= start_ms)
                and (end_ms is None or self.hi < end_ms))


def segment_name(replica_id: str, seq: int, lo: int, hi: int, rows: int) -> str:
    return segment_file_name(f"{replica_id}-{seq:06d}", lo, hi, rows)


def segment_file_name(segment_id: str, lo: int, hi: int, rows: int) -> str:
    """The file name of segment ``segment_id`` (``<replica_id>-<seq>``, maybe suffixed) holding
    ``rows`` rows timed ``lo``..``hi``."""
    return f"{segment_id}~{lo}-{hi}-{rows}.parquet"


def compacted_name(level: str, lo: int, hi: int, rows: int, created: int, token: str) -> str:
    return f"{level}~{lo}-{hi}-{rows}~{created}-{token}.parquet"


def parse_name(name: str, day: int) -> LogFile | None:
    """The file a name describes (``day``: the folder's day since the epoch), None for other names."""
    m = _COMPACTED.match(name)
    if m:
        return LogFile(name, m["id"], int(m["lo"]), int(m["hi"]), int(m["rows"]), m["level"], int(m["created"]))
    m = _SEGMENT.match(name)
    if m is None:
        return None
    if m["lo"] is None:  # an old segment: anywhere in its day, rows unknown
        return LogFile(name, m["id"], day * _DAY_MS, (day + 1) * _DAY_MS - 1, None)
    return LogFile(name, m["id"], int(m["lo"]), int(m["hi"]), int(m["rows"]))
