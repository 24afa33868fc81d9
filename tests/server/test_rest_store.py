"""The Store contract, through a live server: RestStore must answer exactly like the SQL store."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from shipyard.entities import Metric, Param, RunTag
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


class AnswerLost(httpx.HTTPTransport):
    """Delivers each request whose path ends with one of ``paths`` to the server, then loses the
    answer of its first delivery (as a proxy or a crash after commit would)."""

    def __init__(self, *paths: str) -> None:
        super().__init__()
        self.paths, self.lost = paths, 0
        self._answered: set[str] = set()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        path = next((p for p in self.paths if request.url.path.endswith(p)), None)
        if path is not None and path not in self._answered:
            self._answered.add(path)
            self.lost += 1
            response.close()
            raise httpx.ReadError("connection reset by peer", request=request)
        return response


def test_a_batch_whose_answer_was_lost_is_stored_once(live_server) -> None:
    server = live_server()
    transport = AnswerLost("/log-batch", "/end")
    store = RestStore(server.url, None, transport=transport, retry_s=10)
    run_id = store.create_run(store.create_experiment("lost")).info.run_id
    store.log_batch(run_id, [Metric("loss", 0.5, 1, 1), Metric("loss", 0.4, 2, 2)], [Param("lr", "0.1")],
                    [RunTag("phase", "warmup")])
    store.end_run(run_id, "FINISHED", 5000, [Metric("loss", 0.3, 3, 3)])
    assert transport.lost == 2  # both answers were lost and both calls were resent
    assert [m.step for m in store.get_metric_history(run_id, "loss")] == [1, 2, 3]
    run = store.get_run(run_id)
    assert (run.info.status, run.data.params, run.data.tags["phase"]) == ("FINISHED", {"lr": "0.1"}, "warmup")
    store.close()


def test_an_upload_cut_off_halfway_is_sent_again_whole(live_server, tmp_path) -> None:
    from shipyard.artifacts.server_repo import ServerArtifactRepository

    server = live_server()

    class CutOff(httpx.HTTPTransport):
        cut = False

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "PUT" and not self.cut:
                self.cut = True
                next(iter(request.stream))  # the first chunk went out, then the connection broke
                raise httpx.WriteError("broken pipe", request=request)
            return super().handle_request(request)

    source = tmp_path / "weights.bin"
    source.write_bytes(bytes(range(256)) * 20_000)
    client = httpx.Client(transport=CutOff())
    repo = ServerArtifactRepository(f"{server.url}/api/v1/artifacts/e1", client, retry_s=10)
    repo.log_file(source, "model")
    assert repo.read_bytes("model/weights.bin") == source.read_bytes()
    client.close()
