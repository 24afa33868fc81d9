"""What every page of the UI shares: the Jinja2 templates (autoescaped), the route class that turns
errors into pages, security headers, static files and JSON answers."""

from __future__ import annotations

import functools
import hashlib
import math
import mimetypes
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import orjson
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import HTMLResponse, RedirectResponse, Response

from shipyard.errors import NotFound, ShipyardError

__all__ = ["STATIC", "LoginRequired", "UIRoute", "error_response", "json_response", "make_router", "render",
           "static_router"]

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
# Everything the pages load comes from this server: no CDN, no inline script. Styles set by
# JavaScript (uPlot's) are allowed by CSP; style attributes in the markup are not, so there are none.
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
        "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
_HEADERS = {"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
            "X-Frame-Options": "DENY", "Cache-Control": "no-store"}


class LoginRequired(Exception):
    """Auth is on and the request has no valid session: go to the login page."""


# ------------------------------------------------------------------------------------ formatting

def _ts(ms: int | float | None) -> str:
    if ms is None:
        return "—"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d\u00a0%H:%M:%S")


def _dur(ms: int | float | None) -> str:
    if ms is None:
        return "—"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {sec} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours < 48 else f"{hours // 24} d {hours % 24} h"


def _num(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.6g}"
    return str(value)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(ts=_ts, dur=_dur, num=_num, pct=_pct)
    env.globals["static"] = static_url
    return env


@functools.cache
def _static_files() -> dict[str, tuple[bytes, str, str]]:
    """relative path -> (bytes, media type, short hash): the only files /static serves."""
    files = {}
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if media.startswith("text/") or media.endswith("javascript"):
                media += "; charset=utf-8"
            files[path.relative_to(STATIC).as_posix()] = (data, media, hashlib.sha256(data).hexdigest()[:10])
    return files


def static_url(name: str) -> str:
    """``/static/<name>?v=<hash>``: cached for a year, and a new release changes the URL."""
    return f"/static/{name}?v={_static_files()[name][2]}"


# ------------------------------------------------------------------------------------ responses

def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    viewer = getattr(request.state, "viewer", None)
    html = _environment().get_template(template).render(request=request, viewer=viewer, **context)
    return HTMLResponse(html, status_code=status_code)


def json_response(data: Any, status: int = 200) -> Response:
    body = orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    return Response(body, status_code=status, media_type="application/json")


def _wants_json(request: Request) -> bool:
    return request.url.path.endswith(".json") or "application/json" in request.headers.get("accept", "")


def _is_fragment(request: Request) -> bool:
    headers = request.headers
    return headers.get("hx-request") == "true" and headers.get("hx-history-restore-request") != "true" \
        and not headers.get("hx-boosted")


def error_response(request: Request, status: int, message: str) -> Response:
    """An error as the caller wants it: JSON, an htmx fragment, or a page."""
    if _wants_json(request):
        return json_response({"error_code": f"HTTP_{status}", "message": message}, status)
    if _is_fragment(request):
        return render(request, "_error.html", status, message=message)
    return render(request, "error.html", status, status=status, message=message)


def _to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if _wants_json(request):
        return json_response({"error_code": "UNAUTHENTICATED", "message": "log in again"}, 401)
    from urllib.parse import quote

    location = f"/login?next={quote(target, safe='')}"
    if request.headers.get("hx-request") == "true":
        return Response(status_code=200, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


class UIRoute(APIRoute):
    """A page route: errors of the platform become pages (or fragments, or JSON) with their status, a
    missing session a trip to the login page; every answer gets the security headers and a
    ``Server-Timing`` header with the time the server spent on it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            started = time.perf_counter()
            try:
                response = await handler(request)
            except LoginRequired:
                response = _to_login(request)
            except RequestValidationError:
                response = error_response(request, 400, "invalid request: check the address")
            except ShipyardError as exc:
                response = error_response(request, exc.http_status, exc.message)
            for name, value in _HEADERS.items():
                response.headers.setdefault(name, value)
            response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
            return response

        return route


def make_router() -> APIRouter:
    return APIRouter(route_class=UIRoute, include_in_schema=False)


def static_router() -> APIRouter:
    router = make_router()

    @router.get("/static/{name:path}")
    def static(name: str) -> Response:
        found = _static_files().get(name)
        if found is None:
            raise NotFound(f"no static file {name!r}")
        data, media, _ = found
        return Response(data, media_type=media, headers={"Cache-Control": "public, max-age=31536000, immutable"})

    return router
