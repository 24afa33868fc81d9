from __future__ import annotations

import pytest

from tests.store.contract import StoreContract


class TestSqliteStore(StoreContract):
    @pytest.fixture
    def store(self, sqlite_store):
        return sqlite_store
