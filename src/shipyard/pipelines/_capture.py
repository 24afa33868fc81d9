"""Per-task capture of stdout, stderr and logging, and the context a running task can read.

``sys.stdout`` is one object for all threads, so while a pipeline runs it is replaced by a router
that sends each write to the buffer of the task running in the current context (a contextvar), and
everything else on to the original stream. The router is installed for the duration of a run and
removed after the last concurrent run ends.
"""

from __future__ import annotations

import contextvars
import io
import logging
import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["RunContext", "capturing", "current_buffer", "get_run_context"]

_buffer: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("shipyard_task_logs", default=None)
_context: contextvars.ContextVar[RunContext | None] = contextvars.ContextVar("shipyard_task_ctx", default=None)


@dataclass(frozen=True, slots=True)
class RunContext:
    """What a running task may want to know: which run, which task, and the run's logical date."""

    pipeline: str
    run_id: str
    task: str
    logical_date: datetime
    params: dict[str, Any]
    attempt: int = 1


def get_run_context() -> RunContext:
    """The context of the task running in this thread; raises LookupError outside a task."""
    ctx = _context.get()
    if ctx is None:
        raise LookupError("get_run_context() is only available inside a running pipeline task")
    return ctx


def current_buffer() -> contextvars.ContextVar[list[str] | None]:
    return _buffer


def set_task_context(ctx: RunContext, buffer: list[str]) -> None:
    _context.set(ctx)
    _buffer.set(buffer)


class _Router(io.TextIOBase):
    def __init__(self, original: Any) -> None:
        self.original = original

    def write(self, text: str) -> int:
        buffer = _buffer.get()
        if buffer is None:
            return self.original.write(text)
        buffer.append(text)
        return len(text)

    def flush(self) -> None:
        if _buffer.get() is None:
            self.original.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.original, "encoding", "utf-8")


class _Handler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        buffer = _buffer.get()
        if buffer is not None:
            buffer.append(f"{record.levelname} {record.name}: {record.getMessage()}\n")


_lock = threading.Lock()
_active = 0
_saved: tuple[Any, Any] | None = None
_handler = _Handler()


class capturing:
    """Route task output into task buffers while at least one run is active in this process."""

    def __enter__(self) -> None:
        global _active, _saved
        with _lock:
            _active += 1
            if _active == 1:
                _saved = (sys.stdout, sys.stderr)
                sys.stdout, sys.stderr = _Router(sys.stdout), _Router(sys.stderr)  # type: ignore[assignment]
                logging.getLogger().addHandler(_handler)

    def __exit__(self, *exc: object) -> None:
        global _active, _saved
        with _lock:
            _active -= 1
            if _active == 0 and _saved is not None:
                if isinstance(sys.stdout, _Router):
                    sys.stdout = _saved[0]
                if isinstance(sys.stderr, _Router):
                    sys.stderr = _saved[1]
                logging.getLogger().removeHandler(_handler)
                _saved = None
