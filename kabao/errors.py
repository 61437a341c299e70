"""The one domain error type. Services raise it; the API and the browser views translate it."""

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy


class DomainError(Exception):
    """A business rule refused the request. `code` is stable; `status` is the HTTP status."""

    def __init__(self, code: str, message: str, *, status: int = 400, fields: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.fields = fields or {}


class NotFound(DomainError):
    def __init__(self, message: str = "Not found."):
        super().__init__("not_found", message, status=404)


class Conflict(DomainError):
    def __init__(self, code: str, message: str):
        super().__init__(code, message, status=409)


# The services' messages are English, for the API and the logs. A buyer's page shows these, in the
# buyer's language; a code not listed here falls back to the service's message.
DOMAIN_ERROR_MESSAGES = {
    "out_of_stock": gettext_lazy("Not enough codes in stock for this quantity."),
    "own_shop": gettext_lazy("You cannot buy from your own shop."),
    "idempotency_key_reused": gettext_lazy(
        "This form was already used for a different order. Please open the product again."
    ),
    "invalid_state": gettext_lazy("This cannot be done in the order's current state."),
    "invalid": gettext_lazy("Please check what you entered."),
    "not_found": gettext_lazy("Not found."),
}


def user_message(error: DomainError) -> str:
    """The error in the reader's language for a page; the API keeps the stable English message."""
    if error.code == "invalid_quantity":
        return _("Quantity must be a whole number from 1 to %(max)d.") % {
            "max": settings.KABAO_MAX_ORDER_QUANTITY
        }
    message = DOMAIN_ERROR_MESSAGES.get(error.code)
    return error.message if message is None else str(message)
