"""Run leases and applied batch ids: the SQL behind "a run is never left RUNNING forever" and
"a resent batch is stored once".

Leases: the process that runs a run renews ``runs.lease_expires`` with a heartbeat (see
:mod:`shipyard.tracking.batcher`). :func:`expire_leases` marks every RUNNING run whose lease passed
FAILED, with its end time at the lease's end and a ``shipyard.lease.expired`` tag saying why; it is
one UPDATE over the ``(status, lease_expires)`` index. The server runs it on a timer, and every
SQL store runs it (at most every few seconds, and only after a one-row indexed look finds work)
before listing or reading runs, so a local SQLite store with no server reaps too. A heartbeat that
arrives after its run was reaped brings it back to RUNNING: its client was only cut off.

Batch ids: :func:`claim_batch` inserts the id in the batch's own transaction; when the id is there
already, the batch was applied and is skipped. Ids older than a day are pruned now and then.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, and_, bindparam, case, delete, null, or_, select, update

from shipyard.entities import RunStatus
from shipyard.errors import InvalidInput
from shipyard.store.sql import rawsql
from shipyard.store.sql import schema as s
from shipyard.store.sql.sqlbase import _insert_ignore

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["EXPIRED_TAG", "MAX_LEASE_S", "Throttle", "any_expired", "check_batch_id", "check_lease_s",
           "claim_batch", "expire_leases", "prune_batches", "renew_lease"]

EXPIRED_TAG = "shipyard.lease.expired"
MAX_LEASE_S = 7 * 86_400
BATCH_MEMORY_MS = 86_400_000  # a replay later than a day after the first send is written again
_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
_RUNNING, _FAILED = RunStatus.RUNNING.value, RunStatus.FAILED.value
_r = s.runs

_RENEW = (update(_r)
          .where(_r.c.run_id == bindparam("rid"),
                 or_(_r.c.status == _RUNNING, and_(_r.c.status == _FAILED, _r.c.lease_expires.is_not(None))))
          .values(status=_RUNNING, lease_expires=bindparam("expires", type_=BigInteger),
                  end_time=case((_r.c.status == _FAILED, null()), else_=_r.c.end_time))
          .returning(_r.c.run_id))
_RUN_EXISTS = select(_r.c.run_id).where(_r.c.run_id == bindparam("rid"))
_UNTAG = s.run_tags.delete().where(s.run_tags.c.run_id == bindparam("rid"), s.run_tags.c.key == EXPIRED_TAG)
_EXPIRED_ONE = select(_r.c.run_id).where(_r.c.status == _RUNNING,
                                         _r.c.lease_expires < bindparam("now", type_=BigInteger)).limit(1)
_EXPIRE = (update(_r)
           .where(_r.c.status == _RUNNING, _r.c.lease_expires < bindparam("now", type_=BigInteger))
           .values(status=_FAILED, end_time=_r.c.lease_expires)
           .returning(_r.c.run_id, _r.c.lease_expires))
_TAG = s.run_tags.insert()
_PRUNE = delete(s.applied_batches).where(s.applied_batches.c.applied_time < bindparam("cutoff", type_=BigInteger))


def check_batch_id(batch_id: object) -> str:
    if not isinstance(batch_id, str) or not _BATCH_ID.match(batch_id):
        raise InvalidInput(f"batch_id must be 1 to 64 letters, digits, '-' or '_', got {batch_id!r}")
    return batch_id


def check_lease_s(lease_s: object) -> int:
    """The lease in milliseconds; InvalidInput outside 1 s .. 7 days."""
    if isinstance(lease_s, bool) or not isinstance(lease_s, int | float) or not 1 <= lease_s <= MAX_LEASE_S:
        raise InvalidInput(f"lease_s must be a number of seconds from 1 to {MAX_LEASE_S}, got {lease_s!r}")
    return int(lease_s * 1000)


def claim_batch(conn: Connection, run_id: str, batch_id: str, now: int) -> bool:
    """Record ``batch_id`` in the caller's transaction: True if it is new (write the batch), False if
    it was applied before (skip it). Race-safe: of two concurrent sends, one inserts and the other
    waits for its commit, then finds the id."""
    stmt = _insert_ignore(conn.dialect.name, s.applied_batches, ("batch_id",))
    return rawsql.execute_many(conn, stmt, [{"batch_id": batch_id, "run_id": run_id, "applied_time": now}]) == 1


def prune_batches(conn: Connection, now: int) -> int:
    return rawsql.execute_many(conn, _PRUNE, [{"cutoff": now - BATCH_MEMORY_MS}])


def renew_lease(conn: Connection, run_id: str, expires: int) -> bool | None:
    """True if the run now holds the lease, False if it ended, None if there is no such run."""
    if rawsql.fetch_all(conn, _RENEW, {"rid": run_id, "expires": expires}):
        rawsql.execute_many(conn, _UNTAG, [{"rid": run_id}])
        return True
    return False if rawsql.fetch_one(conn, _RUN_EXISTS, {"rid": run_id}) is not None else None


def any_expired(conn: Connection, now: int) -> bool:
    return rawsql.fetch_one(conn, _EXPIRED_ONE, {"now": now}) is not None


def expire_leases(conn: Connection, now: int) -> list[str]:
    """Mark RUNNING runs whose lease passed FAILED; their ids."""
    expired = rawsql.fetch_all(conn, _EXPIRE, {"now": now})
    if not expired:
        return []
    ids = [row[0] for row in expired]
    rawsql.execute_many(conn, _UNTAG, [{"rid": rid} for rid in ids])
    rawsql.execute_many(conn, _TAG, [
        {"run_id": rid, "key": EXPIRED_TAG,
         "value": f"the lease ran out at {_iso(expires)} with no heartbeat from the run's process: "
                  "marked FAILED"}
        for rid, expires in expired])
    return ids


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


class Throttle:
    """At most one go every ``every_s`` seconds (monotonic clock) per owner; thread-safe enough:
    two threads racing both going is harmless for the idempotent work it guards."""

    __slots__ = ("_every", "_next")

    def __init__(self, every_s: float) -> None:
        self._every = every_s
        self._next = 0.0

    def due(self) -> bool:
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self._every
        return True
