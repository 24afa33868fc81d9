"""One task call, wherever it runs (a thread, a process, a Dask worker): the error boundary.

:func:`execute` never raises for anything the task does. It returns an :class:`Outcome` that says
what happened - the value, the attempts, the user's traceback without shipyard's frames, the captured
output - so a user's bug fails that task only, and shipyard's own errors (a ``ShipyardError``) are
marked ``error_kind="shipyard"`` and stay distinguishable from user errors.
"""

from __future__ import annotations

import contextvars
import ctypes
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shipyard.errors import ShipyardError
from shipyard.pipelines._capture import RunContext, set_task_context
from shipyard.pipelines._task import Task, substitute

__all__ = ["Outcome", "Ref", "RunSpec", "TaskTimeout", "execute"]

_MAX_LOGS = 1_000_000


class TaskTimeout(Exception):
    """Raised inside a task that ran past its timeout."""


@dataclass(frozen=True, slots=True)
class Ref:
    """Stands for the result of node ``index`` in arguments shipped to a remote worker."""

    index: int


@dataclass(frozen=True, slots=True)
class RunSpec:
    pipeline: str
    run_id: str
    logical_date: datetime
    params: dict[str, Any]
    store_uri: str
    artifact_uri: str


@dataclass(slots=True)
class Outcome:
    key: str
    state: str
    value: Any = None
    attempts: int = 0
    start_time: int | None = None
    end_time: int | None = None
    error: str | None = None
    error_kind: str | None = None
    traceback: str | None = None
    logs: str = ""
    cache_key: str | None = None
    output_uri: str | None = None
    tracking_run_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.state in ("SUCCEEDED", "CACHED")


def store_for(uri: str, artifact_uri: str) -> Any:
    """One open store per process and URI, shared by every task that runs there (and by tracking)."""
    from shipyard.tracking.client import shared_store

    return shared_store(uri, artifact_uri)


def _ms() -> int:
    return int(time.time() * 1000)


def execute(spec: RunSpec, key: str, task: Task, call: tuple[tuple[Any, ...], dict[str, Any]],
            upstream: dict[int, Outcome] | None = None) -> Outcome:
    """Run one task call with retries, timeout, cache and capture, in a fresh context."""
    if upstream:
        bad = [o.key for o in upstream.values() if not o.ok]
        if bad:
            return Outcome(key, "SKIPPED", error=f"upstream task {bad[0]!r} did not succeed", end_time=_ms())
        call = substitute(call, lambda i: upstream[i].value, Ref)
    return contextvars.Context().run(_execute, spec, key, task, call)


def _execute(spec: RunSpec, key: str, task: Task, call: tuple[tuple[Any, ...], dict[str, Any]]) -> Outcome:
    args, kwargs = call
    buffer: list[str] = []
    out = Outcome(key, "RUNNING", start_time=_ms())
    ctx = RunContext(spec.pipeline, spec.run_id, key, spec.logical_date, spec.params)
    set_task_context(ctx, buffer)
    if task.cache:
        try:
            if _cache_hit(spec, task, args, kwargs, out):
                return out
        except Exception as exc:  # a broken cache is a miss, said in the task's logs
            buffer.append(f"WARNING shipyard: cache lookup failed ({type(exc).__name__}: {exc}); running\n")
    while True:
        out.attempts += 1
        if out.attempts > 1:
            set_task_context(RunContext(ctx.pipeline, ctx.run_id, key, ctx.logical_date, ctx.params, out.attempts),
                             buffer)
        try:
            out.value, out.tracking_run_id = _call(spec, key, task, args, kwargs)
            out.state, out.error, out.error_kind, out.traceback = "SUCCEEDED", None, None, None
            break
        except TaskTimeout:
            out.state, out.error_kind = "TIMED_OUT", "timeout"
            out.error, out.traceback = f"task {key!r} ran past its timeout of {task.timeout:g} s", None
        except Exception as exc:
            out.state = "FAILED"
            out.error_kind = "shipyard" if isinstance(exc, ShipyardError) else "user"
            out.error = f"{type(exc).__name__}: {exc}"
            out.traceback = _user_traceback(exc)
        if out.attempts > task.retries:
            break
        delay = task.retry_delay * task.backoff ** (out.attempts - 1)
        buffer.append(f"INFO shipyard: attempt {out.attempts} {out.state}: {out.error}; retrying in {delay:g} s\n")
        time.sleep(delay)
    if out.state == "SUCCEEDED" and task.cache and out.cache_key:
        try:
            from shipyard.artifacts import get_artifact_repository
            from shipyard.pipelines._cache import save_output

            repo = get_artifact_repository(spec.artifact_uri)
            out.output_uri = save_output(repo, task.name, out.cache_key, out.value)
        except Exception as exc:
            buffer.append(f"WARNING shipyard: output not cached ({type(exc).__name__}: {exc})\n")
    out.end_time = _ms()
    out.logs = "".join(buffer)[-_MAX_LOGS:]
    return out


