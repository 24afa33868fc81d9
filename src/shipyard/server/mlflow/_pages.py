"""Offset page tokens for the MLflow searches shipyard answers from one store call (experiments,
registry filters, metric history): opaque to the client, checked when they come back."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import TypeVar

from shipyard.errors import InvalidInput

__all__ = ["page"]

T = TypeVar("T")
_MAX_RESULTS = 50_000


def _decode(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token.encode() + b"==").decode()
        kind, _, offset = text.partition(":")
        if kind == "offset" and offset.isdigit():
            return int(offset)
    except (ValueError, UnicodeError):
        pass
    raise InvalidInput(f"invalid page_token {token[:40]!r}")


def page(items: Sequence[T], max_results: int, token: str | None) -> tuple[list[T], str | None]:
    """The page of ``items`` that ``token`` starts (the first without one) and the next page's token."""
    if not 1 <= max_results <= _MAX_RESULTS:
        raise InvalidInput(f"max_results must be between 1 and {_MAX_RESULTS}, got {max_results}")
    start = _decode(token) if token else 0
    end = start + max_results
    nxt = base64.urlsafe_b64encode(f"offset:{end}".encode()).decode().rstrip("=") if end < len(items) else None
    return list(items[start:end]), nxt
