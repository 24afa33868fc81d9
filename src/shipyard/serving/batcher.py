"""Adaptive micro-batching: concurrent requests for one model share one ``predict`` call.

Why: a random forest costs about the same for 1 row as for 64, and sklearn's per-call input
validation dominates a logistic regression's cost, so answering many requests in one call is where
throughput comes from. But a batcher that always waits adds its wait to every request at low load,
so this one is adaptive:

- a request that finds a free slot (fewer than ``concurrency`` batches running) and nothing queued
  is dispatched at once when the model is lightly loaded, or when nothing was asked or answered in
  the last ``max_wait_ms`` (the load stopped): a lone request is never held back by a timer;
- requests that arrive while the model is busy queue up; when a slot frees, everything queued (up
  to ``max_batch_size`` rows) goes in one call. Before it goes, the drain may wait for the callers
  the last call just answered: a closed-loop client sends its next request as soon as it has its
  answer, so ``queued + just answered`` rows are expected. It waits only while they are arriving:
  until they are all queued, until no request came for four typical gaps between arrivals (an
  average learned while gathering; the model must not sit idle for companions that are not
  coming), or ``max_wait_ms`` from the moment the model is free, whichever comes first.

Why wait at all under load: in one process the event loop and the model share the GIL and, here,
two cores with the load generator, so taking turns does not overlap work: two calls of 32 rows cost
a 100-tree forest 1.5 times a call of 64 (0.9 ms and 1.2 ms a call, most of it per tree, not per
row), and every call pays the per-call work of the serving path. Why the wait counts from the
moment the model is free, not from the oldest arrival: under load the queued requests arrived during the previous
call, so a deadline from their arrival had always passed, the batcher never waited for the callers
it had just answered, and 64 clients split into groups taking turns (1 + 63, or 32 + 32) that stayed
split; which state a run fell into decided a forest's throughput at c=64 (~2,700 or ~4,400 req/s).

Inputs are validated per request *before* they reach the batcher (one bad request never fails the
others), and if a batch call still raises, each request in it is retried alone so only the
request that breaks the model gets the error. Predict runs in a worker thread; the event loop stays
free. Rows are concatenated in order and results sliced back, so batching never changes an answer.

``on_answered`` (optional) sees each successful ``predict`` call once, with the tags its callers
submitted, the whole input and the whole output: the serving app logs a batch of 64 requests as
one block of rows instead of 64 blocks (the prediction log's cost follows batches, not requests).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np

__all__ = ["Answer", "Batcher", "concat_inputs"]

logger = logging.getLogger(__name__)

#: The shortest silence that ends a gathering: below it, timer resolution and scheduling noise.
_MIN_GAP_S = 0.0002

Result = tuple[np.ndarray, np.ndarray | None]
PredictFn = Callable[[Any], Result]
#: ``on_answered(tags, data, predictions, probabilities)``: one predict call's answered requests.
AnsweredFn = Callable[[list[Any], Any, np.ndarray, "np.ndarray | None"], None]
#: ``join(inputs)``: the submitted inputs of one call as one input for ``predict_fn``, or None if they
#: don't go together (then each is joined alone and predicted on alone).
JoinFn = Callable[[Sequence[Any]], Any]


def concat_inputs(items: Sequence[Any]) -> Any | None:
    """Prepared inputs (2-D arrays or DataFrames) stacked into one, or None if they don't stack."""
    if len(items) == 1:
        return items[0]
    first = items[0]
    if type(first) is np.ndarray:
        # the common case (every request checked by one model's signature): one dtype and width
        dtype, ndim, tail = first.dtype, first.ndim, first.shape[1:]
        if all(type(x) is np.ndarray and x.dtype == dtype and x.ndim == ndim and x.shape[1:] == tail
               for x in items):
            return np.concatenate(items)
        return None
    if hasattr(first, "iloc") and hasattr(first, "columns"):
        import pandas as pd

        if all(hasattr(x, "columns") and list(x.columns) == list(first.columns) for x in items):
            return pd.concat(items, ignore_index=True, copy=False)
    return None


class _Output:
    """One predict call's output, shared by the answers of the requests in the call."""

    __slots__ = ("lists", "preds", "proba")

    def __init__(self, preds: np.ndarray, proba: np.ndarray | None) -> None:
        self.preds, self.proba = preds, proba
        self.lists: tuple[list[Any], list[Any] | None] | None = None


