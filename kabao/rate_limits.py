"""Rate limits: django-ratelimit for browser views, a scoped DRF throttle for the API.

Both read their rates from `settings.KABAO_RATE_LIMITS` at request time ("count/period", period one
of s, m, h, d), count in the default cache, and are lifted together by
`KABAO_RATE_LIMITS_ENABLED=0`. A refused request gets 429 with Retry-After: a page in the browser,
the API's error shape under /api/.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.utils.translation import gettext as _
from django_ratelimit.core import get_usage
from rest_framework.request import Request
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

View = Callable[..., HttpResponseBase]


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or with KABAO_TRUSTED_PROXY_COUNT proxies in front, the
    address the outermost trusted proxy saw. Entries a client wrote into X-Forwarded-For itself are
    never used, so it cannot pick a fresh address for every try."""
    proxies = settings.KABAO_TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return str(request.META.get("REMOTE_ADDR") or "")


def _user_or_ip(group: str, request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"ip:{client_ip(request)}"


def rate_limited_page(request: HttpRequest, retry_after: int) -> HttpResponse:
    message = _("Too many requests in a short time. Please wait %(seconds)d seconds and try again.") % {
        "seconds": retry_after
    }
    response = render(request, "error.html", {"status": 429, "message": message}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def rate_limit(name: str, *, per: str, methods: tuple[str, ...] = ("GET", "POST")) -> Callable[[View], View]:
    """Limit a browser view to `settings.KABAO_RATE_LIMITS[name]` requests per client address
    (`per="ip"`) or per signed-in user (`per="user"`, the address for anonymous callers)."""
    key: str | Callable[[str, HttpRequest], str] = "ip" if per == "ip" else _user_or_ip

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if settings.KABAO_RATE_LIMITS_ENABLED and request.method in methods:
                usage = get_usage(
                    request,
                    group=f"kabao.{name}",
                    key=key,
                    rate=settings.KABAO_RATE_LIMITS[name],
                    method=list(methods),
                    increment=True,
                )
                if usage is not None and usage["should_limit"]:
                    return rate_limited_page(request, max(int(usage["time_left"]), 1))
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


class KabaoThrottle(ScopedRateThrottle):
    """DRF's scoped throttle with the rates read from settings on each request (so the environment
    and tests can change them) and only for the methods the view names in `throttle_methods`.

    A view sets `throttle_scope` (a key of KABAO_RATE_LIMITS) and optionally `throttle_methods`."""

    def allow_request(self, request: Request, view: APIView) -> bool:
        if not settings.KABAO_RATE_LIMITS_ENABLED:
            return True
        methods = getattr(view, "throttle_methods", None)
        if methods is not None and request.method not in methods:
            return True
        return super().allow_request(request, view)

    def get_rate(self) -> str | None:
        return settings.KABAO_RATE_LIMITS.get(self.scope or "")

    def get_ident(self, request: Request) -> str:
        return client_ip(request._request)

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        if request.user is not None and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return f"throttle_{self.scope}_{ident}"
