"""The reserved ``shipyard.`` tag prefix: what a writer may set of the platform's own tags.

Tags under ``shipyard.`` are written by the platform and some are trusted by it (the digests a model
is checked against, a gate's verdict). Over the API a non-admin may set or delete none of them, except:

- informational tags the SDK writes with a writer's token (:data:`WRITER_SYSTEM_TAGS`: where a run
  came from, its note, its parent, the pipeline task it ran in), which nothing trusts;
- ``shipyard.log-model.history`` on a run, only by appending entries (``log_model`` records each
  model it logs there): an entry already recorded is never changed or removed;
- ``shipyard.model_digest`` among the tags of a *new* model version: the registration's digest, which
  the store keeps in a column of the version that nothing changes afterwards (never as a tag).

Admins (and everyone with auth off, the one-user setup) may set the others: the scheduler's token
records gate verdicts that way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from shipyard.errors import InvalidInput, PermissionDenied

if TYPE_CHECKING:
    from fastapi import Request

    from shipyard.store.base import Store

__all__ = ["LOGGED_MODELS_TAG", "REGISTRATION_DIGEST_TAG", "RESERVED_PREFIX", "WRITER_SYSTEM_TAGS",
           "check_run_tags", "check_tag_keys", "is_admin"]

RESERVED_PREFIX = "shipyard."
LOGGED_MODELS_TAG = "shipyard.log-model.history"
REGISTRATION_DIGEST_TAG = "shipyard.model_digest"
#: Exact keys and (ending in ".") prefixes of the informational system tags writers may set on runs.
WRITER_SYSTEM_TAGS = ("shipyard.source.", "shipyard.pipeline.", "shipyard.note.content", "shipyard.parentRunId",
                      "shipyard.user")


def is_admin(request: Request) -> bool:
    """True with auth off, or for an admin token."""
    if request.app.state.authenticator is None:
        return True
    principal = getattr(request.state, "principal", None)
    return principal is not None and principal.allows("admin")


def _writer_may(key: str, informational: bool) -> bool:
    if not key.startswith(RESERVED_PREFIX):
        return True
    return informational and any(key == t or (t.endswith(".") and key.startswith(t)) for t in WRITER_SYSTEM_TAGS)


def _refuse(key: str) -> PermissionDenied:
    return PermissionDenied(f"tag {key[:100]!r} is reserved: tags under {RESERVED_PREFIX!r} are the platform's own "
                            "(only admins may set or delete them)")


def check_tag_keys(request: Request, keys: Iterable[str], *, informational: bool = False,
                   allow: tuple[str, ...] = ()) -> None:
    """PermissionDenied for a reserved key a non-admin may not set or delete here."""
    if is_admin(request):
        return
    for key in keys:
        if key not in allow and not _writer_may(key, informational):
            raise _refuse(key)


def _history(value: str | None) -> list[Any]:
    try:
        parsed = orjson.loads(value or "[]")
    except orjson.JSONDecodeError:
        raise InvalidInput(f"{LOGGED_MODELS_TAG} must be a JSON list of logged models") from None
    if not isinstance(parsed, list):
        raise InvalidInput(f"{LOGGED_MODELS_TAG} must be a JSON list of logged models")
    return parsed


def check_run_tags(request: Request, store: Store, run_id: str, tags: Mapping[str, str] | Sequence[Any]) -> None:
    """Run tags from a writer: informational system tags pass, the model history only grows."""
    pairs: list[tuple[str, str]] = (list(tags.items()) if isinstance(tags, Mapping)
                                    else [(t.key, t.value) for t in tags])
    if is_admin(request):
        return
    check_tag_keys(request, [k for k, _ in pairs], informational=True, allow=(LOGGED_MODELS_TAG,))
    for key, value in pairs:
        if key != LOGGED_MODELS_TAG:
            continue
        before = _history(store.get_run(run_id).data.tags.get(LOGGED_MODELS_TAG)) if run_id else []
        after = _history(value)
        if after[:len(before)] != before:
            raise PermissionDenied(f"{LOGGED_MODELS_TAG} only grows: a logged model's entry (and the digest it "
                                   "is checked against) cannot be changed or removed")
        for entry in after[len(before):]:
            if not (isinstance(entry, dict) and isinstance(entry.get("artifact_path"), str)
                    and isinstance(entry.get("digest"), str)):
                raise InvalidInput(f"each {LOGGED_MODELS_TAG} entry needs an artifact_path and a digest")
