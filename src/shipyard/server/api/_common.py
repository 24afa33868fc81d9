"""What every router of the API shares: the store, answers encoded with orjson, artifact locations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import orjson
from fastapi import Depends, Request
from starlette.responses import Response

from shipyard.artifacts import safe_relpath
from shipyard.errors import InvalidInput, ShipyardError
from shipyard.server.api.schemas import ErrorBody
from shipyard.store._wire import ARTIFACT_SCHEME, from_wire, to_wire
from shipyard.store.base import Store

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["ERRORS", "Locations", "LocationsDep", "StoreDep", "entities", "entity", "ok", "parse"]

T = TypeVar("T")

#: Error answers every API operation documents.
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in [(400, "Invalid input"), (401, "No valid token (auth on)"),
                         (403, "The token's role may not do this"), (404, "Not found"),
                         (409, "Already exists, or the current state forbids it"),
                         (413, "Request body too large"), (503, "The store is unavailable")]
}

_LOCAL_SCHEMES = ("file://", "memory://")


class Locations:
    """Artifact locations between the server's artifact root and the API.

    By default the API speaks of every file under the root as ``shipyard-artifacts:/<path>``, served
    by ``/api/v1/artifacts/<path>``: clients need only the server's URL and a token, never the
    bucket's credentials. With ``proxy=False`` (``shipyard server --no-serve-artifacts``) an
    object-store root (``s3://``, ``gs://``) is left as it is and clients read and write there
    directly; a root on the server's own disk (a path, ``file://``) is proxied all the same, as
    nothing else could reach it.
    """

    def __init__(self, root: str, *, proxy: bool = True) -> None:
        self.root = root.rstrip("/")
        self.proxied = proxy or "://" not in root or root.startswith(_LOCAL_SCHEMES)

    def to_api(self, uri: str) -> str:
        if self.proxied and (uri == self.root or uri.startswith(self.root + "/")):
            return f"{ARTIFACT_SCHEME}/{uri[len(self.root) + 1:]}"
        return uri

    def from_api(self, uri: str) -> str:
        if not uri.startswith(ARTIFACT_SCHEME):
            return uri
        rel = safe_relpath(uri[len(ARTIFACT_SCHEME):].lstrip("/"))
        return f"{self.root}/{rel}" if rel else self.root

    def from_api_opt(self, uri: str | None) -> str | None:
        return None if uri is None else self.from_api(uri)


def _store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


def _locations(request: Request) -> Locations:
    return request.app.state.locations  # type: ignore[no-any-return]


StoreDep = Annotated[Store, Depends(_store)]
LocationsDep = Annotated[Locations, Depends(_locations)]


def ok(data: Any = None, status: int = 200) -> Response:
    """A JSON answer (orjson; NaN never reaches it: entities are encoded by ``_wire`` first)."""
    body = orjson.dumps({} if data is None else data, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    return Response(body, status_code=status, media_type="application/json")


def entity(request: Request, obj: Any, key: str | None = None) -> Response:
    """One entity as the answer (or under ``key``), its artifact locations as the API speaks of them."""
    data = to_wire(obj, request.app.state.locations.to_api)
    return ok({key: data} if key else data)


def entities(request: Request, key: str, items: list[Any], **extra: Any) -> Response:
    return ok({key: to_wire(items, request.app.state.locations.to_api), **extra})


def parse(request: Request, cls: type[T], model: BaseModel) -> T:
    """A validated request model as the entity it describes (artifact locations made the server's)."""
    try:
        return from_wire(cls, model.model_dump(by_alias=True), request.app.state.locations.from_api)
    except ShipyardError:
        raise
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"invalid {cls.__name__}: {exc}") from None
