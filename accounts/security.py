"""Login lockout (django-axes): who a login attempt is for, and what a locked-out client is told."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from accounts.forms import EmailLoginForm


def login_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """The email a login attempt names, as the login matches it (trimmed, lower-cased), so changing
    its case does not make a fresh counter."""
    credentials = credentials or {}
    value = credentials.get("username") or credentials.get("email")
    if value is None:
        value = request.POST.get("username", "")
    return str(value).strip().lower()


def _cooloff_minutes() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict[str, Any] | None
) -> HttpResponse:
    """429 with Retry-After: the API's error shape under /api/, the login page with the reason
    elsewhere. The same answer whether or not the password was right, and whether or not the
    account exists."""
    retry_after = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    minutes = _cooloff_minutes()
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            {
                "error": {
                    "code": "locked_out",
                    "message": f"Too many failed logins. Try again in {minutes} minutes.",
                    "fields": {},
                }
            },
            status=429,
        )
    else:
        message = _("Too many failed logins. For your safety, try again in %(minutes)d minutes.") % {
            "minutes": minutes
        }
        context = {"form": EmailLoginForm(request), "next": "", "lockout_message": message}
        response = render(request, "accounts/login.html", context, status=429)
    response["Retry-After"] = retry_after
    return response
