"""Every API error leaves in one shape: {"error": {"code", "message", "fields"}}."""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from kabao.errors import DomainError

logger = logging.getLogger(__name__)


@extend_schema_serializer(component_name="ErrorDetail")
class ErrorDetailOutput(serializers.Serializer):
    code = serializers.CharField(help_text="Stable and machine-readable, e.g. `invalid`, `out_of_stock`.")
    message = serializers.CharField(help_text="For people; English.")
    # DRF's metaclass takes declared fields off the class, so this does not hide Serializer.fields.
    fields = serializers.DictField(  # type: ignore[assignment]
        help_text="The refused input fields, each with what is wrong with it."
    )


@extend_schema_serializer(component_name="Error")
class ErrorOutput(serializers.Serializer):
    """The one shape of every API error."""

    error = ErrorDetailOutput()


_MEANINGS = {
    400: "Invalid input: `fields` names each refused field.",
    401: "No credentials, or a token that is unknown or revoked.",
    403: "Not allowed for this caller.",
    404: "No such object, or one that belongs to someone else.",
    409: "Conflicts with the current state (out of stock, wrong status, ...).",
    413: "The body is too large.",
    415: "The body is not in a media type this call reads.",
    429: "Too many requests: retry after the `Retry-After` header's seconds.",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """The error statuses a call can answer, for `@extend_schema(responses=...)`; every one in the
    error shape. 429 is always there: any call may be rate limited."""
    return {
        code: OpenApiResponse(ErrorOutput, description=_MEANINGS[code]) for code in sorted({*statuses, 429})
    }


def error_response(code: str, message: str, http_status: int, fields: dict | None = None) -> Response:
    return Response({"error": {"code": code, "message": message, "fields": fields or {}}}, status=http_status)


_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.ParseError: "invalid_json",
    exceptions.Throttled: "rate_limited",
    exceptions.NotAcceptable: "not_acceptable",
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return error_response(exc.code, exc.message, exc.status, exc.fields)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        return error_response("invalid", "The request is not valid.", status.HTTP_400_BAD_REQUEST, fields)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: Django answers 500 without a trace to the user
    # Keep DRF's response (it carries headers such as WWW-Authenticate and Retry-After).
    code = _CODES.get(type(exc), "error")
    message = str(getattr(exc, "detail", "Error."))
    response.data = {"error": {"code": code, "message": message, "fields": {}}}
    return response
