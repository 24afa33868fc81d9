"""A task call in a process of its own, terminated when it runs past its timeout.

Inside the process the per-attempt timeout is still SIGALRM (it interrupts a sleep or any Python
code at once, and retries go on). The process as a whole has a deadline - every attempt's timeout
and retry delay, plus a grace second - after which it is terminated (then killed): that stops a
task stuck in a long C call too, which no signal handler or injected exception can reach.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from typing import Any

from shipyard.pipelines._capture import capturing
from shipyard.pipelines._execute import Outcome, RunSpec, execute

__all__ = ["run_isolated"]

_GRACE_S = 1.0


def _child(conn: Any, spec: RunSpec, key: str, task: Any, call: Any) -> None:
    try:
        with capturing():
            outcome = execute(spec, key, task, call)
    except BaseException as exc:  # pragma: no cover - execute() returns outcomes; this is a last resort
        outcome = Outcome(key, "FAILED", error=f"{type(exc).__name__}: {exc}", error_kind="shipyard",
                          end_time=int(time.time() * 1000))
    conn.send(outcome)
    conn.close()


def deadline(task: Any) -> float:
    attempts = task.retries + 1
    delays = sum(task.retry_delay * task.backoff ** i for i in range(task.retries))
    return attempts * task.timeout + delays + _GRACE_S


def run_isolated(context: Any, spec: RunSpec, key: str, task: Any, call: Any) -> tuple[Future[Outcome], Any]:
    """Start ``execute(spec, key, task, call)`` in a new process; the future gets its outcome, or a
    TIMED_OUT outcome once the deadline passes and the process has been stopped."""
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, spec, key, task, call), name=f"shipyard-{key}",
                              daemon=True)
    started = int(time.time() * 1000)
    process.start()
    sender.close()
    future: Future[Outcome] = Future()
    future.set_running_or_notify_cancel()

    def watch() -> None:
        try:
            if receiver.poll(deadline(task)):
                future.set_result(receiver.recv())
                return
        except EOFError:  # the process died without an answer (killed, or crashed in C)
            process.join(1)
            future.set_result(Outcome(key, "FAILED", attempts=1, start_time=started, end_time=int(time.time() * 1000),
                                      error=f"the task's process exited with code {process.exitcode}",
                                      error_kind="shipyard"))
            return
        except BaseException as exc:
            future.set_exception(exc)
            return
        finally:
            if not future.done():
                _stop(process)
        future.set_result(Outcome(key, "TIMED_OUT", attempts=task.retries + 1, start_time=started,
                                  end_time=int(time.time() * 1000), error_kind="timeout",
                                  error=f"task {key!r} ran past its timeout of {task.timeout:g} s; its process "
                                        "was terminated"))

    threading.Thread(target=watch, name=f"shipyard-watch-{key}", daemon=True).start()
    return future, process


def _stop(process: Any) -> None:
    process.terminate()
    process.join(2)
    if process.is_alive():
        process.kill()
        process.join(2)
