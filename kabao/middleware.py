import logging
import time
import zoneinfo

from django.conf import settings
from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from kabao.errors import DomainError, user_message
from kabao.observability.context import HEADER, request_id_accept, request_id_set

access_logger = logging.getLogger("kabao.request")


class DomainErrorMiddleware:
    """A DomainError that escapes a browser view becomes a plain error page with its status."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DomainError):
            return render(
                request,
                "error.html",
                {"status": exception.status, "message": user_message(exception)},
                status=exception.status,
            )
        return None


class DisplayTimeZoneMiddleware:
    """Pages show times in the display zone; the API keeps UTC (API.md)."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.zone = zoneinfo.ZoneInfo(settings.KABAO_DISPLAY_TIME_ZONE)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            timezone.deactivate()
        else:
            timezone.activate(self.zone)
        return self.get_response(request)


class RequestIdMiddleware:
    """First in the chain: every log line of a request, and of the tasks it enqueues, carries its id.

    The caller's X-Request-ID is kept when sane (kabao.observability.context), else replaced; the
    answer always names the id used. The id stays set until `request_finished`, so Django's own
    line about a 4xx/5xx answer, written after the middleware returns, carries it too. One access
    line per request names the route pattern, never the path, whose segments can be capabilities
    (a gateway reference).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_accept(request.headers.get(HEADER))
        request_id_set(request_id)
        started = time.perf_counter()
        response = self.get_response(request)
        response[HEADER] = request_id
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None else "-"
        access_logger.info(
            "%s %s %s",
            request.method,
            route,
            response.status_code,
            extra={
                "method": request.method,
                "route": route,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return response


@receiver(request_finished)
def _request_id_clear(**kwargs) -> None:
    request_id_set(None)
