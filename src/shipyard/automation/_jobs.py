"""Policies and rollouts as jobs of the scheduler (``shipyard.pipelines.Scheduler``'s Due protocol).

A policy ticks every ``check_every``; ``RolloutJob`` advances every running rollout every few
seconds, including those started from the command line (``shipyard deployments rollout``) and
those of a policy whose scheduler died: the store holds their state, so any scheduler resumes them.
Each tick is claimed in the store, so two schedulers never run the same tick.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.automation._policy import Policy
    from shipyard.registry.client import RegistryClient
    from shipyard.store.base import Store

__all__ = ["FeatureMaterializationJob", "LogCompactionJob", "PolicyJob", "RolloutJob"]

logger = logging.getLogger("shipyard.automation")


class _Job:
    """Runs ``_work`` on a background thread per tick, never two at once for one job."""

    def __init__(self, name: str, schedule: Any) -> None:
        self.name, self.schedule, self.catchup = name, schedule, False
        self.threads: list[threading.Thread] = []
        self._busy = threading.Lock()

    def fire(self, tick: datetime) -> None:
        thread = threading.Thread(target=self._guarded, name=f"shipyard-{self.name}", daemon=True)
        self.threads = [t for t in self.threads if t.is_alive()] + [thread]
        thread.start()

    def _guarded(self) -> None:
        if not self._busy.acquire(blocking=False):
            logger.info("%s: the previous tick is still running; skipping this one", self.name)
            return
        try:
            self._work()
        except Exception:
            logger.exception("%s failed", self.name)
        finally:
            self._busy.release()

    def _work(self) -> None:
        raise NotImplementedError


class PolicyJob(_Job):
    """A policy's ticks; ``executor`` is where a retraining pipeline runs (the scheduler's
    ``--executor``; the pipeline's own ``executor=`` comes first)."""

    def __init__(self, policy: Policy, client: RegistryClient, executor: Any = None) -> None:
        from shipyard.pipelines._schedule import Schedule

        super().__init__(f"policy.{policy.name}", Schedule.parse(policy.check_every))
        self.policy, self.client, self.executor = policy, client, executor

    def _work(self) -> None:
        self.policy.tick(self.client, executor=self.executor)


class RolloutJob(_Job):
    def __init__(self, client: RegistryClient, every: str = "every 2s") -> None:
        from shipyard.pipelines._schedule import Schedule

        super().__init__("rollouts", Schedule.parse(every))
        self.client = client

    def _work(self) -> None:
        from shipyard.automation._rollout import advance_rollout

        for rollout in self.client.store.list_rollouts(state="RUNNING", max_results=1000):
            advance_rollout(self.client, rollout)


class LogCompactionJob(_Job):
    """Compacts the prediction log under ``<artifact root>/prediction-logs`` (see
    ``shipyard.serving.compaction``), by default every 5 minutes. A store reached over HTTP has no
    log of its own here: the server's scheduler (``shipyard server --scheduler``) compacts it."""

    def __init__(self, store: Store, every: str = "every 5m") -> None:
        from shipyard.pipelines._schedule import Schedule

        super().__init__("predlog.compaction", Schedule.parse(every))
        self.store = store
        self.last_report: Any = None

    @property
    def root(self) -> str | None:
        from shipyard.serving.compaction import log_root_of

        return log_root_of(self.store.artifact_root)

    def _work(self) -> None:
        from shipyard.serving.compaction import compact_prediction_log

        root = self.root
        if root is None:
            return
        report = self.last_report = compact_prediction_log(root)
        if report.skipped:
            logger.info("prediction log compaction skipped: %s", report.skipped)
        elif report.written or report.deleted:
            logger.info("prediction log compacted: %d file(s) into %d, %d replaced file(s) removed",
                        report.files_merged, len(report.written), report.deleted)


class FeatureMaterializationJob(_Job):
    """A feature view's scheduled materialization (``shipyard features schedule``): each tick writes
    the rows that became known since the last run to the online store, as ``shipyard features
    materialize VIEW`` does; the store's record of runs is the watermark, so a missed or failed
    tick loses nothing (the next one reads from where the last run ended)."""

    def __init__(self, view: str, schedule: Any, store: Store, online_store: str | None = None) -> None:
        super().__init__(f"features.materialize.{view}", schedule)
        self.view, self.store, self.online_store = view, store, online_store
        self.last: list[Any] = []

    def _work(self) -> None:
        from shipyard.features import FeatureStore

        features = FeatureStore(store=self.store, online_store=self.online_store)
        try:
            self.last = features.materialize([self.view])
        finally:
            features.close()
        for m in self.last:
            logger.info("feature view %s v%d: %d row(s) to %s", m.feature_view, m.version, m.rows, m.online_store)
