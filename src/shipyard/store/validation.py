"""Checks on every name, key and value before it reaches SQL or the file system.

Keys follow MLflow's rules (letters, digits, ``_ - . / :`` and spaces, at most 250 characters) with
the path-traversal cases refused outright, since metric and artifact keys become file names in
exports. Every check raises :class:`~shipyard.errors.InvalidInput` with a message that says what to
change.

:func:`check_no_nul` refuses a NUL character anywhere in an argument, however nested: PostgreSQL
cannot store one in text and SQLite would keep it silently, so every backend refuses it the same
way. ``SqlStore`` applies it to every argument of every public method (see ``sqlbase.store_boundary``).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
from collections.abc import Mapping
from typing import Any

import orjson

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
    "check_no_nul",
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


_JSON_NUL = b"\\u0000"  # how orjson writes a NUL inside a string
# Dataclasses go to _fields_of: orjson's own writing of slotted ones (all of shipyard's) is slow.
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS


def check_no_nul(value: object, what: str) -> None:
    """Raise InvalidInput if a string in ``value`` (a str, or one inside lists, tuples, sets, dict keys
    and values, dataclasses, at any depth) holds a NUL character; the message names where, e.g.
    ``tags['team']`` or ``feedback[3].request_id``."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInput(f"{what} contains a NUL character (\\x00), which no stored text may hold")
        return
    if value is None or isinstance(value, int | float | bytes):
        return
    # Fast path: orjson writes plain values in C; no escaped NUL in the text means no NUL anywhere.
    # (A literal backslash-u0000 in a string also matches; the walk then finds nothing.)
    try:
        if _JSON_NUL not in orjson.dumps(value, default=_fields_of, option=_JSON_OPTIONS):
            return
    except TypeError:
        pass  # a type orjson does not write: walk it
    path = _nul_path(value, what)
    if path is not None:
        raise InvalidInput(f"{path} contains a NUL character (\\x00), which no stored text may hold")


def _fields_of(value: object) -> list[Any]:
    """orjson's fallback: a dataclass as the list of its field values."""
    names = _field_names(type(value))
    if not names:
        raise TypeError(f"{type(value).__name__} is not a dataclass")
    return [getattr(value, name) for name in names]


_SCALARS = (int, float, bytes, enum.Enum)
_SEQUENCES = (list, tuple, set, frozenset)


def _nul_path(root: object, what: str) -> str | None:
    """Where in ``root`` a string holds NUL (as ``what[...]...``), or None. Iterative: a value nested
    thousands deep must not exhaust the stack. Strings are checked where they are met and only
    containers are stacked, each with the trail that leads to it (spelled out only for the answer)."""
    stack: list[tuple[object, Any]] = [(root, None)]
    seen: set[int] = set()
    while stack:
        value, trail = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, dict | Mapping):
            items: Any = value.items()
            for key, _ in items:
                if isinstance(key, str) and "\x00" in key:
                    return "a key of " + _spelled(what, trail)
            kind = "key"
        elif isinstance(value, _SEQUENCES):
            items, kind = enumerate(value), "index"
        elif _field_names(type(value)):
            items, kind = ((name, getattr(value, name)) for name in _field_names(type(value))), "field"
        else:
            continue
        for step, item in items:
            if isinstance(item, str):
                if "\x00" in item:
                    return _spelled(what, (trail, kind, step))
            elif item is not None and not isinstance(item, _SCALARS):
                stack.append((item, (trail, kind, step)))
    return None


def _spelled(what: str, trail: Any) -> str:
    steps: list[str] = []
    while trail is not None:
        trail, kind, step = trail
        steps.append(f".{step}" if kind == "field" else f"[{step}]" if kind == "index" else f"[{_shown(step)}]")
    return what + "".join(reversed(steps))


_fields: dict[type, tuple[str, ...]] = {}  # a cache: the same few dataclass types come by


def _field_names(cls: type) -> tuple[str, ...]:
    """The fields of a dataclass type; () for any other type."""
    names = _fields.get(cls)
    if names is None:
        names = _fields[cls] = tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else ()
    return names


def _shown(key: object) -> str:
    text = repr(key)
    return text if len(text) <= 40 else text[:37] + "..."


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
