"""Persistence behind one Store interface, picked from the URI's scheme.

``sqlite:///path`` and ``postgresql://...`` open a :class:`~shipyard.store.sql.SqlStore`,
``http(s)://host:port`` a :class:`~shipyard.store.rest.RestStore` (a ``shipyard server``); the
implementation modules are imported only when a URI of their scheme is opened, so ``import
shipyard`` pays for none of them. More schemes register with :func:`register_store`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from shipyard.errors import InvalidInput

if TYPE_CHECKING:
    from shipyard.store.base import Store

__all__ = ["open_store", "register_store"]

# scheme -> "module:factory"; the factory takes (uri, artifact_root).
_SCHEMES: dict[str, str] = {
    "sqlite": "shipyard.store.sql:SqlStore",
    "postgresql": "shipyard.store.sql:SqlStore",
    "postgres": "shipyard.store.sql:SqlStore",
    "postgresql+psycopg": "shipyard.store.sql:SqlStore",
    "http": "shipyard.store.rest:RestStore",
    "https": "shipyard.store.rest:RestStore",
}


def register_store(scheme: str, target: str) -> None:
    """Make ``scheme://`` URIs open ``target`` ("package.module:Factory")."""
    _SCHEMES[scheme] = target


def open_store(uri: str, artifact_root: str) -> Store:
    scheme = uri.split(":", 1)[0].lower() if ":" in uri else ""
    target = _SCHEMES.get(scheme)
    if target is None:
        known = ", ".join(sorted(_SCHEMES))
        raise InvalidInput(f"store URI {uri!r} has no known scheme (known: {known})")
    module, _, factory = target.partition(":")
    cls: Callable[[str, str], Store] = getattr(importlib.import_module(module), factory)
    return cls(uri, artifact_root)
