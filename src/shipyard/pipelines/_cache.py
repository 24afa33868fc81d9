"""Task cache keys and stored outputs.

A key is the hash of the task's code and of its inputs, so a later run with the same inputs reuses
the stored output, and editing the function (even a constant in it) misses. Outputs are pickled
into the artifact store, where any executor - a thread, a process, a Dask worker - can read them.

Nothing is unpickled unless its SHA-256 matches the one recorded when it was written: the file's
name carries it (``pipelines/cache/<task>/<key>.<sha256>.pkl``), that name is what the task run in
the store points to, and only a file under ``pipelines/cache/`` is ever loaded (the server lets only
admins write there). A file swapped in the artifact store then fails the check and the task runs
again instead of handing the executor someone else's pickle.
"""

from __future__ import annotations

import hashlib
import inspect
import pickle
import re
from typing import TYPE_CHECKING, Any

from shipyard.errors import Conflict

if TYPE_CHECKING:
    from collections.abc import Callable

    from shipyard.artifacts.base import ArtifactRepository

__all__ = ["cache_key", "code_hash", "load_output", "save_output"]


def code_hash(fn: Callable[..., Any]) -> str:
    """The source of the function, or its bytecode and constants when there is no source."""
    try:
        text = inspect.getsource(fn).encode()
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        text = repr((code.co_code, code.co_consts, code.co_names)).encode() if code else repr(fn).encode()
    return hashlib.sha256(text).hexdigest()


def _input_digest(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    try:
        digest.update(pickle.dumps((args, sorted(kwargs.items())), protocol=5))
    except Exception:  # an unpicklable input: fall back on its repr, which may miss more often
        digest.update(repr((args, sorted(kwargs.items()))).encode())
    return digest.hexdigest()


def cache_key(task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """sha256 of the code hash and either ``task.cache_key_fn(*args, **kwargs)`` or the inputs' hash."""
    inputs = str(task.cache_key_fn(*args, **kwargs)) if task.cache_key_fn else _input_digest(args, kwargs)
    return hashlib.sha256(f"{task.name}\0{task.code_hash}\0{inputs}".encode()).hexdigest()


_CACHE_PATH = re.compile(r"^pipelines/cache/[^/]+/[0-9a-f]{64}\.(?P<sha256>[0-9a-f]{64})\.pkl$")


def save_output(repo: ArtifactRepository, task_name: str, key: str, value: Any) -> str:
    data = pickle.dumps(value, protocol=5)
    path = f"pipelines/cache/{task_name}/{key}.{hashlib.sha256(data).hexdigest()}.pkl"
    repo.log_bytes(data, path)
    return path


def load_output(repo: ArtifactRepository, path: str) -> Any:
    """The output stored at ``path``; Conflict (before unpickling anything) unless the path is a cache
    file and the bytes hash to the SHA-256 in its name."""
    found = _CACHE_PATH.match(path)
    if found is None:
        raise Conflict(f"{path[:200]!r} is not a task cache file (pipelines/cache/<task>/<key>.<sha256>.pkl)")
    data = repo.read_bytes(path)
    if hashlib.sha256(data).hexdigest() != found.group("sha256"):
        raise Conflict(f"cached output {path!r} does not match the hash recorded when it was written: not loaded")
    return pickle.loads(data)