class Answer:
    """One request's rows ``start:end`` of a predict call's output.

    It unpacks as ``(predictions, probabilities)``, NumPy slices (None: no probabilities), as the
    tuple it replaced did. :meth:`lists` gives the same rows as Python lists, converted once per
    call for every request in it: a slice and a ``tolist()`` of each array per request cost more
    than a logistic regression's share of the call (callgrind: 4,000 instructions of 27,000 per
    request in the batcher were the two slices alone)."""

    __slots__ = ("_out", "end", "start")

    def __init__(self, out: _Output, start: int, end: int) -> None:
        self._out, self.start, self.end = out, start, end

    @property
    def predictions(self) -> np.ndarray:
        return self._out.preds[self.start:self.end]

    @property
    def probabilities(self) -> np.ndarray | None:
        proba = self._out.proba
        return None if proba is None else proba[self.start:self.end]

    def __iter__(self) -> Iterator[Any]:
        return iter((self.predictions, self.probabilities))

    def lists(self) -> tuple[list[Any], list[Any] | None]:
        """``(predictions, probabilities)`` of these rows as lists (``.tolist()`` of the slices)."""
        out = self._out
        if out.lists is None:
            out.lists = out.preds.tolist(), None if out.proba is None else out.proba.tolist()
        preds, proba = out.lists
        return preds[self.start:self.end], None if proba is None else proba[self.start:self.end]


class _Item:
    __slots__ = ("arrived", "data", "future", "rows", "tag")

    def __init__(self, data: Any, rows: int, tag: Any, future: asyncio.Future[Answer] | None,
                 arrived: float) -> None:
        self.data = data
        self.rows = rows
        self.tag = tag
        self.future = future
        self.arrived = arrived

    @property
    def waiting(self) -> bool:
        """Whether the caller still waits for the answer (a cancelled caller does not)."""
        return self.future is None or not self.future.done()


