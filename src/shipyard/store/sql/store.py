"""SqlStore: the Store interface over SQLAlchemy Core, for SQLite and PostgreSQL alike."""

from __future__ import annotations

from shipyard.store.base import Store
from shipyard.store.sql.automation import SqlAutomationStore
from shipyard.store.sql.deployments import SqlDeploymentStore
from shipyard.store.sql.engine import make_engine
from shipyard.store.sql.features import SqlFeatureStore
from shipyard.store.sql.migrate import upgrade
from shipyard.store.sql.monitors import SqlMonitorStore
from shipyard.store.sql.pipelines import SqlPipelineStore
from shipyard.store.sql.registry import SqlRegistryStore
from shipyard.store.sql.sqlbase import _translated, store_boundary
from shipyard.store.sql.tracking import SqlTrackingStore

__all__ = ["SqlStore"]


class SqlStore(SqlTrackingStore, SqlRegistryStore, SqlDeploymentStore, SqlPipelineStore, SqlMonitorStore,
               SqlAutomationStore, SqlFeatureStore, Store):
    """Opens (and, the first time, creates through migrations) the database at ``uri``."""

    def __init__(self, uri: str, artifact_root: str) -> None:
        self.uri = uri
        self.artifact_root = artifact_root
        with _translated():
            self._engine = make_engine(uri)
            upgrade(self._engine)

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def close(self) -> None:
        self._engine.dispose()

    def __repr__(self) -> str:
        return f"SqlStore({self._engine.url.render_as_string(hide_password=True)!r})"


# log_batch, the hot path, checks its own: keys pass check_key and param and tag values check_text
# (neither admits NUL), metric values are numbers; a batch of 10,000 points skips the walk.
store_boundary(SqlStore, checked_inside={"log_batch": frozenset({"metrics", "params", "tags"})})
