"""Everything a scheduler runs, in one place for ``shipyard scheduler`` and ``shipyard server --scheduler``.

Pipelines and policies are code (found in modules by the caller) and are fixed for the process's
life; monitors and feature views' materialization schedules are rows of the store, so the list is
rebuilt from the store at every tick: a monitor (or schedule) created, deleted or changed while the
scheduler runs is picked up at its next tick. A job whose schedule is unchanged keeps its job
object (and with it its running thread), so a tick in progress is never started twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.automation._policy import Policy
    from shipyard.pipelines._pipeline import Pipeline
    from shipyard.store.base import Store

__all__ = ["JobList"]

logger = logging.getLogger("shipyard.automation")


class JobList:
    """Callable job source for :class:`shipyard.pipelines.Scheduler`: scheduled pipelines, policies,
    the running rollouts, the prediction log's compaction, and the store's scheduled monitors and
    feature materializations as they are now."""

    def __init__(self, store: Store, pipelines: Iterable[Pipeline] = (), policies: Iterable[Policy] = (), *,
                 executor: Any = None) -> None:
        from shipyard.automation._jobs import PolicyJob, RolloutJob
        from shipyard.pipelines import PipelineJob
        from shipyard.registry.client import RegistryClient

        client = RegistryClient(store=store)
        self.store = store
        self.pipelines = [PipelineJob(p, store, executor) for p in pipelines if p.schedule is not None]
        self.policies = [PolicyJob(p, client, executor) for p in policies]
        self.executor = executor
        self.fixed: list[Any] = [*self.pipelines, *self.policies, RolloutJob(client)]
        self._monitors: dict[str, tuple[str, Any]] = {}  # name -> (schedule text, MonitorJob)
        self._refused: dict[str, str] = {}  # name -> the schedule text already warned about
        self._views: dict[str, tuple[tuple[str, str | None], Any]] = {}  # view -> ((schedule, store), job)

        # the prediction log's compaction, every 5 minutes (shipyard.serving.compaction)
        from shipyard.automation._jobs import LogCompactionJob

        self.compaction = LogCompactionJob(store)
        self.fixed.append(self.compaction)

    def monitors(self) -> list[Any]:
        """A job per monitor with a schedule, as the store has them now."""
        from shipyard.errors import ShipyardError
        from shipyard.monitoring import MonitorJob
        from shipyard.pipelines._schedule import Schedule

        current: dict[str, tuple[str, Any]] = {}
        for monitor in self.store.list_monitors():
            text = monitor.spec.get("schedule")
            if not text:
                continue
            known = self._monitors.get(monitor.name)
            if known is not None and known[0] == text:
                current[monitor.name] = known
                continue
            try:
                schedule = Schedule.parse(str(text))
            except ShipyardError as exc:
                if self._refused.get(monitor.name) != text:  # once per spec, not once a second
                    logger.warning("monitor %s is not scheduled: %s", monitor.name, exc)
                    self._refused[monitor.name] = str(text)
                continue
            if known is not None:
                logger.info("monitor %s: schedule now %r (was %r)", monitor.name, text, known[0])
            current[monitor.name] = (str(text), MonitorJob(monitor.name, schedule, self.store))
        for gone in self._monitors.keys() - current.keys():
            logger.info("monitor %s is no longer scheduled", gone)
        self._monitors = current
        return [job for _, job in current.values()]

    def feature_views(self) -> list[Any]:
        """A job per feature view with a materialization schedule, as the store has them now."""
        from shipyard.automation._jobs import FeatureMaterializationJob
        from shipyard.errors import ShipyardError
        from shipyard.features._schedule import list_materialization_schedules
        from shipyard.pipelines._schedule import Schedule

        current: dict[str, tuple[tuple[str, str | None], Any]] = {}
        for found in list_materialization_schedules(self.store):
            key = (str(found.schedule), found.online_store)
            known = self._views.get(found.feature_view)
            if known is not None and known[0] == key:
                current[found.feature_view] = known
                continue
            try:
                schedule = Schedule.parse(key[0])
            except ShipyardError as exc:
                name = f"features.{found.feature_view}"
                if self._refused.get(name) != key[0]:  # once per schedule, not once a second
                    logger.warning("feature view %s is not scheduled: %s", found.feature_view, exc)
                    self._refused[name] = key[0]
                continue
            current[found.feature_view] = (key, FeatureMaterializationJob(found.feature_view, schedule, self.store,
                                                                          found.online_store))
        for gone in self._views.keys() - current.keys():
            logger.info("feature view %s is no longer scheduled", gone)
        self._views = current
        return [job for _, job in current.values()]

    def __call__(self) -> list[Any]:
        return [*self.fixed, *self.monitors(), *self.feature_views()]

    def describe(self) -> str:
        """What it runs, for the line a scheduler prints at start."""
        where = f", pipelines on {self.executor}" if isinstance(self.executor, str) else ""
        return (f"{len(self.pipelines)} scheduled pipeline(s), {len(self.monitors())} scheduled monitor(s), "
                f"{len(self.feature_views())} scheduled feature view(s) "
                "(the store's monitors and feature schedules are re-read at every tick), "
                f"{len(self.policies)} policy(ies) and the running rollouts{where}")
