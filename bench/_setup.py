"""Shared by the in-process benchmarks: a database of their own, production settings, timing."""

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/kabao_bench_scale"


def django_for(database_url: str, *, fresh: bool, redis_url: str = "") -> None:
    """Point Django at the bench database (dropped and recreated when `fresh`), migrated."""
    import psycopg

    base, name = database_url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and fresh:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        if fresh or not exists:
            connection.execute(f'CREATE DATABASE "{name}"')
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "kabao.settings",
            "DEBUG": "0",  # no query log growing in memory
            "DATABASE_URL": database_url,
            "SECRET_KEY": "bench-only-secret-key",
            "KABAO_CODE_KEYS": "YmVuY2gtb25seS1rYWJhby1jb2RlLWtleS0zMi1ieXQ=",
            "KABAO_CODE_HASH_KEY": "bench-only-fingerprint-key",
            "KABAO_SIMULATED_WEBHOOK_SECRET": "bench-only-webhook-secret",
            "KABAO_ALLOW_SIMULATED_PAYMENTS": "1",
            "LOG_LEVEL": "WARNING",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            # With a Redis URL tasks are enqueued as in production (nobody consumes them here);
            # without one they run inline.
            "CELERY_TASK_ALWAYS_EAGER": "0" if redis_url else "1",
        }
    )
    if redis_url:
        os.environ["REDIS_URL"] = redis_url
    else:
        os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# --- databases of their own, and template copies of them (kept between runs with --reuse) ---------


def database_admin(database_url: str, *statements: str) -> None:
    """Run statements (CREATE / DROP DATABASE …) on the server's `postgres` database, autocommit."""
    import psycopg

    base, _ = database_url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)


def database_names(database_url: str, like: str) -> list[str]:
    """The server's databases whose name matches the LIKE pattern."""
    import psycopg

    base, _ = database_url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as connection:
        rows = connection.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [like])
        return [name for (name,) in rows.fetchall()]


def database_exists(database_url: str, name: str) -> bool:
    return name in database_names(database_url, name)


def database_copy(database_url: str, source: str, target: str) -> None:
    """`target` recreated as a copy of `source` (nobody may be connected to either).

    FILE_COPY copies the files between two checkpoints: 13 s for the 6.2 GB of 1 M past orders here.
    PostgreSQL 15's default, WAL_LOG, took 23 s for it, writing 5.2 GB of WAL (9 checkpoints)."""
    database_admin(
        database_url,
        f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)',
        f'CREATE DATABASE "{target}" TEMPLATE "{source}" STRATEGY = FILE_COPY',
    )


def database_use(name: str) -> None:
    """Point Django's connection at another database of the same server."""
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = name


def timed(function: Callable[[], object], repeat: int) -> list[float]:
    """Milliseconds per call."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):.3f} ms, p99 {p99:.3f} ms"


def floor_select_one(repeat: int = 2000) -> list[float]:
    """The floor: a one-row round trip to PostgreSQL from the same process."""
    from django.db import connection

    with connection.cursor() as cursor:

        def once() -> None:
            cursor.execute("SELECT 1")
            cursor.fetchone()

        return timed(once, repeat)
