"""Processes of a production topology for integration tests, all on 127.0.0.1: an S3-compatible
server (moto), ``shipyard server``, and a Dask scheduler with workers started from the Dask CLI.

Each helper starts a real process, waits until it answers, and stops only the processes it started
(by pid): SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent
S3_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def without_cloud_credentials(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without AWS settings or a database URL: what a host holding only a URL and a token has."""
    return {k: v for k, v in env.items()
            if not k.startswith("AWS_") and k not in ("SHIPYARD_STORE_URI", "SHIPYARD_ARTIFACT_URI")}


class Process:
    """A child process whose output goes to ``log``; ``stop()`` ends it (and only it)."""

    def __init__(self, argv: list[str], log: Path, env: Mapping[str, str], cwd: Path | None = None) -> None:
        self.log = log
        with log.open("wb") as out:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(argv, env=dict(env), stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                         start_new_session=True)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while (match := re.search(pattern, self.text())) is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"{self.log.name}: no {pattern!r} in its output:\n{self.text()[-4000:]}")
            time.sleep(0.1)
        return match

    def kill(self) -> None:
        """kill -9, as a crash would."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, grace: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


class MotoS3:
    """moto's S3 server on a free port, with one bucket; ``env`` is what a process needs to use it."""

    def __init__(self, folder: Path, bucket: str = "shipyard") -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process = Process([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                               folder / "moto.log", os.environ)
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(self.endpoint, timeout=1)
                break
            except httpx.TransportError:
                if self.process.proc.poll() is not None or time.monotonic() > deadline:
                    self.process.stop()
                    pytest.fail(f"moto did not start:\n{self.process.text()}")
                time.sleep(0.1)
        self.env = {**S3_KEYS, "AWS_ENDPOINT_URL": self.endpoint}
        self.bucket = bucket
        self.fs().mkdir(bucket)

    def fs(self):  # type: ignore[no-untyped-def]
        import s3fs

        return s3fs.S3FileSystem(key=S3_KEYS["AWS_ACCESS_KEY_ID"], secret=S3_KEYS["AWS_SECRET_ACCESS_KEY"],
                                 endpoint_url=self.endpoint, skip_instance_cache=True)

    def stop(self) -> None:
        self.process.stop()


class ShipyardServer:
    """``shipyard server --port 0 ARGS`` with ``env``; ``url`` once it listens."""

    def __init__(self, folder: Path, env: Mapping[str, str], *args: str) -> None:
        self.process = Process([sys.executable, "-m", "shipyard", "server", "--port", "0", *args],
                               folder / f"server-{time.monotonic_ns()}.log", env, cwd=folder)
        self.url = self.process.wait_for(r"listening on (http://\S+)").group(1)

    def stop(self) -> int:
        return self.process.stop()


class DaskCluster:
    """``dask scheduler`` and ``dask worker`` processes from the Dask CLI (``n_workers`` of them)."""

    def __init__(self, folder: Path, env: Mapping[str, str], n_workers: int = 1) -> None:
        port = free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        self.scheduler = Process([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--dashboard-address", ":0", "--no-show"], folder / "dask-scheduler.log", env,
                                 cwd=folder)
        self.scheduler.wait_for(r"Scheduler at:\s+tcp://")
        self.workers = []
        for i in range(n_workers):
            workdir = folder / f"dask-worker-{i}"
            workdir.mkdir(exist_ok=True)
            self.workers.append(Process(
                [str(BIN / "dask"), "worker", self.address, "--nthreads", "1", "--nworkers", "1",
                 "--no-nanny", "--host", "127.0.0.1", "--dashboard-address", ":0", "--local-directory",
                 str(workdir), "--name", f"w{i}"], folder / f"dask-worker-{i}.log", env, cwd=workdir))
        for worker in self.workers:
            worker.wait_for(r"Registered to:\s+tcp://")

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop(10)
        self.scheduler.stop(10)