class Batcher:
    """Gathers prepared inputs for one model into batched calls of ``predict_fn``.

    ``predict_fn(data) -> (predictions, probabilities or None)`` runs in ``executor``, on what
    ``join`` makes of the submitted inputs (by default :func:`concat_inputs`).
    ``on_batch(rows)`` (optional) is told the size of every batch, for metrics.
    ``on_answered(tags, data, predictions, probabilities)`` (optional) is called on the event loop
    after each successful ``predict_fn`` call, before its callers get their slices, with the tags
    of the requests it answered (those submitted with a tag whose caller still waits), in order,
    and the rows of exactly those requests; it must not raise (an error is logged and swallowed).
    """

    def __init__(self, predict_fn: PredictFn, executor: Executor, *, max_batch_size: int = 64,
                 max_wait_ms: float = 5.0, concurrency: int = 1,
                 on_batch: Callable[[int], None] | None = None, on_answered: AnsweredFn | None = None,
                 join: JoinFn = concat_inputs) -> None:
        self._fn = predict_fn
        self._join = join
        self._executor = executor
        self.max_batch_size = max(1, int(max_batch_size))
        self.max_wait_s = max(0.0, float(max_wait_ms)) / 1000.0
        self._concurrency = max(1, int(concurrency))
        self._on_batch = on_batch
        self._on_answered = on_answered
        self._queue: deque[_Item] = deque()
        self._running = 0
        self._pending_rows = 0
        self._recent_rows = 1.0  # moving average of batch sizes: how loaded the model is
        self._expected = 1  # rows the next batch may hold: queued + just answered when the last call ended
        # Typical silence between two arrivals while a batch gathers (EWMA): a longer silence means
        # the expected companions are not coming soon, and the model should not sit idle for them.
        self._gap = self.max_wait_s / 4
        # Monotonic time of the latest submit or answered batch: a closed-loop client sends its next
        # request right after its answer, so a batch that just finished means companions are coming.
        self._last_activity = float("-inf")
        self._arrival: asyncio.Event | None = None  # set by submit while a drain waits for companions

    @property
    def busy(self) -> bool:
        """Whether a batch is running or a request is queued (used to drain before release)."""
        return bool(self._running or self._queue)

    async def submit(self, data: Any, rows: int, tag: Any = None) -> Answer:
        """Predict on one request's prepared input (``rows`` rows); its own rows of the batch's output.

        ``tag`` (optional) is handed to ``on_answered`` with the rows once they are answered."""
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        quiet = now - self._last_activity > self.max_wait_s  # nothing asked or answered lately: no company
        self._last_activity = now
        if self._running < self._concurrency and not self._queue and (self._recent_rows < 1.5 or quiet):
            # idle at low load: go now, alone -- batching must not add latency when requests are rare
            self._running += 1
            try:
                return await self._run(_Item(data, rows, tag, None, now), loop)
            finally:
                self._running -= 1
                self._kick(loop)
        # Busy, or idle between the batches of a steady load: queue. Under load the requests of the
        # next batch arrive over a millisecond or so; sending the first of them alone would make
        # the rest wait behind a whole predict call and halve a forest's throughput (batches of
        # 1, 7, 1, 7 ... at concurrency 8), so the drain waits up to max_wait_ms for them instead.
        future: asyncio.Future[Answer] = loop.create_future()
        self._queue.append(_Item(data, rows, tag, future, now))
        self._pending_rows += rows
        if self._arrival is not None:
            self._arrival.set()
        self._kick(loop)
        return await future

    def _kick(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start draining the queue if a slot is free."""
        if self._queue and self._running < self._concurrency:
            self._running += 1
            loop.create_task(self._drain(loop))

    async def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            await self._gather_companions()
            queue, limit = self._queue, self.max_batch_size
            batch: list[_Item] = []
            rows = 0
            while queue and (not batch or rows + queue[0].rows <= limit):
                item = queue.popleft()
                batch.append(item)
                rows += item.rows
            self._pending_rows -= rows
            # cancelled callers need no answer (every queued item has a future)
            live = [it for it in batch if not it.future.done()]  # type: ignore[union-attr]
            if live:
                try:
                    results = await self._split(live, loop)
                except BaseException as exc:
                    for it in live:
                        if not it.future.done():  # type: ignore[union-attr]
                            it.future.set_exception(exc)  # type: ignore[union-attr]
                else:
                    for it, res in zip(live, results, strict=True):
                        future = it.future
                        if future is not None and not future.done():
                            if isinstance(res, BaseException):
                                future.set_exception(res)
                            else:
                                future.set_result(res)
        finally:
            self._running -= 1
            self._kick(loop)

    async def _gather_companions(self) -> None:
        """Wait while the rows expected for this batch (queued + just answered) are arriving: until
        they are all queued, until no request arrived for a few typical gaps, or ``max_wait_ms``
        from now, whichever comes first."""
        target = min(self.max_batch_size, self._expected)
        if self._pending_rows >= target or self.max_wait_s <= 0:
            return
        now = time.monotonic()
        deadline = now + self.max_wait_s
        last = now
        while self._queue and self._pending_rows < target:
            silence = min(deadline, last + max(4 * self._gap, _MIN_GAP_S)) - time.monotonic()
            if silence <= 0:
                return
            self._arrival = asyncio.Event()
            try:
                await asyncio.wait_for(self._arrival.wait(), silence)
            except TimeoutError:
                if not await self._arrived_meanwhile():
                    return
            finally:
                self._arrival = None
            now = time.monotonic()
            self._gap = min(0.8 * self._gap + 0.2 * (now - last), self.max_wait_s)
            last = now

    async def _arrived_meanwhile(self) -> bool:
        """Whether requests were on their way when the silence timer fired: after the process was
        descheduled, the timer and the bytes of new requests become ready in the same loop turn
        and the timer runs first; two turns let those requests reach the queue."""
        before = self._pending_rows
        for _ in range(2):
            await asyncio.sleep(0)
        return self._pending_rows > before

    async def _run(self, item: _Item, loop: asyncio.AbstractEventLoop) -> Answer:
        result = (await self._split([item], loop))[0]
        if isinstance(result, BaseException):
            raise result
        return result

    async def _split(self, items: list[_Item], loop: asyncio.AbstractEventLoop) -> list[Answer | BaseException]:
        """One call for all ``items`` when they stack; on failure, each alone (to find the culprit)."""
        total = 0
        for it in items:
            total += it.rows
        self._recent_rows = 0.5 * self._recent_rows + 0.5 * total
        merged = self._join([it.data for it in items])
        if merged is not None:
            if self._on_batch is not None:
                self._on_batch(total)
            try:
                preds, proba = await loop.run_in_executor(self._executor, self._fn, merged)
                self._last_activity = time.monotonic()
                # closed-loop callers answered now come back: with what is queued, the next batch
                self._expected = max(1, self._pending_rows + total)
            except Exception as exc:
                if len(items) == 1:
                    return [exc]
            else:
                output = _Output(preds, proba)
                out: list[Answer | BaseException] = []
                start = 0
                for it in items:
                    end = start + it.rows
                    out.append(Answer(output, start, end))
                    start = end
                self._answered(items, merged, preds, proba, out)
                return out
        results: list[Answer | BaseException] = []
        for item in items:
            if self._on_batch is not None and merged is None:
                self._on_batch(item.rows)
            try:
                data = self._join([item.data])
                preds, proba = await loop.run_in_executor(self._executor, self._fn, data)
            except Exception as exc:
                results.append(exc)
            else:
                answer = Answer(_Output(preds, proba), 0, item.rows)
                results.append(answer)
                self._answered([item], data, preds, proba, [answer])
        return results

    def _answered(self, items: list[_Item], data: Any, preds: np.ndarray, proba: np.ndarray | None,
                  slices: list[Answer | BaseException]) -> None:
        """Tell ``on_answered`` about the tagged requests of one call whose callers still wait."""
        if self._on_answered is None:
            return
        tags = [it.tag for it in items]
        try:
            if None not in tags and all(it.future is None or not it.future.done() for it in items):
                self._on_answered(tags, data, preds, proba)
                return
            for it, res in zip(items, slices, strict=True):  # rare: some cancelled (or untagged)
                if it.tag is not None and it.waiting and not isinstance(res, BaseException):
                    self._on_answered([it.tag], self._join([it.data]), *res)
        except Exception:
            logger.exception("on_answered failed for a batch of %d request(s)", len(items))
