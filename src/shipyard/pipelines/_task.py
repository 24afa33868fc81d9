"""``@task`` and the placeholders a pipeline function builds its DAG from.

Inside a pipeline function a task call does not run the task: it returns a :class:`Node`, and
passing that node to another task is what makes an edge (a data dependency). ``a >> b`` adds an edge
without data, so Airflow's ``extract >> train`` reads the same. Outside a pipeline a task is a plain
function call, so tasks stay unit-testable without any machinery.
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from shipyard.errors import InvalidInput

__all__ = ["Node", "Task", "task"]

_builder: contextvars.ContextVar[GraphBuilder | None] = contextvars.ContextVar("shipyard_pipeline_builder",
                                                                                default=None)


class GraphBuilder:
    """Collects the nodes a pipeline function creates; keys are unique (``train``, ``train[1]``)."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self._counts: dict[str, int] = {}

    def add(self, task: Task, args: tuple[Any, ...], kwargs: dict[str, Any], key: str | None = None) -> Node:
        if key is None:
            seen = self._counts.get(task.name, 0)
            self._counts[task.name] = seen + 1
            key = task.name if seen == 0 else f"{task.name}[{seen}]"
        node = Node(len(self.nodes), key, task, args, kwargs)
        node.upstream.update(n.index for n in _nodes_in((args, kwargs)))
        self.nodes.append(node)
        return node


def _nodes_in(value: Any) -> Iterable[Node]:
    if isinstance(value, Node):
        yield value
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _nodes_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _nodes_in(item)


def substitute(value: Any, results: Callable[[int], Any], kind: type = type(None)) -> Any:
    """``value`` with every Node (or ``kind``) replaced by ``results(its index)``."""
    if isinstance(value, (Node, kind)):
        return results(value.index)  # type: ignore[attr-defined]  # a Node, or a `kind` with .index
    if isinstance(value, (list, tuple, set, frozenset)):
        return type(value)(substitute(v, results, kind) for v in value)
    if isinstance(value, dict):
        return {k: substitute(v, results, kind) for k, v in value.items()}
    return value


@dataclass(eq=False)
class Node:
    """One task call in a pipeline being built; a stand-in for the task's future result."""

    index: int
    key: str
    task: Task
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    upstream: set[int] = field(default_factory=set)

    def __rshift__(self, other: Node | list[Node]) -> Node | list[Node]:
        for node in other if isinstance(other, list) else [other]:
            if not isinstance(node, Node):
                raise InvalidInput(f"`>>` orders task calls inside a pipeline, got {type(node).__name__}")
            node.upstream.add(self.index)
        return other

    def __rrshift__(self, other: list[Node]) -> Node:
        for node in other:
            self.upstream.add(node.index)
        return self

    def _misuse(self, *_: Any) -> Any:
        raise InvalidInput(
            f"the result of task {self.key!r} is not known while the pipeline is being built: pass it to "
            "another task (which gets the real value) instead of using it in the pipeline function")

    __bool__ = __iter__ = __getitem__ = __len__ = __getattr__ = _misuse  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<task call {self.key}>"


class Task:
    """A function with run settings; see :func:`task`."""

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None, retries: int = 0,
                 retry_delay: float = 0.0, backoff: float = 1.0, timeout: float | None = None,
                 cache: bool = False, cache_key_fn: Callable[..., str] | None = None,
                 cache_expiration: float | None = None, track: bool | None = None) -> None:
        if not callable(fn):
            raise InvalidInput(f"@task decorates a function, got {fn!r}")
        for label, value in (("retries", retries), ("retry_delay", retry_delay), ("backoff", backoff)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise InvalidInput(f"@task({label}=...) must be a number >= 0, got {value!r}")
        if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
            raise InvalidInput(f"@task(timeout=...) must be seconds > 0, got {timeout!r}")
        self.fn = fn
        self.name = name or fn.__name__
        self.retries, self.retry_delay, self.backoff = int(retries), float(retry_delay), float(backoff)
        self.timeout = None if timeout is None else float(timeout)
        self.cache = bool(cache or cache_key_fn)
        self.cache_key_fn, self.cache_expiration = cache_key_fn, cache_expiration
        self.track = track
        self._code_hash: str | None = None
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        builder = _builder.get()
        if builder is None:
            return self.fn(*args, **kwargs)
        return builder.add(self, args, kwargs)

    def map(self, items: Iterable[Any], **kwargs: Any) -> list[Node]:
        """Fan out: one task call per item (``train.map(configs)``), keyed ``train[0]``, ``train[1]``, ..."""
        builder = _builder.get()
        if builder is None:
            return [self.fn(item, **kwargs) for item in items]
        if isinstance(items, Node):
            raise InvalidInput(f"{self.name}.map() needs a list known when the pipeline is built, not the "
                               f"result of task {items.key!r}")
        return [builder.add(self, (item,), kwargs, key=f"{self.name}[{i}]") for i, item in enumerate(items)]

    @property
    def code_hash(self) -> str:
        if self._code_hash is None:
            from shipyard.pipelines._cache import code_hash

            self._code_hash = code_hash(self.fn)
        return self._code_hash

    def __reduce__(self) -> Any:
        # By reference when the module holds this very task (process pools, Dask), else by value.
        module, qualname = getattr(self.fn, "__module__", None), getattr(self.fn, "__qualname__", "")
        try:
            found = functools.reduce(getattr, qualname.split("."), importlib.import_module(module or ""))
        except (ImportError, AttributeError, ValueError):
            found = None
        if found is self and module != "__main__" and not _by_value(module):  # another process's __main__ differs
            return (_load_task, (module, qualname))
        # By value through cloudpickle: a task defined in a script (``__main__``) or a notebook is not
        # importable in a worker process, and the standard pickler sends functions by name only.
        import cloudpickle

        return (_task_by_value, (cloudpickle.dumps(self.__dict__),))

    def __repr__(self) -> str:
        return f"<task {self.name}>"


def _by_value(module: str | None) -> bool:
    """Whether the module's code is being shipped by value (to Dask workers, see ``_ship``)."""
    cloudpickle = sys.modules.get("cloudpickle")
    return cloudpickle is not None and module in cloudpickle.list_registry_pickle_by_value()


def _task_by_value(state: bytes) -> Task:
    import pickle

    task = Task.__new__(Task)
    task.__dict__.update(pickle.loads(state))  # written by cloudpickle in the parent process, never stored
    return task


def _load_task(module: str, qualname: str) -> Task:
    found: Any = functools.reduce(getattr, qualname.split("."), importlib.import_module(module))
    return found


def task(fn: Callable[..., Any] | None = None, **settings: Any) -> Any:
    """Make a function a pipeline task: ``@task`` or ``@task(retries=3, retry_delay=5, backoff=2.0,
    timeout=600, cache=True, cache_key_fn=..., cache_expiration=3600, track=True, name=...)``.

    ``retry_delay`` is seconds before the first retry, multiplied by ``backoff`` for each next one.
    ``track``: True starts a tracking run for every call; the default starts one only when the task
    logs something (a metric, a param, a model), so training tasks land in tracking with no code.
    """
    if fn is None:
        return lambda f: Task(f, **settings)
    return Task(fn, **settings)
