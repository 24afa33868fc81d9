"""Which files of a date folder hold each row exactly once, from a listing and a few footers.

A folder may show, for a while, a compacted file beside the files it replaces: compaction
publishes its output first and deletes the inputs only a grace period later, so that a reader
that listed the folder just before never finds a file gone, and a listing that is not one atomic
snapshot (S3 pages, ``os.listdir``) never misses both the inputs and the output. The rule that
makes such a listing read right:

- compacted files are taken oldest first (``created``, then token); each claims the ids its
  footer lists (``shipyard.covers``), unless one of them is claimed already, in which case the
  file is rejected (two compactors raced; the later is ignored, and its inputs are still there);
- a file is read when it is not claimed by an accepted file; a claimed compacted file's own
  claims still stand, so the segments under an hour file that a day file replaced stay skipped.

Only the compacted files whose time range overlaps the window are looked at (a file's range
holds its inputs' ranges, so every claim that matters to the window is seen), and of those only
the ones whose range overlaps another file's have their footer read: reads stay bounded by the
window, not by the log's age, and a log whose replaced files are gone reads no footer at all.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import orjson

from shipyard.serving._segment_names import COVERS_KEY, LogFile, parse_name

if TYPE_CHECKING:
    from shipyard.serving._segment_files import SegmentFiles

__all__ = ["DayFolder", "Resolved", "day_folder", "list_day", "resolve"]

_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class DayFolder:
    rel: str  # deployment=<name>/date=YYYY-MM-DD
    day: int  # days since the epoch


@dataclass
class Resolved:
    """One folder's files: ``read`` the ones holding each row once; ``claimed`` id -> claimer id;
    ``covers`` the inputs of every compacted file looked at; ``rejected`` compacted files that
    lost a race."""

    read: list[LogFile]
    claimed: dict[str, str] = field(default_factory=dict)
    covers: dict[str, list[str]] = field(default_factory=dict)
    accepted: list[LogFile] = field(default_factory=list)
    rejected: list[LogFile] = field(default_factory=list)


def day_folder(base: str, name: str) -> DayFolder | None:
    """``date=YYYY-MM-DD`` under ``base`` -> its DayFolder (None for any other name)."""
    if not name.startswith("date="):
        return None
    try:
        day = (dt.date.fromisoformat(name.removeprefix("date=")) - _EPOCH).days
    except ValueError:
        return None
    return DayFolder(f"{base}/{name}", day)


def list_day(files: SegmentFiles, folder: DayFolder) -> list[LogFile]:
    """The folder's log files, from one listing (other names are ignored)."""
    found = []
    for name in files.list_names(folder.rel):
        info = parse_name(name, folder.day)
        if info is not None:
            found.append(info)
    return found


def covers_of(files: SegmentFiles, folder: DayFolder, info: LogFile) -> list[str]:
    raw = files.footer_metadata(f"{folder.rel}/{info.name}").get(COVERS_KEY)
    return [str(i) for i in orjson.loads(raw)] if raw else []


def resolve(files: SegmentFiles, folder: DayFolder, infos: list[LogFile], start_ms: int | None = None,
            end_ms: int | None = None) -> Resolved:
    """The files of ``infos`` that overlap the window and hold each of its rows once (module doc)."""
    relevant = [f for f in infos if f.overlaps(start_ms, end_ms)]
    result = Resolved(read=[])
    los = sorted(f.lo for f in relevant)
    his = sorted(f.hi for f in relevant)
    for info in sorted((f for f in relevant if f.compacted), key=lambda f: (f.created, f.name)):
        # Files overlapping this one's range (itself included): an input lies inside its claimer's
        # range and two files that claim one input overlap, so a file overlapping nothing else
        # claims nothing visible and races with nothing; its footer need not be read (the usual
        # case for a finished hour once its segments are gone).
        if bisect.bisect_right(los, info.hi) - bisect.bisect_left(his, info.lo) < 2:
            result.accepted.append(info)
            continue
        covers = result.covers[info.id] = covers_of(files, folder, info)
        if any(c in result.claimed for c in covers):
            result.rejected.append(info)
            continue
        result.accepted.append(info)
        for c in covers:
            result.claimed[c] = info.id
    rejected = {f.id for f in result.rejected}
    result.read = [f for f in relevant if f.id not in result.claimed and f.id not in rejected]
    return result
