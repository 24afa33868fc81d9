from __future__ import annotations

import pytest

from tests.store.contract import StoreContract

pytestmark = pytest.mark.postgres


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store(self, postgres_store):
        return postgres_store
