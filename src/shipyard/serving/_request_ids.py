"""Request ids: UUIDv7 (RFC 9562) as 32 hex digits (like ``uuid.UUID.hex``), one per answered row.

The request's millisecond fills the top 48 bits, so feedback finds the row in the prediction log by
its date; the other 80 bits are random from the OS, with the version (7) and variant (10) bits set.

An id is paid for on every answered row, so it is put together from text made in advance: the
random parts come in blocks of ``_POOL_IDS`` ids, already as hex digits with the version and variant
set (one ``getrandom()`` and one ``hex()`` per block), and a millisecond's 12 digits are formatted
once per millisecond. An id is then one slice and one concatenation (a quarter of formatting a
128-bit integer per id). A block belongs to one thread (two event loops in two threads never take
the same bytes) and is dropped in a forked child (a fork would otherwise copy the unused rest of it
into both processes).
"""

from __future__ import annotations

import os
from threading import get_ident

import numpy as np

__all__ = ["request_ids"]

_POOL_IDS = 256
_TAIL = 20  # hex digits after the millisecond: version, 12 random bits, variant, 62 random bits


class _Pool:
    __slots__ = ("at", "prefix", "stamp", "tails")

    def __init__(self) -> None:
        self.tails = ""
        self.at = 0
        self.stamp = -1
        self.prefix = ""


# One pool per thread, by thread id (a plain dict: a threading.local costs more per attribute read
# than the rest of an id). A thread that ends leaves its pool to the next thread given its id.
_pools: dict[int, _Pool] = {}
os.register_at_fork(after_in_child=_pools.clear)


def _tails() -> str:
    """``_POOL_IDS`` ids' last 80 bits as hex, back to back."""
    raw = np.frombuffer(os.urandom(10 * _POOL_IDS), dtype=np.uint8).reshape(_POOL_IDS, 10).copy()
    raw[:, 0] = (raw[:, 0] & 0x0F) | 0x70  # version 7: the high nibble of the id's 7th byte
    raw[:, 2] = (raw[:, 2] & 0x3F) | 0x80  # variant 10: the top bits of its 9th byte
    return raw.tobytes().hex()


def request_ids(stamp_ms: int, count: int) -> list[str]:
    """``count`` new ids of the millisecond ``stamp_ms`` (ms since the epoch)."""
    pool = _pools.get(get_ident())
    if count == 1 and pool is not None and pool.stamp == stamp_ms and pool.at < len(pool.tails):
        at = pool.at  # the usual case, a one-row request: no loop, no refill
        pool.at = at + _TAIL
        return [pool.prefix + pool.tails[at:at + _TAIL]]
    if pool is None:
        pool = _pools[get_ident()] = _Pool()
    if stamp_ms != pool.stamp:
        pool.stamp, pool.prefix = stamp_ms, f"{stamp_ms:012x}"
    prefix, tails, at = pool.prefix, pool.tails, pool.at
    ids = []
    for _ in range(count):
        if at >= len(tails):
            tails, at = _tails(), 0
            pool.tails = tails
        ids.append(prefix + tails[at:at + _TAIL])
        at += _TAIL
    pool.at = at
    return ids
