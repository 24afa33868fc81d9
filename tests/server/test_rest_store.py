"""The Store contract, through a live server: RestStore must answer exactly like the SQL store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shipyard.store.rest import RestStore
from tests.store.contract import StoreContract

pytestmark = pytest.mark.integration


class TestRestStore(StoreContract):
    @pytest.fixture
    def store(self, live_server) -> Iterator[RestStore]:
        server = live_server()
        store = RestStore(server.url, None)
        yield store
        store.close()
