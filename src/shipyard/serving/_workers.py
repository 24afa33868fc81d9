"""The process side of ``shipyard serve --workers N``: listening sockets and the worker supervisor.

Why not uvicorn's own ``--workers``: uvicorn binds one socket in the parent with
``socket.socket(family)``, whose ``proto`` is 0, and asyncio only sets TCP_NODELAY on accepted
sockets whose ``proto`` is IPPROTO_TCP. Every keep-alive response then waits for the client's
delayed ACK: ~40-50 ms per request at concurrency 1 (FIELD-NOTES, uvicorn #3149). Here each worker
binds the port itself with SO_REUSEPORT (the kernel spreads connections over the workers) on a
socket created with IPPROTO_TCP and TCP_NODELAY set, so accepted connections never wait for an ACK.

The parent binds one SO_REUSEPORT socket on the port and never listens on it, so it never receives
a connection: a port another server listens on fails at once, in the parent, with a clear error,
and ``--port 0`` picks one free port that every worker then binds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["STARTUP_FAILURE", "Supervisor", "WorkerSlot", "bind_socket", "set_parent_death_signal"]

#: The exit code of a worker that could not start (its models did not load, the port is taken, ...).
STARTUP_FAILURE = 3

logger = logging.getLogger(__name__)


def bind_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A bound TCP socket whose accepted connections get TCP_NODELAY (see the module docstring)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        # Inherited by accepted sockets on Linux; asyncio sets it again because proto is IPPROTO_TCP.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.set_inheritable(False)
    return sock


def set_parent_death_signal(parent_pid: int) -> None:
    """Ask Linux to send SIGTERM to this worker when the supervisor dies (even by SIGKILL), so no
    orphaned worker keeps the port. Elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


@dataclass
class WorkerSlot:
    """One worker position: its current process and how often it died young (for the back-off)."""

    index: int
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    quick_deaths: int = 0
    restart_at: float = 0.0
    restarts: int = 0
    startup_failures: int = 0  # exits with STARTUP_FAILURE in a row


class Supervisor:
    """Runs ``count`` worker processes and keeps them running until SIGTERM/SIGINT.

    A worker that exits while the supervisor is not stopping is restarted; one that dies within
    ``young_s`` of its start is restarted after an exponential back-off (0.5 s doubling up to 10 s)
    so a worker that cannot start does not spin. A worker that exits with :data:`STARTUP_FAILURE`
    ``max_startup_failures`` times in a row stops the whole server (exit 1): it will not get better
    by retrying, and a supervisor with no worker must not look alive. On SIGTERM or SIGINT every worker gets SIGTERM
    (each finishes its in-flight requests and flushes its prediction log), then the supervisor
    waits up to ``grace_s`` before it kills what is left.
    """

    def __init__(self, command: Callable[[int], Sequence[str]], count: int, *, grace_s: float = 30.0,
                 young_s: float = 5.0, max_startup_failures: int = 5, env: dict[str, str] | None = None,
                 say: Callable[[str], object] = print) -> None:
        self.command, self.count, self.grace_s, self.young_s = command, count, grace_s, young_s
        self.max_startup_failures, self.env, self.say = max_startup_failures, env, say
        self.slots = [WorkerSlot(i) for i in range(count)]
        self._stopping = False
        self._failed = False

    def _start(self, slot: WorkerSlot) -> None:
        slot.process = subprocess.Popen(list(self.command(slot.index)), env=self.env)
        slot.started = time.monotonic()
        logger.info("worker %d started (pid %d)", slot.index, slot.process.pid)

    def _on_signal(self, signum: int, frame: object) -> None:
        self._stopping = True

    def _check(self, slot: WorkerSlot) -> None:
        now = time.monotonic()
        proc = slot.process
        if proc is not None:
            code = proc.poll()
            if code is None:
                return
            lived = now - slot.started
            slot.startup_failures = slot.startup_failures + 1 if code == STARTUP_FAILURE else 0
            if slot.startup_failures >= self.max_startup_failures:
                self.say(f"worker {slot.index} failed to start {slot.startup_failures} times in a row; stopping")
                self._failed = self._stopping = True
                slot.process = None
                return
            slot.quick_deaths = slot.quick_deaths + 1 if lived < self.young_s else 0
            delay = 0.0 if slot.quick_deaths == 0 else min(0.5 * 2 ** (slot.quick_deaths - 1), 10.0)
            self.say(f"worker {slot.index} (pid {proc.pid}) exited with code {code}; "
                     f"restarting{f' in {delay:.1f}s' if delay else ''}")
            slot.process, slot.restart_at = None, now + delay
        if now >= slot.restart_at and not self._stopping:
            slot.restarts += 1
            self._start(slot)

    def run(self) -> int:
        """Start the workers and supervise them; 0 after a graceful stop, 1 when workers cannot start
        or one had to be killed."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for slot in self.slots:
                self._start(slot)
            while not self._stopping:
                time.sleep(0.1)  # a signal interrupts the sleep and sets _stopping
                for slot in self.slots:
                    if not self._stopping:
                        self._check(slot)
            return self._stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self) -> int:
        running = [s.process for s in self.slots if s.process is not None and s.process.poll() is None]
        for proc in running:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        code = 1 if self._failed else 0
        for proc in running:
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self.say(f"worker pid {proc.pid} did not stop within {self.grace_s:.0f}s; killing it")
                proc.kill()
                proc.wait()
                code = 1
        return code