def _cache_hit(spec: RunSpec, task: Task, args: tuple[Any, ...], kwargs: dict[str, Any], out: Outcome) -> bool:
    from shipyard.pipelines._cache import cache_key, load_output

    out.cache_key = cache_key(task, args, kwargs)
    since = None if task.cache_expiration is None else _ms() - int(task.cache_expiration * 1000)
    hit = store_for(spec.store_uri, spec.artifact_uri).find_cached_task_run(task.name, out.cache_key, since)
    if hit is None or hit.output_uri is None:
        return False
    from shipyard.artifacts import get_artifact_repository

    out.value = load_output(get_artifact_repository(spec.artifact_uri), hit.output_uri)
    out.state, out.output_uri, out.end_time = "CACHED", hit.output_uri, _ms()
    out.logs = f"INFO shipyard: cache hit, output of run {hit.run_id}\n"
    return True


def _call(spec: RunSpec, key: str, task: Task, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    def body() -> tuple[Any, Any]:
        fluent: Any = sys.modules.get("shipyard.tracking.fluent")
        if task.track:
            from shipyard.tracking import fluent

            fluent.start_run(run_name=key)
        try:
            value = task.fn(*args, **kwargs)
        except BaseException:
            _end_tracking(fluent or sys.modules.get("shipyard.tracking.fluent"), spec, key, "FAILED")
            raise
        return value, _end_tracking(fluent or sys.modules.get("shipyard.tracking.fluent"), spec, key, "FINISHED")

    if task.timeout is None:
        return body()
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        return _with_alarm(body, task.timeout)
    return _with_watchdog(body, task.timeout)


def _end_tracking(fluent: Any, spec: RunSpec, key: str, status: str) -> str | None:
    """Link the tracking run the task opened (explicitly or by logging) to the pipeline run, end it."""
    if fluent is None or fluent.active_run() is None:
        return None
    run_id = fluent.active_run().info.run_id
    fluent.set_tags({"shipyard.pipeline.name": spec.pipeline, "shipyard.pipeline.run_id": spec.run_id,
                     "shipyard.pipeline.task": key})
    fluent.end_run(status)
    return run_id


def _with_alarm(body: Any, timeout: float) -> Any:
    """In a process's main thread (process pool): SIGALRM interrupts even a blocking sleep."""
    def on_alarm(*_: Any) -> None:
        raise TaskTimeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return body()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _with_watchdog(body: Any, timeout: float) -> Any:
    """In a worker thread: run the body in its own daemon thread; past the timeout raise TaskTimeout
    in it (stops it at its next Python instruction) and give up waiting on it."""
    result: list[Any] = []
    error: list[BaseException] = []
    context = contextvars.copy_context()

    def target() -> None:
        try:
            result.append(context.run(body))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target, name="shipyard-task", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident or 0), ctypes.py_object(TaskTimeout))
        raise TaskTimeout
    if error:
        raise error[0]
    return result[0]


def _user_traceback(exc: BaseException) -> str:
    """The traceback from the user's frames on: shipyard's own wrapper frames are cut off."""
    tb = exc.__traceback__
    while tb is not None and "shipyard/pipelines/" in tb.tb_frame.f_code.co_filename.replace("\\", "/"):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))
