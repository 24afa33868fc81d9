"""Checks on every name, key and value before it reaches SQL or the file system.

Keys follow MLflow's rules (letters, digits, ``_ - . / :`` and spaces, at most 250 characters) with
the path-traversal cases refused outright, since metric and artifact keys become file names in
exports. Every check raises :class:`~shipyard.errors.InvalidInput` with a message that says what to
change.
"""

from __future__ import annotations

import math
import re

from shipyard.errors import InvalidInput, NotFound

__all__ = [
    "MAX_KEY_LENGTH",
    "MAX_PARAM_VALUE_LENGTH",
    "MAX_TAG_VALUE_LENGTH",
    "check_alias",
    "check_experiment_name",
    "check_key",
    "check_metric_value",
    "check_model_name",
    "check_run_id",
    "check_text",
]

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_NAME_LENGTH = 256

_KEY = re.compile(r"^[\w\-. /:]+$")
_MODEL_NAME = re.compile(r"^[\w][\w\-. ]*$")
_ALIAS = re.compile(r"^[A-Za-z_][\w\-]*$")
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_valid_keys: set[str] = set()  # a cache: log_metric in a tight loop checks the same few keys


def check_key(key: object, what: str = "key") -> str:
    if isinstance(key, str) and key in _valid_keys:
        return key
    if not isinstance(key, str) or not key:
        raise InvalidInput(f"{what} must be a non-empty string, got {key!r}")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(f"{what} {key[:40]!r}... is longer than {MAX_KEY_LENGTH} characters")
    if not _KEY.match(key):
        raise InvalidInput(
            f"{what} {key!r} may contain only letters, digits, '_', '-', '.', '/', ':' and spaces"
        )
    if key.startswith("/") or ".." in key.split("/"):
        raise InvalidInput(f"{what} {key!r} must be a relative name without '..' parts")
    if len(_valid_keys) < 100_000:
        _valid_keys.add(key)
    return key


def check_text(value: object, what: str, limit: int) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        raise InvalidInput(f"{what} is {len(text)} characters long; the limit is {limit}")
    if "\x00" in text:
        raise InvalidInput(f"{what} contains a NUL character")
    return text


def check_metric_value(key: str, value: object) -> float | None:
    """The value as a float, or None for NaN (stored as NULL); ±inf are kept."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput(f"metric {key!r}: value {value!r} is not a number") from None
    return None if math.isnan(number) else number


def check_experiment_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"experiment name must be a non-empty string, got {name!r}")
    if len(name) > MAX_NAME_LENGTH or any(ord(c) < 32 for c in name):
        raise InvalidInput(f"experiment name {name[:40]!r} is too long or has control characters")
    return name


def check_model_name(name: object) -> str:
    if not isinstance(name, str) or not _MODEL_NAME.match(name) or len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(
            f"model name {name!r} must start with a letter, digit or '_' and contain only letters, "
            "digits, '_', '-', '.' and spaces"
        )
    return name


def check_alias(alias: object) -> str:
    if not isinstance(alias, str) or not _ALIAS.match(alias) or len(alias) > MAX_NAME_LENGTH:
        raise InvalidInput(
            f"alias {alias!r} must start with a letter or '_' and contain only letters, digits, '_' and '-'"
        )
    if alias.lower() == "latest":
        raise InvalidInput("'latest' is reserved: it always means the newest version")
    return alias


def check_run_id(run_id: object) -> str:
    """A malformed id cannot name any run: say so as NotFound, the answer a user can act on."""
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise NotFound(f"run {run_id!r} not found (run ids are 32 hexadecimal characters)")
    return run_id
