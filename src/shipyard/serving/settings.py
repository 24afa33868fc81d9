"""Knobs of the serving app, in one frozen dataclass so a process can build it from CLI flags or env.

Defaults were chosen by measurement (see the issue and FIELD-NOTES): batches of up to 64 rows and
at most 5 ms of gathering give a forest its batching gain (the callers a batch just answered come
back over a few milliseconds at c=64), while a request that finds the model idle is dispatched at
once and a gathering ends when arrivals pause, so the window never adds latency at low load (see
:mod:`shipyard.serving.batcher`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ServingSettings"]


@dataclass(frozen=True, slots=True)
class ServingSettings:
    """How a serving app behaves; every field has a measured or conservative default.

    - ``max_body_bytes``: larger request bodies get 413 (checked on Content-Length and on bytes read).
    - ``max_batch_size`` / ``max_wait_ms``: micro-batching defaults, used where a revision's
      ``batching`` does not say otherwise; ``max_batch_size=1`` turns batching off.
    - ``batch_concurrency``: batches of one model that may run at once (worker threads per model).
    - ``predict_threads``: size of the thread pool every predict and model load runs in.
    - ``poll_interval_s``: how often the app checks the store for a new revision (``None``: never;
      the process may call ``runtime.refresh()`` itself).
    - ``warm``: run one predict on each model's input example before it takes traffic.
    - ``probabilities``: answer ``predict_proba`` for models that have it.
    - ``max_rows``: rows one request may carry (and feedback items one feedback request); more is
      a 413, so one client cannot stall a replica with a huge batch (560k rows took 6 s).
    - ``feedback_recent_ids``: request ids per deployment this replica remembers for checking
      feedback before they reach the prediction log (about 20 MB per 100,000).
    """

    max_body_bytes: int = 10 * 1024 * 1024
    max_batch_size: int = 64
    max_wait_ms: float = 5.0
    batch_concurrency: int = 1
    predict_threads: int = 8
    poll_interval_s: float | None = 1.0
    warm: bool = True
    probabilities: bool = True
    max_rows: int = 10_000
    feedback_recent_ids: int = 100_000

    def batching(self, overrides: dict[str, int] | None) -> tuple[int, float]:
        """(max_batch_size, max_wait_ms) for a revision: its own settings over these defaults."""
        overrides = overrides or {}
        size = int(overrides.get("max_batch_size", self.max_batch_size))
        wait = float(overrides.get("max_wait_ms", self.max_wait_ms))
        return max(1, size), max(0.0, wait)
