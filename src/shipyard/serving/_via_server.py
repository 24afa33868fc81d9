"""Reading the prediction log through a shipyard server, for processes that hold only its URL and a token.

When the log's root is the server's artifact URL (``http(s)://host/api/v1/artifacts/prediction-logs``,
what ``SHIPYARD_TRACKING_URI=http(s)://host`` resolves to), monitors, schedulers, rollouts and
replicas checking feedback ask the server instead of opening segments: it reads its own log (the
same bounded reads, the feedback join next to its database) and answers an Arrow IPC stream.
Requests ride out a server restart like every other client call (:func:`shipyard._http.send`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pyarrow as pa

from shipyard.serving._ingest import ARROW_STREAM

if TYPE_CHECKING:
    import httpx

__all__ = ["find_via_server", "read_via_server"]

_LOOKUP_BATCH = 10_000


def _client(server: str, store: Any) -> httpx.Client:
    """The store's own client when it is a REST store of this server (its token), else the shared one."""
    from shipyard._http import http_client

    own = getattr(store, "_http", None)
    if own is not None and getattr(store, "uri", None) == server:
        return own  # type: ignore[no-any-return]
    return http_client(server)


def _base(server: str, deployment: str) -> str:
    return f"{server}/api/v1/deployments/{quote(deployment, safe='')}/prediction-log"


def read_via_server(server: str, deployment: str, start_ms: int | None, end_ms: int | None, last_rows: int | None,
                    with_feedback: bool, store: Any = None) -> pa.Table:
    """``read_prediction_log`` answered by the server at ``server``."""
    from shipyard._http import check_response, send

    params: dict[str, Any] = {"feedback": "true" if with_feedback else "false"}
    for key, value in (("start", start_ms), ("end", end_ms), ("last_rows", last_rows)):
        if value is not None:
            params[key] = str(value)
    client = _client(server, store)
    answer = check_response(send(lambda: client.get(_base(server, deployment), params=params,
                                                    headers={"Accept": ARROW_STREAM}), server))
    with pa.ipc.open_stream(pa.py_buffer(answer.content)) as reader:
        return reader.read_all()


def find_via_server(server: str, deployment: str, request_ids: Sequence[str]) -> dict[str, tuple[str, int]]:
    """``find_in_log`` answered by the server: ``{request_id: (model, version)}`` of the ids it holds."""
    from shipyard._http import check_response, dumps, http_client, send

    client = http_client(server)
    found: dict[str, tuple[str, int]] = {}
    for lo in range(0, len(request_ids), _LOOKUP_BATCH):
        body = dumps({"request_ids": list(request_ids[lo:lo + _LOOKUP_BATCH])})
        answer = check_response(send(lambda body=body: client.post(  # type: ignore[misc]
            f"{_base(server, deployment)}/lookup", content=body, headers={"Content-Type": "application/json"}),
            server))
        for rid, item in answer.json()["found"].items():
            found[rid] = (str(item["model"]), int(item["version"]))
    return found
