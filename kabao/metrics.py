"""GET /metrics: Prometheus text for operators, behind a staff session or a bearer token.

Two parts in one answer:
- django-prometheus's request metrics (its middleware), per process, or summed over processes when
  PROMETHEUS_MULTIPROC_DIR is set (gunicorn with several workers);
- Kabao's business figures, read from PostgreSQL at scrape time by `BusinessCollector`, so every
  web process answers the same figures and nothing is kept in memory.

Task failures happen in worker processes, often on other hosts: the `task_failure` signal adds one
to a Redis hash (the broker's Redis, which every process shares) and the scrape reads it back. The
embedded run has no Redis: a small locked file in var/ plays its part there.
"""

import fcntl
import hmac
import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import prometheus_client
import redis
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

TASK_FAILURES_KEY = "kabao:metrics:task_failures"


# --- task failures, shared by every process -----------------------------------------------------
def _failures_file() -> Path:
    return Path(settings.VAR_DIR) / "task-failures.json"


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)


def task_failure_record(*, task_name: str) -> None:
    if settings.REDIS_URL:
        _redis().hincrby(TASK_FAILURES_KEY, task_name, 1)
        return
    path = _failures_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        counts = json.loads(handle.read() or "{}")
        counts[task_name] = counts.get(task_name, 0) + 1
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(counts))


def task_failures() -> dict[str, int]:
    if settings.REDIS_URL:
        raw: dict[bytes, bytes] = _redis().hgetall(TASK_FAILURES_KEY)  # type: ignore[assignment]
        return {name.decode(): int(count) for name, count in raw.items()}
    path = _failures_file()
    if not path.exists():
        return {}
    with path.open() as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        return {str(name): int(count) for name, count in json.loads(handle.read() or "{}").items()}


# --- business figures ---------------------------------------------------------------------------
def sla_breached_filter(now: datetime) -> Q:
    """Open disputes past the deadline that matters now (`disputes.services.transitions.next_deadline`):
    the objection window of a delivered remedy, or else the earliest of the decision deadline, the
    merchant's first answer (at merchant level) and the platform's first feedback (at platform level).
    """
    from disputes.models import DisputeLevel, DisputeStatus

    waiting_on_remedy = Q(status=DisputeStatus.AWAITING_BUYER, remedy_objection_due_at__isnull=False)
    other_deadline_missed = (
        Q(decision_due_at__lte=now)
        | Q(
            level=DisputeLevel.MERCHANT,
            merchant_first_response_at__isnull=True,
            merchant_response_due_at__lte=now,
        )
        | Q(
            level=DisputeLevel.PLATFORM,
            platform_first_feedback_at__isnull=True,
            platform_feedback_due_at__lte=now,
        )
    )
    return ~Q(status=DisputeStatus.RESOLVED) & (
        (waiting_on_remedy & Q(remedy_objection_due_at__lte=now))
        | (~waiting_on_remedy & other_deadline_missed)
    )


class BusinessCollector(Collector):
    """Queries PostgreSQL at each scrape: a handful of aggregate queries on indexed columns."""

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        from disputes.models import Dispute, DisputeLevel, DisputeStatus
        from escrow.models import Hold, HoldStatus
        from marketplace.models import Order, OrderStatus

        orders = GaugeMetricFamily("kabao_orders", "Orders by status.", labels=["status"])
        counted = dict(
            Order.objects.values_list("status").annotate(total=Count("id")).values_list("status", "total")
        )
        for status in OrderStatus.values:
            orders.add_metric([status], counted.get(status, 0))
        yield orders

        held = GaugeMetricFamily(
            "kabao_escrow_held_minor_units",
            "Money in open escrow holds, per currency, in minor units (fen for CNY).",
            labels=["currency"],
        )
        sums = (
            Hold.objects.filter(status=HoldStatus.HELD)
            .values_list("currency")
            .annotate(total=Sum("amount"))
            .values_list("currency", "total")
        )
        currencies = dict(sums)
        currencies.setdefault(settings.KABAO_CURRENCY, 0)
        for currency in sorted(currencies):
            held.add_metric([currency], currencies[currency])
        yield held

        open_disputes = Dispute.objects.exclude(status=DisputeStatus.RESOLVED)
        by_level = GaugeMetricFamily("kabao_disputes_open", "Open disputes by level.", labels=["level"])
        levels = dict(
            open_disputes.values_list("level").annotate(total=Count("id")).values_list("level", "total")
        )
        for level in DisputeLevel.values:
            by_level.add_metric([level], levels.get(level, 0))
        yield by_level

        yield GaugeMetricFamily(
            "kabao_disputes_sla_breached",
            "Open disputes past their current deadline (the sweep has not acted on them yet).",
            value=Dispute.objects.filter(sla_breached_filter(timezone.now())).count(),
        )

        failures = CounterMetricFamily(
            "kabao_celery_task_failures",
            "Celery tasks that failed for good (after their retries), by task, counted by the workers.",
            labels=["task"],
        )
        for name, count in sorted(task_failures().items()):
            failures.add_metric([name], count)
        yield failures


_business = prometheus_client.CollectorRegistry(auto_describe=False)
_business.register(BusinessCollector())


# --- the view ------------------------------------------------------------------------------------
def _bearer(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip()


def _may_read(request: HttpRequest) -> bool:
    """A staff session, or the bearer token of KABAO_METRICS_TOKEN (never an empty one).

    Anyone else gets 404, as if there were nothing here; a wrong token gets 403, so a scraper
    with a stale token says so in its own logs."""
    offered = _bearer(request)
    if offered is not None:
        expected = settings.KABAO_METRICS_TOKEN
        if expected and hmac.compare_digest(offered.encode(), expected.encode()):
            return True
        raise PermissionDenied
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_active and user.is_staff)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not _may_read(request):
        raise Http404
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        process_registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(process_registry)
    else:
        process_registry = prometheus_client.REGISTRY
    body = prometheus_client.generate_latest(process_registry) + prometheus_client.generate_latest(_business)
    return HttpResponse(body, content_type=prometheus_client.CONTENT_TYPE_LATEST)
