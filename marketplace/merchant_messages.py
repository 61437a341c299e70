"""The shop's and staff's pages show a refused request in the reader's language.

The services' messages are English and stable for the API; these are their words for the pages.
A code not listed here falls back to `kabao.errors.user_message`.
"""

from django.conf import settings
from django.utils.translation import gettext as _

from kabao.errors import DomainError, user_message
from marketplace.uploads import max_upload_bytes
from merchants.money import money_text


def shop_message(error: DomainError) -> str:
    code = error.code
    if code == "deposit_required":
        return _(
            "Pay your security deposit first: a shop lists products, uploads codes and withdraws money "
            "only while its deposit is at least %(required)s."
        ) % {"required": money_text(settings.KABAO_MIN_MERCHANT_DEPOSIT, settings.KABAO_CURRENCY)}
    if code == "too_many_codes":
        return _("An upload holds at most %(max)d codes. Nothing was stored.") % {
            "max": settings.KABAO_MAX_CODES_PER_UPLOAD
        }
    if code == "upload_too_large":
        return _(
            "The upload is larger than %(mib)d MiB. Split the codes into several uploads; nothing was stored."
        ) % {"mib": max_upload_bytes() // (1024 * 1024)}
    messages = {
        "merchant_not_active": _("Your shop is not approved yet."),
        "not_a_merchant": _("This account does not belong to a shop."),
        "already_member": _("This account already belongs to a shop."),
        "shop_name_taken": _("This shop name is already taken."),
        "insufficient_available": _("That is more than your available balance."),
        "invalid_amount": _("Please enter an amount of more than zero."),
        "invalid_encoding": _("The codes must be UTF-8 text. Save the file as UTF-8 and upload it again."),
        "unsupported_file_type": _("Upload a .txt or .csv file with one code a line."),
        "concurrent_upload": _(
            "Some of these codes were uploaded at the same moment; nothing was stored. Try again."
        ),
        "code_not_available": _("Only codes in stock can be voided; nothing was voided."),
        "permission_denied": _("You are not allowed to do this."),
        "invalid_state": _("This cannot be done in the current state."),
    }
    message = messages.get(code)
    return user_message(error) if message is None else message


def refusal_reason(reason: str) -> str:
    """Why an uploaded line was refused, in words."""
    return {
        "does_not_match_pattern": _("does not match the product's code pattern"),
        "too_long": _("longer than 200 characters"),
        "duplicate_in_upload": _("appears earlier in this upload"),
        "duplicate_in_shop": _("already in your shop"),
        "duplicate_on_platform": _("already uploaded on the platform"),
    }.get(reason, reason)
