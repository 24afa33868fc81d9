"""Bearer-token auth of the API: who is calling, and may they do this.

Off by default (the local, one-user setup; the server says so loudly at start). With auth on, every
``/api/v1`` call needs ``Authorization: Bearer <token>``; a missing or unknown token is a 401, a
role that may not do the operation a 403, and neither message says anything about the token.

Each route declares the role it needs with one of :data:`READ`, :data:`WRITE`, :data:`ADMIN`
(``dependencies=[WRITE]``). The web UI can authenticate its own way (a session cookie) by setting
``request.state.principal`` before the route runs; the bearer header is checked only when it has not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shipyard.errors import PermissionDenied, Unauthenticated

if TYPE_CHECKING:
    from shipyard.store.sql.tokens import ApiToken, TokenStore

__all__ = ["ADMIN", "READ", "WRITE", "Authenticator", "Principal", "principal_name"]

_ROLES = ("reader", "writer", "admin")
_bearer = HTTPBearer(auto_error=False, description="an API token (`shipyard tokens create`), when auth is on")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: a token's name and role."""

    name: str
    role: str

    def allows(self, role: str) -> bool:
        return _ROLES.index(self.role) >= _ROLES.index(role)


class Authenticator:
    """Checks tokens against the store's ``api_tokens`` table."""

    def __init__(self, tokens: TokenStore) -> None:
        self.tokens = tokens

    def authenticate(self, token: str) -> Principal | None:
        found: ApiToken | None = self.tokens.authenticate(token)
        return None if found is None else Principal(found.name, found.role)


def _requires(role: str):  # type: ignore[no-untyped-def]
    verb = {"reader": "read", "writer": "write", "admin": "do this (admins only)"}[role]

    def check(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
        authenticator: Authenticator | None = request.app.state.authenticator
        if authenticator is None:
            return
        principal: Principal | None = getattr(request.state, "principal", None)
        if principal is None:
            if credentials is None:
                raise Unauthenticated("authentication required: send 'Authorization: Bearer <token>'")
            principal = authenticator.authenticate(credentials.credentials)
            if principal is None:
                raise Unauthenticated("invalid or revoked token")
            request.state.principal = principal
        if not principal.allows(role):
            raise PermissionDenied(f"permission denied: this token's role may not {verb}")

    return Depends(check)


READ = _requires("reader")
WRITE = _requires("writer")
ADMIN = _requires("admin")


def require_role(request: Request, role: str, why: str) -> None:
    """A role check inside an operation, for what one request does beyond its route's least role (an
    operation is checked by its effect: see :mod:`shipyard.server.roles`). Runs after the route's own
    dependency, which has authenticated the caller."""
    if request.app.state.authenticator is None:
        return
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None or not principal.allows(role):
        raise PermissionDenied(f"permission denied: {why} ({role}s only)")


def principal_name(request: Request) -> str:
    """The calling token's name ('' with auth off), for created_by fields."""
    principal: Principal | None = getattr(request.state, "principal", None)
    return principal.name if principal is not None else ""
