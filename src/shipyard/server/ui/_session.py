"""Who is looking at the UI: the session cookie, the login page, and the checks on forms.

With auth off (the local setup) everyone may do everything, as with the API. With auth on, the
login page takes an API token (``shipyard tokens create``) and keeps it in a cookie the page's
JavaScript cannot read (``HttpOnly``, ``SameSite=Lax``, ``Secure`` over HTTPS). Every request checks
it again through the server's :class:`~shipyard.server.auth.Authenticator`, so a revoked token ends
its sessions at once; logging out removes the cookie.

Forms that change something are sent by htmx as POST and must carry its ``HX-Request`` header (a
custom header, which another site's page cannot send without a CORS preflight this server never
grants), an ``Origin`` of this server when the browser sends one, and, with auth on, the session's
CSRF token (an HMAC of the session, so it needs no server-side state).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from shipyard.errors import InvalidInput, PermissionDenied
from shipyard.server.auth import Authenticator, Principal
from shipyard.server.ui._web import LoginRequired, make_router, render

__all__ = ["COOKIE", "Viewer", "ViewerDep", "check_form", "read_form", "router", "viewer"]

COOKIE = "shipyard_session"
SESSION_SECONDS = 12 * 3600
MAX_FORM_BYTES = 64 << 10


def _csrf(token: str) -> str:
    return hmac.new(token.encode(), b"shipyard-ui-csrf", hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Viewer:
    """The person behind a page request: their principal (None with auth off) and CSRF token."""

    principal: Principal | None
    auth: bool
    csrf: str = ""

    def can(self, role: str) -> bool:
        return not self.auth or (self.principal is not None and self.principal.allows(role))

    @property
    def name(self) -> str:
        return self.principal.name if self.principal is not None else ""


def viewer(request: Request) -> Viewer:
    """The dependency of every page: the session's viewer, or LoginRequired. Sets
    ``request.state.principal`` as the API's auth does (``principal_name`` then names them)."""
    authenticator: Authenticator | None = request.app.state.authenticator
    if authenticator is None:
        found = Viewer(None, False)
    else:
        token = request.cookies.get(COOKIE, "")
        principal = authenticator.authenticate(token) if token else None
        if principal is None:
            raise LoginRequired
        request.state.principal = principal
        found = Viewer(principal, True, _csrf(token))
    request.state.viewer = found
    return found


ViewerDep = Annotated[Viewer, Depends(viewer)]


def _same_origin(request: Request) -> None:
    if request.headers.get("hx-request") != "true":
        raise PermissionDenied("forms of the web UI are sent by its own page (htmx): reload the page")
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise PermissionDenied("cross-site request refused")


def check_form(request: Request, who: Viewer, csrf: str, role: str) -> None:
    """Refuse a state-changing form from another site, without this session's token, or from a role
    that may not do it (writer, admin)."""
    _same_origin(request)
    if who.auth and not hmac.compare_digest(csrf.encode(), who.csrf.encode()):
        raise PermissionDenied("the form has expired: reload the page and try again")
    if not who.can(role):
        raise PermissionDenied(f"permission denied: this needs the {role} role")


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a URL-encoded form (what htmx sends), the last value of each name."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InvalidInput("the form is too large")
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        raise InvalidInput("invalid text: forms must be UTF-8") from None


_SAFE_PATH = re.compile(r"/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@%/?#]*")


def _safe_next(target: str) -> str:
    """Only a path of this server is a place to go back to after logging in: it starts with one "/",
    and holds only URL characters (no whitespace or control character, which browsers drop, turning
    ``/\t/evil.example`` into ``//evil.example``; no backslash, which they read as "/")."""
    if not _SAFE_PATH.fullmatch(target) or urlsplit(target).netloc:
        return "/"
    return target


def _routes() -> APIRouter:
    routes = make_router()

    @routes.get("/login")
    def login_page(request: Request, next: str = "/") -> Response:
        if request.app.state.authenticator is None:
            return RedirectResponse(_safe_next(next), status_code=303)
        request.state.viewer = Viewer(None, True)
        return render(request, "login.html", next=_safe_next(next), error="")

    @routes.post("/login")
    async def login(request: Request) -> Response:
        _same_origin(request)
        form = await read_form(request)
        token, target = form.get("token", "").strip(), _safe_next(form.get("next", "/"))
        authenticator: Authenticator | None = request.app.state.authenticator
        if authenticator is None:
            return Response(status_code=200, headers={"HX-Redirect": target})
        if not token or await run_in_threadpool(authenticator.authenticate, token) is None:
            request.state.viewer = Viewer(None, True)
            return render(request, "_error.html", 401, message="invalid or revoked token")
        response = Response(status_code=200, headers={"HX-Redirect": target})
        response.set_cookie(COOKIE, token, max_age=SESSION_SECONDS, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https", path="/")
        return response

    @routes.post("/logout")
    def logout(request: Request) -> Response:
        _same_origin(request)
        response = Response(status_code=200, headers={"HX-Redirect": "/login"})
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
        return response

    return routes


router = _routes()
