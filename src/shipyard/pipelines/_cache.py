"""Task cache keys and stored outputs.

A key is the hash of the task's code and of its inputs, so a later run with the same inputs reuses
the stored output, and editing the function (even a constant in it) misses. Outputs are pickled
into the artifact store, where any executor - a thread, a process, a Dask worker - can read them.
"""

from __future__ import annotations

import hashlib
import inspect
import pickle
from typing import TYPE_CHECKING, Any

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


def save_output(repo: ArtifactRepository, task_name: str, key: str, value: Any) -> str:
    path = f"pipelines/cache/{task_name}/{key}.pkl"
    repo.log_bytes(pickle.dumps(value, protocol=5), path)
    return path


def load_output(repo: ArtifactRepository, path: str) -> Any:
    return pickle.loads(repo.read_bytes(path))
