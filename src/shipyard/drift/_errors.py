"""Exceptions of ``shipyard.drift``.

The library stands alone, so it defines its own exceptions; each subclasses a built-in so that
``except ValueError`` keeps working::

    DriftInputError(ValueError)              bad input: unknown column, wrong test for a column, ...
    NotFittedError(ValueError, AttributeError)  a drift test used before ``fit``
"""

from __future__ import annotations

__all__ = ["DriftInputError", "NotFittedError"]


class DriftInputError(ValueError):
    """The data, a profile or an option given to ``shipyard.drift`` cannot be used as asked."""


class NotFittedError(ValueError, AttributeError):
    """A drift test was asked to test before it was fitted on a reference."""
