from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from kabao.errors import DomainError


class DomainErrorMiddleware:
    """A DomainError that escapes a browser view becomes a plain error page with its status."""

    def __init__(self, get_response):  # type: ignore[no-untyped-def]
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DomainError):
            return render(
                request, "error.html", {"status": exception.status, "message": exception.message}, status=exception.status
            )
        return None
