"""Real Celery workers, beats and Redis servers as child processes, for tests that kill them.

Every process starts in its own session (its own process group), so a test can SIGKILL a worker with
its pool children the way an out-of-memory killer or a lost machine would, and a test's processes
are all killed when it ends. Waits are bounded: `wait_for` raises after its timeout.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from django.db import connection
from kombu import pools

from kabao.celery import app

ROOT = Path(__file__).resolve().parents[1]
CELERY = [sys.executable, "-m", "celery", "-A", "kabao"]


def wait_for(predicate: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.05) -> float:
    """Poll `predicate` until it is true; returns the seconds it took, raises after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def database_url() -> str:
    """The test database (test_<name>) as a URL, for the child processes."""
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class RedisServer:
    """A private redis-server without persistence: killing it loses every message, as in production
    when Redis restarts with neither RDB nor AOF."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError(
                "these tests start their own redis-server: install it (apt-get install redis-server)"
            )
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(self._answers, timeout=10, what=f"redis-server on port {self.port}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as client:
                client.sendall(b"PING\r\n")
                return client.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        if self.process is not None:
            kill(self.process)
            self.process = None


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and everything in its group (a prefork worker's children too)."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def child_pids(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        return [int(child) for child in children.read().split()]


class Celery:
    """Starts `celery worker` / `celery beat` against the test database and a given broker, and
    kills every one of them on `close` (call it in `finally`)."""

    def __init__(self, *, broker_url: str, logs: Path, **environment: str) -> None:
        self.logs = logs
        self.environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "kabao.settings_test",
            "DATABASE_URL": database_url(),
            "REDIS_URL": broker_url,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            **environment,
        }
        self.processes: list[subprocess.Popen[bytes]] = []
        self.log_files: list[IO[str]] = []

    def start(self, name: str, *arguments: str, **environment: str) -> subprocess.Popen[bytes]:
        log_file = (self.logs / f"{name}.log").open("a")
        self.log_files.append(log_file)
        process = subprocess.Popen(
            [*CELERY, *arguments],
            cwd=ROOT,
            env={**self.environment, **environment},
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def worker(self, name: str = "worker", *options: str, **environment: str) -> subprocess.Popen[bytes]:
        arguments = ["worker", "--loglevel=WARNING", "--without-gossip", "--without-mingle", *options]
        return self.start(name, *arguments, **environment)

    def beat(self, name: str = "beat", **environment: str) -> subprocess.Popen[bytes]:
        schedule = str(self.logs / f"{name}-schedule")
        return self.start(name, "beat", "--loglevel=WARNING", "--schedule", schedule, **environment)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()

    def close(self) -> None:
        """The test is over: kill every process outright (a warm shutdown would only cost time)."""
        for process in self.processes:
            kill(process)
        for log_file in self.log_files:
            log_file.close()


@contextmanager
def publishing_to(broker_url: str) -> Iterator[None]:
    """The test process's Celery app publishes to `broker_url`, not eagerly, then as before.

    Celery keeps its broker connections in pools built on first use: they are dropped on the way in
    and out, as Celery itself does after a fork, so no connection to the other broker is reused.
    """
    previous_url, previous_eager = app.conf.broker_url, app.conf.task_always_eager

    def drop_pools() -> None:
        # kombu keeps the pools in process-wide groups keyed by broker URL: closing only the app's
        # pool left a closed one in those groups, handed out again on the next use of that URL
        # ("Acquire on closed pool"). reset() closes and forgets them all, as kombu does after a fork.
        pools.reset()
        app._pool = None
        app.amqp._producer_pool = None

    drop_pools()
    app.conf.update(broker_url=broker_url, task_always_eager=False)
    try:
        yield
    finally:
        drop_pools()
        app.conf.update(broker_url=previous_url, task_always_eager=previous_eager)
