"""Request ids are UUIDv7 carrying their millisecond, never repeated: across blocks of the pool,
across threads, and in a forked child (which must not reuse the parent's unused random bits)."""

from __future__ import annotations

import os
import threading
import uuid

from shipyard.serving._request_ids import request_ids


def test_ids_are_uuid7_hex_with_their_millisecond_and_unique() -> None:
    stamp = 1_765_000_000_123
    ids = request_ids(stamp, 700) + request_ids(stamp + 1, 300)  # several blocks of random bits
    assert len(set(ids)) == 1000
    for rid in ids:
        parsed = uuid.UUID(rid)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122 and parsed.hex == rid
    assert {int(rid[:12], 16) for rid in ids[:700]} == {stamp}
    assert {int(rid[:12], 16) for rid in ids[700:]} == {stamp + 1}


def test_threads_and_a_forked_child_never_take_the_same_ids() -> None:
    stamp = 1_765_000_000_000
    request_ids(stamp, 1)  # this thread's block exists and would be copied by a fork
    found: list[str] = []
    workers = [threading.Thread(target=lambda: found.extend(request_ids(stamp, 300))) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first ids, to the parent
        os.close(read)
        os.write(write, "".join(request_ids(stamp, 50)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        text = pipe.read()
    os.waitpid(pid, 0)
    child = [text[i:i + 32] for i in range(0, len(text), 32)]
    mine = request_ids(stamp, 50)  # what the parent's block had left
    assert len(child) == 50
    assert len(set(found) | set(child) | set(mine)) == 900 + 50 + 50
