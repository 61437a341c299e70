"""Threads that start together, each on its own database connection, for race tests."""

import threading
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from django.db import connection


def run_at_once(count: int, work: Callable[[int], Any], *, connections: int | None = None) -> list[Any]:
    """Run `work(index)` in `count` threads released together by a barrier; return what each
    returned or raised, by index. Each thread closes its connection when done.

    `connections` bounds how many threads talk to the database at once (PostgreSQL's
    max_connections is shared with everyone else's tests); the others queue at a semaphore.
    """
    results: list[Any] = [None] * count
    barrier = threading.Barrier(count)
    gate = threading.BoundedSemaphore(connections) if connections else None

    def runner(index: int) -> None:
        try:
            barrier.wait()
            with gate or nullcontext():
                try:
                    results[index] = work(index)
                finally:
                    connection.close()
        except Exception as exc:  # returned to the test, which asserts on it
            results[index] = exc

    threads = [threading.Thread(target=runner, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
