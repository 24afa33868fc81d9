"""The exceptions shipyard raises.

Every error a user can cause or meet is a :class:`ShipyardError`. Each class carries an
``error_code`` (a stable string, the same over HTTP) and the HTTP status the server answers with.
The REST client turns ``{"error_code", "message"}`` back into the same class with
:func:`error_from_code`.

    ShipyardError                       INTERNAL_ERROR            500
    ├── NotFound                        RESOURCE_DOES_NOT_EXIST   404
    ├── AlreadyExists                   RESOURCE_ALREADY_EXISTS   409
    ├── InvalidInput (ValueError)       INVALID_PARAMETER_VALUE   400
    │   └── FilterSyntaxError           INVALID_FILTER            400
    ├── Conflict                        CONFLICT                  409
    ├── IntegrityCheckFailed            INTEGRITY_CHECK_FAILED    422
    ├── StoreUnavailable                STORE_UNAVAILABLE         503
    ├── StorageFull                     INSUFFICIENT_STORAGE      507
    ├── Unauthenticated                 UNAUTHENTICATED           401
    └── PermissionDenied                PERMISSION_DENIED         403

``InvalidInput`` subclasses ``ValueError`` so that ``except ValueError`` in user code keeps working.
Driver errors (SQLAlchemy, OS errors) are translated where they happen and chained
(``raise StoreUnavailable(...) from exc``), so the cause stays visible in tracebacks.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExists",
    "Conflict",
    "FilterSyntaxError",
    "IntegrityCheckFailed",
    "InvalidInput",
    "NotFound",
    "PermissionDenied",
    "ShipyardError",
    "StorageFull",
    "StoreUnavailable",
    "Unauthenticated",
    "error_from_code",
]


class ShipyardError(Exception):
    """Base class of every shipyard error."""

    error_code: str = "INTERNAL_ERROR"
    http_status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"error_code": self.error_code, "message": self.message}


class NotFound(ShipyardError):
    """The named thing (run, experiment, model, version, alias, artifact) does not exist."""

    error_code = "RESOURCE_DOES_NOT_EXIST"
    http_status = 404


class AlreadyExists(ShipyardError):
    """A thing with that name exists already."""

    error_code = "RESOURCE_ALREADY_EXISTS"
    http_status = 409


class InvalidInput(ShipyardError, ValueError):
    """An argument is malformed or out of range."""

    error_code = "INVALID_PARAMETER_VALUE"
    http_status = 400


class FilterSyntaxError(InvalidInput):
    """A search filter or order-by clause does not parse."""

    error_code = "INVALID_FILTER"

    def __init__(self, message: str, *, text: str = "", position: int | None = None) -> None:
        if position is not None and text:
            # A window of the text around the position: a generated filter can be kilobytes long.
            start = max(0, position - 60)
            end = position + 60
            shown = ("..." if start else "") + text[start:end] + ("..." if len(text) > end else "")
            pointer = " " * (position - start + (3 if start else 0)) + "^"
            message = f"{message} at position {position}:\n  {shown}\n  {pointer}"
        super().__init__(message)
        self.position = position


class Conflict(ShipyardError):
    """The operation contradicts the current state (e.g. deleting a version an alias points to)."""

    error_code = "CONFLICT"
    http_status = 409


class IntegrityCheckFailed(ShipyardError):
    """Stored files do not match their recorded hashes (a tampered or corrupted model)."""

    error_code = "INTEGRITY_CHECK_FAILED"
    http_status = 422


class StoreUnavailable(ShipyardError):
    """The database or artifact store could not be reached or answered with an error."""

    error_code = "STORE_UNAVAILABLE"
    http_status = 503


class StorageFull(ShipyardError):
    """The disk (or quota) of the artifact store or a local directory is full; nothing was kept.

    Writers translate ``ENOSPC``/``EDQUOT`` into this error after removing what they had written,
    so a full disk never leaves half a file or half a model behind. Free space and retry."""

    error_code = "INSUFFICIENT_STORAGE"
    http_status = 507


class Unauthenticated(ShipyardError):
    error_code = "UNAUTHENTICATED"
    http_status = 401


class PermissionDenied(ShipyardError):
    error_code = "PERMISSION_DENIED"
    http_status = 403


_BY_CODE: dict[str, type[ShipyardError]] = {
    cls.error_code: cls
    for cls in (
        ShipyardError,
        NotFound,
        AlreadyExists,
        InvalidInput,
        FilterSyntaxError,
        Conflict,
        IntegrityCheckFailed,
        StoreUnavailable,
        StorageFull,
        Unauthenticated,
        PermissionDenied,
    )
}


def error_from_code(error_code: str, message: str) -> ShipyardError:
    """Rebuild the exception a server reported (unknown codes become a plain ShipyardError)."""
    cls = _BY_CODE.get(error_code, ShipyardError)
    if cls is FilterSyntaxError:
        return FilterSyntaxError(message)
    return cls(message)
