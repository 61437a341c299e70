"""Operations fixtures: what the configured console handler writes, and a real Celery worker process."""

import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection

from kabao.celery import app

ROOT = Path(__file__).resolve().parents[2]
LogLines = Callable[[], list[dict]]


def closed_port() -> int:
    """A local port nothing listens on: bound for a moment by us, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Waits for the worker, which runs at its own pace; the bound only stops a hung test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    """The JSON lines the console handler of settings.LOGGING writes (its filter and formatter)."""
    handler = next(handler for handler in logging.getLogger().handlers if handler.get_name() == "console")
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        handler.setStream(previous)


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker_process(transactional_db, tmp_path) -> Iterator[LogLines]:
    """`celery -A kabao worker` as its own process on the test database and Redis, logging JSON to a
    file; the test process publishes for real (not eagerly). Yields a reader of the worker's lines."""
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "kabao.settings_test",
        "DATABASE_URL": _database_url(),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    }
    with app.connection_for_write() as broker:  # drop what an earlier run left behind
        broker.default_channel.queue_purge("celery")
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "kabao", "worker", "--pool=solo"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    app.conf.task_always_eager = False
    try:
        yield lambda: [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    finally:
        app.conf.task_always_eager = True
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
