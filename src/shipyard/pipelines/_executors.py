"""Where task calls run: threads (default), processes, or a Dask cluster.

An executor is one method, :meth:`Executor.submit`, returning a ``concurrent.futures``-style future.
Local executors are fed by the runner as tasks become ready; Dask gets the whole graph at once with
futures as arguments (``remote_graph``), so results move between workers without the driver.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from shipyard.config import dask_address
from shipyard.errors import InvalidInput

__all__ = ["DaskExecutor", "Executor", "ProcessExecutor", "ThreadExecutor", "check_executor", "resolve_executor"]


class Executor(ABC):
    remote_graph = False

    @abstractmethod
    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Start ``fn(*args)``; return a future with ``add_done_callback`` and ``result``."""

    def submit_task(self, spec: Any, key: str, task: Any, call: Any) -> Any:
        """Start one task call (:func:`~shipyard.pipelines._execute.execute`); an executor may override
        this to treat some tasks differently (a process executor isolates tasks that have a timeout)."""
        from shipyard.pipelines._execute import execute

        return self.submit(execute, spec, key, task, call)

    def close(self) -> None:  # noqa: B027 - most executors have nothing to release
        """Release workers; an executor the user passed in is closed by the user."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ThreadExecutor(Executor):
    """In-process threads: results pass in memory; independent branches overlap."""

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers or min(16, (os.cpu_count() or 1) + 4)
        self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="shipyard-task")

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        return self._pool.submit(fn, *args, **kwargs)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class ProcessExecutor(Executor):
    """Worker processes (forkserver): for CPU-bound Python tasks; tasks and results must pickle.

    A task with a timeout runs in a process of its own, which is terminated once the task is past its
    timeout (every attempt's timeout and retry delay, plus a second): that stops even a task blocked
    in a C call, which no signal or exception inside the process can interrupt.
    """

    def __init__(self, max_workers: int | None = None) -> None:
        import multiprocessing

        self.max_workers = max_workers or min(4, os.cpu_count() or 1)
        self._context = multiprocessing.get_context("forkserver")
        self._pool = ProcessPoolExecutor(self.max_workers, mp_context=self._context)
        self._isolated: list[Any] = []

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        return self._pool.submit(fn, *args, **kwargs)

    def submit_task(self, spec: Any, key: str, task: Any, call: Any) -> Any:
        if task.timeout is None:
            return super().submit_task(spec, key, task, call)
        from shipyard.pipelines._isolated import run_isolated

        future, process = run_isolated(self._context, spec, key, task, call)
        self._isolated.append(process)
        return future

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for process in self._isolated:
            if process.is_alive():
                process.kill()
            process.join(5)
        self._isolated.clear()


class DaskExecutor(Executor):
    """Dask distributed: ``DaskExecutor()`` starts a LocalCluster (task queuing off, see below);
    ``DaskExecutor("tcp://host:8786")`` uses a running scheduler; ``DaskExecutor(client=client)`` a
    ``distributed.Client`` of yours. The strings ``"dask://host:8786"`` (``tcp://``, ``tls://``) name one
    executor per address in a process, shared by every run (:func:`shared_dask`). A run sends its
    whole DAG as one graph and leaves the values on the workers; only the task records come back to
    the driver.

    ``distributed.scheduler.worker-saturation`` is set to ``inf``: Dask's default of 1.1 queues tasks
    on the scheduler and costs 2-3 ms a task instead of about 0.6 ms.

    With ``configure_workers`` (the default) the workers get this process's store, artifact root and
    token (a worker plugin, :mod:`shipyard.pipelines._dask_worker`), so tracking in tasks reaches the
    same store; the modules defining the tasks are shipped with each run (:mod:`shipyard.pipelines._ship`).
    """

    remote_graph = True

    def __init__(self, address: str | None = None, n_workers: int = 2, threads_per_worker: int = 1, *,
                 client: Any = None, configure_workers: bool = True) -> None:
        self._cluster = None
        self._owns_client = client is None
        if client is not None:  # a Client the caller made (and closes)
            self.client = client
            if configure_workers:
                self._configure_workers()
            return
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise InvalidInput("the Dask executor needs dask[distributed]: pip install 'shipyard[dask]'") from exc
        if address is None:
            with dask.config.set({"distributed.scheduler.worker-saturation": float("inf")}):
                self._cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                                             dashboard_address=":0", processes=True)
                self.client = Client(self._cluster)
        else:
            try:
                self.client = Client(address, timeout="30s")
            except OSError as exc:
                raise InvalidInput(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
        if configure_workers:
            self._configure_workers()

    def _configure_workers(self) -> None:
        from shipyard.pipelines._dask_worker import ShipyardSettings, worker_settings

        self.client.register_plugin(ShipyardSettings(worker_settings()))

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self.client.submit(fn, *args, pure=False, **kwargs)

    def as_completed(self, futures: list[Any]) -> Any:
        from distributed import as_completed

        return as_completed(futures)

    def close(self) -> None:
        if self._owns_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()


# One Dask client per scheduler address in a process, shared by every run that names the address (a
# scheduler runs several pipelines at once): a client per run cost a connection and a handshake each
# time, and closing one client while another run waited on its own made distributed cancel that
# wait (an UnboundLocalError out of distributed.utils.sync).
_shared: dict[str, DaskExecutor] = {}
_shared_lock = threading.Lock()


def shared_dask(address: str) -> DaskExecutor:
    """The process's Dask executor for ``address`` (made on first use, made again if closed); the
    workers' settings are registered again each time (a restarted Dask scheduler forgets them)."""
    with _shared_lock:
        executor = _shared.get(address)
        if executor is None or executor.client.status in ("closing", "closed"):
            executor = _shared[address] = DaskExecutor(address)
            return executor
    executor._configure_workers()
    return executor


_NAMED = ("thread", "threads", "process", "processes", "dask")


def check_executor(executor: str | None) -> str | None:
    """``executor`` if it names an executor (``threads``, ``processes``, ``dask``, ``dask://host:port``),
    else InvalidInput; nothing is started or contacted."""
    if executor is None or executor in _NAMED:
        return executor
    if isinstance(executor, str) and dask_address(executor) is not None:
        return executor
    raise InvalidInput(f"unknown executor {executor!r}: use 'threads', 'processes', 'dask' or "
                       "'dask://host:port' (the Dask scheduler's address; tls://host:port with Dask's TLS settings)")


def resolve_executor(executor: str | Executor | None) -> tuple[Executor, bool]:
    """The executor to use and whether this run owns it (and must close it)."""
    if isinstance(executor, Executor):
        return executor, False
    if executor in (None, "thread", "threads"):
        return ThreadExecutor(), True
    if executor in ("process", "processes"):
        return ProcessExecutor(), True
    if executor == "dask":
        return DaskExecutor(), True
    if isinstance(executor, str) and executor.startswith("dask://"):
        return shared_dask("tcp://" + executor.removeprefix("dask://")), False
    if isinstance(executor, str) and executor.startswith(("tcp://", "tls://")):
        return shared_dask(executor), False
    raise InvalidInput(f"unknown executor {executor!r}: use 'threads', 'processes', 'dask', 'dask://host:port' "
                       "or an Executor")
