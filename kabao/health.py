"""GET /healthz: is the database reachable, is the broker reachable."""

from django.db import connection
from django.http import HttpRequest, JsonResponse

from kabao.celery import app as celery_app


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception:
        return "down"


def _broker() -> str:
    try:
        with celery_app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception:
        return "down"


def healthz(request: HttpRequest) -> JsonResponse:
    report = {"database": _database(), "broker": _broker()}
    healthy = all(value == "ok" for value in report.values())
    return JsonResponse(report, status=200 if healthy else 503)
