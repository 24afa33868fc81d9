"""One error shape for the whole API: ``{"error_code", "message"}`` with the status of the error class.

A :class:`~shipyard.errors.ShipyardError` answers with its own code and status; a request that does
not validate answers 422 ``INVALID_PARAMETER_VALUE`` (the REST client raises ``InvalidInput``); an
unknown path 404; anything unexpected 500 with a message that names nothing internal (the details
go to the server log).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import orjson
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    from fastapi import FastAPI, Request

__all__ = ["error_response", "install_error_handlers"]

logger = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "INVALID_PARAMETER_VALUE", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST", 405: "METHOD_NOT_ALLOWED", 409: "CONFLICT", 413: "INVALID_PARAMETER_VALUE",
    415: "INVALID_PARAMETER_VALUE", 422: "INVALID_PARAMETER_VALUE",
}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = orjson.dumps({"error_code": code, "message": message})
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _validation_message(errors: list[Any]) -> str:
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "invalid request: " + "; ".join(parts) + more


async def _shipyard_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ShipyardError)
    if exc.http_status >= 500:
        logger.warning("%s %s: %s", request.method, request.url.path, exc.message)
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
    return error_response(exc.http_status, exc.error_code, exc.message, headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, "INVALID_PARAMETER_VALUE", _validation_message(list(exc.errors())))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"HTTP_{exc.status_code}")
    if exc.status_code == 404 and exc.detail == "Not Found":
        message = f"no such endpoint: {request.method} {request.url.path}"
    else:
        message = str(exc.detail)
    return error_response(exc.status_code, code, message, getattr(exc, "headers", None))


async def _unicode_error(request: Request, exc: Exception) -> Response:
    return error_response(400, "INVALID_PARAMETER_VALUE", "invalid text: strings must be valid Unicode")


async def _overflow_error(request: Request, exc: Exception) -> Response:
    return error_response(400, "INVALID_PARAMETER_VALUE", "invalid input: a number is out of range")


async def _internal_error(request: Request, exc: Exception) -> Response:
    logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, "INTERNAL_ERROR", "internal server error (the server log has the details)")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ShipyardError, _shipyard_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(UnicodeError, _unicode_error)
    app.add_exception_handler(OverflowError, _overflow_error)
    app.add_exception_handler(Exception, _internal_error)
