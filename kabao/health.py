"""GET /healthz: is the database reachable, is the broker reachable.

The answer names each part "ok" or "down" and nothing else: no URL, host or error text, which could
carry a password. The log line says which exception, by class only.
"""

import logging
import os

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path

from kabao.celery import app as celery_app

logger = logging.getLogger(__name__)


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:
        logger.warning("healthz: database unreachable (%s)", type(exc).__name__)
        return "down"


def _broker() -> str:
    try:
        with celery_app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as exc:
        logger.warning("healthz: broker unreachable (%s)", type(exc).__name__)
        return "down"


def healthz(request: HttpRequest) -> JsonResponse:
    report = {"database": _database(), "broker": _broker()}
    healthy = all(value == "ok" for value in report.values())
    return JsonResponse(report, status=200 if healthy else 503)


def bench_floor(request: HttpRequest) -> JsonResponse:
    """The HTTP benchmarks' floor: one `SELECT 1` round trip on the worker's kept connection, through
    the whole middleware stack, and a small JSON answer. Routed only when KABAO_BENCH_FLOOR=1."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        row = cursor.fetchone()
    return JsonResponse({"value": row[0] if row else None})


# Included by kabao/urls.py under bench/: empty unless the benchmark's server asks for the floor.
urlpatterns = (
    [path("floor", bench_floor, name="bench-floor")] if os.environ.get("KABAO_BENCH_FLOOR") == "1" else []
)
