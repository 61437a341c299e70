import zoneinfo

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from kabao.errors import DomainError, user_message


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
