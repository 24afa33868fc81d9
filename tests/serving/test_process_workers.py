"""The process side of ``--workers N``: sockets that never wait for a delayed ACK, and the supervisor
(restart a dead worker, back off from one that cannot start, stop every worker on SIGTERM)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from shipyard.serving._workers import bind_socket


def test_accepted_connections_have_tcp_nodelay() -> None:
    """uvicorn's shared socket has proto 0, so asyncio never sets TCP_NODELAY (a ~40 ms stall per
    keep-alive response); ours is created with IPPROTO_TCP and TCP_NODELAY on the listener."""
    sock = bind_socket("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
        sock.listen()
        with socket.create_connection(sock.getsockname(), timeout=5):
            conn, _ = sock.accept()
            with conn:
                assert conn.proto == socket.IPPROTO_TCP
                assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        sock.close()


def test_reuse_port_lets_every_worker_bind_the_port() -> None:
    first = bind_socket("127.0.0.1", 0, reuse_port=True)
    port = first.getsockname()[1]
    second = bind_socket("127.0.0.1", port, reuse_port=True)
    try:
        second.listen()
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
            bind_socket("127.0.0.1", port)  # a server without SO_REUSEPORT cannot take the port
    finally:
        first.close()
        second.close()


SUPERVISE = textwrap.dedent("""
    import sys
    from shipyard.serving._workers import Supervisor
    child = [sys.executable, "-c", sys.argv[1]]
    sys.exit(Supervisor(lambda i: child, 2, grace_s=5, say=lambda s: print(s, flush=True)).run())
""")


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _wait(condition: object, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


@pytest.mark.integration
def test_supervisor_restarts_a_dead_worker_and_stops_all_on_sigterm() -> None:
    proc = subprocess.Popen([sys.executable, "-c", SUPERVISE, "import time; time.sleep(60)"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert _wait(lambda: len(_children(proc.pid)) == 2)
        first = _children(proc.pid)
        subprocess.run(["kill", "-KILL", str(first[0])], check=True)
        assert _wait(lambda: len(_children(proc.pid)) == 2 and first[0] not in _children(proc.pid))
        workers = _children(proc.pid)
        assert first[1] in workers
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        for pid in workers:
            assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        out = proc.stdout.read() if proc.stdout else ""
        assert f"worker 0 (pid {first[0]}) exited with code -9; restarting" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


@pytest.mark.integration
def test_supervisor_backs_off_from_a_worker_that_cannot_start() -> None:
    proc = subprocess.Popen([sys.executable, "-c", SUPERVISE, "raise SystemExit(1)"], stdout=subprocess.PIPE,
                            text=True)
    try:
        time.sleep(4.0)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        out = proc.stdout.read() if proc.stdout else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
    exits = [line for line in out.splitlines() if "exited with code 1" in line]
    # 0.5 s, 1 s, 2 s, ... between starts: a handful of exits per worker in 4 s, not hundreds
    assert 2 <= len(exits) <= 12, out
    assert "restarting in 1.0s" in out


@pytest.mark.integration
def test_supervisor_gives_up_when_workers_fail_to_start() -> None:
    """Exit code 3 (STARTUP_FAILURE: models do not load, ...) five times in a row stops the server."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", SUPERVISE, "raise SystemExit(3)"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    assert "failed to start 5 times in a row; stopping" in done.stdout
    assert time.monotonic() - started < 30
