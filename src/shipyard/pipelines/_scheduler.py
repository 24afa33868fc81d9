"""The scheduler: runs whatever is due, once, however many schedulers share the store.

Anything with a name, a :class:`~shipyard.pipelines.Schedule` and a ``fire(tick)`` method is a
:class:`Due` job - a pipeline here, and later a monitor or a retraining policy - so there is one loop,
not one per kind. Each tick is claimed in the store under ``(name, tick time)`` before it fires, so
two scheduler processes on one store start it exactly once. Catch-up is off by default: after a
pause only the latest missed tick fires.

Every few seconds the scheduler also marks FAILED the pipeline runs whose lease ran out (their
driver, maybe another scheduler, was killed), so they stop counting against ``max_active_runs``.
The job list may be a callable, asked again at every tick, so definitions kept in the store (a
monitor created, changed or deleted while the scheduler runs) take effect at the next tick. Once
an hour the scheduler also prunes claimed ticks older than ``keep_ticks_s`` (a week by default),
always keeping each job's newest one, which is what tells the next tick where to start.

At its first tick and every minute after, the scheduler announces the scheduled pipelines it serves
to the store (name, schedule, parameters; never code), so the server and its UI, which do not import
pipeline code, show their next run and can queue a run of one for this scheduler to start.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from shipyard.entities import PipelineRun
    from shipyard.pipelines._pipeline import Pipeline
    from shipyard.pipelines._schedule import Schedule
    from shipyard.store.base import Store

__all__ = ["DEFAULT_KEEP_TICKS_S", "Due", "PipelineJob", "Scheduler"]

logger = logging.getLogger(__name__)

DEFAULT_KEEP_TICKS_S = 7 * 24 * 3600.0
_PRUNE_EVERY_S = 3600.0
_EXPIRE_EVERY_S = 5.0
_ANNOUNCE_EVERY_S = 60.0


class Due(Protocol):
    """Something due on a schedule. ``fire`` should return quickly (start work, do not wait on it)."""

    name: str
    schedule: Schedule
    catchup: bool

    def fire(self, tick: datetime) -> None: ...


class PipelineJob:
    """Starts a pipeline run per tick, with the tick as its logical date, if fewer than
    ``max_active_runs`` runs of it are active; runs execute on background threads."""

    def __init__(self, pipeline: Pipeline, store: Store, executor: Any = None) -> None:
        if pipeline.schedule is None:
            raise ValueError(f"pipeline {pipeline.name!r} has no schedule")
        self.pipeline, self.store, self.executor = pipeline, store, executor
        self.name, self.schedule, self.catchup = f"pipeline.{pipeline.name}", pipeline.schedule, pipeline.catchup
        self.threads: list[threading.Thread] = []

    def has_room(self) -> bool:
        active = self.store.list_pipeline_runs(self.pipeline.name, states=["PENDING", "RUNNING"],
                                               max_results=self.pipeline.max_active_runs)
        return len(active) < self.pipeline.max_active_runs

    def fire(self, tick: datetime) -> None:
        params = self.pipeline.resolve_params({}, tick)
        run = self.store.create_pipeline_run(self.pipeline.name, params, "schedule", int(tick.timestamp() * 1000))
        self.start(run)

    def start(self, run: PipelineRun) -> None:
        thread = threading.Thread(target=self._run, args=(run,), name=f"shipyard-{self.pipeline.name}", daemon=True)
        self.threads.append(thread)
        thread.start()

    def _run(self, run: PipelineRun) -> None:
        try:
            self.pipeline.run_claimed(run, self.executor)
        except Exception:
            logger.exception("pipeline run %s of %s failed to start", run.run_id, self.pipeline.name)


class Scheduler:
    """``Scheduler(jobs, store).tick()`` fires what is due now; :meth:`serve` loops until stopped.

    ``jobs`` is a list, or a callable returning the current list (called at each tick; when it
    fails, the previous list is kept). Queued runs (``pipeline.submit()``) of the jobs' pipelines
    are claimed and started too.
    """

    def __init__(self, jobs: list[Any] | Callable[[], list[Any]], store: Store, *, owner: str | None = None,
                 poll_s: float = 1.0, started: datetime | None = None,
                 keep_ticks_s: float | None = DEFAULT_KEEP_TICKS_S) -> None:
        self._source = jobs if callable(jobs) else None
        self.jobs: list[Any] = [] if callable(jobs) else list(jobs)
        self.store, self.poll_s, self.keep_ticks_s = store, poll_s, keep_ticks_s
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self.started = started or datetime.now(UTC)
        self._next_prune = 0.0  # monotonic; the first tick prunes
        self._next_expire = 0.0
        self._next_announce = 0.0
        self._seen: list[Any] = []  # every job object this scheduler fired, for join()

    def refresh(self) -> list[Any]:
        """The current job list (from the callable given, if any)."""
        if self._source is not None:
            try:
                self.jobs = list(self._source())
            except Exception:
                logger.exception("could not refresh the scheduler's job list; keeping the previous one "
                                 "(%d job(s))", len(self.jobs))
        return self.jobs

    def tick(self, now: datetime | None = None) -> list[tuple[str, datetime]]:
        """Fire every due tick this scheduler wins; return (job name, tick) for each."""
        now = now or datetime.now(UTC)
        fired: list[tuple[str, datetime]] = []
        self._maybe_expire()  # first: an expired run frees its pipeline's max_active_runs for this tick
        for job in self.refresh():
            last = self.store.last_tick(job.name)
            since = self.started if last is None else datetime.fromtimestamp(last / 1000, UTC)
            due = job.schedule.ticks_between(since, now)
            if not job.catchup:
                due = due[-1:]
            for tick in due:
                if hasattr(job, "has_room") and not job.has_room():
                    logger.info("%s: tick %s waits, the pipeline is at max_active_runs", job.name, tick)
                    break
                if self.store.claim_tick(job.name, int(tick.timestamp() * 1000), self.owner):
                    job.fire(tick)
                    fired.append((job.name, tick))
                    if job not in self._seen:
                        self._seen.append(job)
        self._maybe_announce()
        self._start_queued()
        self._maybe_prune(now)
        return fired

    def _maybe_announce(self) -> None:
        """Tell the store which scheduled pipelines this scheduler serves (and that it is alive)."""
        if time.monotonic() < self._next_announce:
            return
        self._next_announce = time.monotonic() + _ANNOUNCE_EVERY_S
        from shipyard.entities import PipelineInfo

        infos = []
        for job in self.jobs:
            if isinstance(job, PipelineJob) and job.pipeline.schedule is not None:
                p, schedule = job.pipeline, job.pipeline.schedule
                infos.append(PipelineInfo(p.name, schedule.spec, schedule.timezone, list(p.signature.parameters),
                                          p.max_active_runs, (p.__doc__ or "").strip().split("\n")[0][:500],
                                          self.owner))
        if not infos:
            return
        try:
            self.store.announce_pipelines(infos)
        except Exception:
            logger.exception("could not announce this scheduler's pipelines to the store; trying again in a minute")

    def _maybe_expire(self) -> None:
        """Mark FAILED the pipeline runs whose driver stopped renewing their lease (any pipeline's:
        the driver may have been another scheduler, killed)."""
        if time.monotonic() < self._next_expire:
            return
        self._next_expire = time.monotonic() + _EXPIRE_EVERY_S
        try:
            expired = self.store.expire_pipeline_runs()
        except Exception:
            logger.exception("could not check pipeline run leases")
            return
        if expired:
            logger.warning("marked %d pipeline run(s) FAILED: their driver stopped renewing the lease (%s)",
                           len(expired), ", ".join(expired[:10]))

    def _maybe_prune(self, now: datetime) -> None:
        if self.keep_ticks_s is None or time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + _PRUNE_EVERY_S
        before = int((now.timestamp() - self.keep_ticks_s) * 1000)
        try:
            pruned = self.store.prune_ticks(before)
        except Exception:
            logger.exception("could not prune old schedule ticks; trying again in an hour")
            return
        if pruned:
            logger.info("pruned %d schedule tick(s) claimed before %s", pruned,
                        datetime.fromtimestamp(before / 1000, UTC).isoformat())

    def _start_queued(self) -> None:
        pipelines = {job.pipeline.name: job for job in self.jobs if isinstance(job, PipelineJob)}
        while pipelines:
            run = self.store.claim_pending_run(list(pipelines))
            if run is None:
                return
            pipelines[run.pipeline].start(run)

    def serve(self, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        logger.info("scheduler %s: %d job(s)", self.owner, len(self.refresh()))
        while not stop.is_set():
            try:
                self.tick()
            except Exception:
                logger.exception("scheduler tick failed; trying again in %.0f s", self.poll_s)
            stop.wait(self.poll_s)

    def join(self, timeout: float = 30.0) -> None:
        """Wait for the runs this scheduler started (tests, and a clean shutdown)."""
        for job in [*self._seen, *(j for j in self.jobs if j not in self._seen)]:
            for thread in getattr(job, "threads", []):
                thread.join(timeout)
