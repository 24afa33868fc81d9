"""Traffic split of one revision: weighted random, sticky by routing key.

A routing key is hashed with BLAKE2b (not ``hash()``, which is salted per process) to a point in
[0, 1), and the route whose cumulative-weight interval holds that point answers. So the same key
lands on the same route in every worker process and after a restart, and keys spread over routes
in proportion to their weights. Requests without a key draw the point at random.
"""

from __future__ import annotations

import bisect
import hashlib
import random
from collections.abc import Sequence

from shipyard.entities import Route
from shipyard.errors import InvalidInput

__all__ = ["Router", "key_point"]

_SCALE = float(1 << 64)


def key_point(key: str) -> float:
    """A routing key -> a stable point in [0, 1), the same in every process."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


class Router:
    """Picks a route index by weight; ``pick(key)`` is deterministic for a key."""

    __slots__ = ("_bounds", "_random", "routes")

    def __init__(self, routes: Sequence[Route], *, seed: int | None = None) -> None:
        if not routes:
            raise InvalidInput("a deployment revision needs at least one route")
        weights = [max(0.0, float(r.weight)) for r in routes]
        total = sum(weights)
        if total <= 0:
            weights, total = [1.0] * len(routes), float(len(routes))
        bounds, acc = [], 0.0
        for w in weights:
            acc += w / total
            bounds.append(acc)
        bounds[-1] = 1.0  # no point can fall past the last route through rounding
        self.routes = list(routes)
        self._bounds = bounds
        self._random = random.Random(seed)

    def pick(self, key: str | None = None) -> int:
        """Index of the route that answers: by the key's hash when given, else at random."""
        if len(self._bounds) == 1:
            return 0
        point = key_point(key) if key is not None else self._random.random()
        index = bisect.bisect_right(self._bounds, point)
        # zero-weight routes have empty intervals, so bisect never lands on them except at the end
        return min(index, len(self._bounds) - 1)
