"""Waiting in tests for something another process does: poll a condition, fail saying what never came."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float, what: str, every: float = 0.3) -> T:
    """The first truthy value of ``condition()`` within ``timeout`` seconds; the test fails otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
