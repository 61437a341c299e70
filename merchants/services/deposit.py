"""The security deposit (保证金): paid in through the payment provider, required to list.

The payment itself belongs to the marketplace (its provider and webhooks); when a deposit payment
is captured, the marketplace calls `merchant_deposit_credit` inside its own transaction.
"""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from escrow.models import Account
from escrow.services import posting_create
from kabao.errors import Conflict, DomainError
from merchants.models import Merchant
from merchants.money import money_text
from merchants.selectors import merchant_deposit_status
from merchants.services.ledger import merchant_deposit_account
from merchants.services.mail import dashboard_link, email_owner_on_commit


def merchant_require_deposit(merchant: Merchant) -> None:
    """Refuse to list, stock or pay out while the deposit is below the minimum."""
    status = merchant_deposit_status(merchant)
    if not status.is_sufficient:
        raise Conflict(
            "deposit_required",
            f"The shop's security deposit is {status.deposit} of the {status.required} required "
            f"(minor units, {status.currency}); pay in {status.shortfall} more first.",
        )


def merchant_deposit_credit(
    *, merchant: Merchant, amount: int, currency: str, source: Account, idempotency_key: str, reference: str
) -> None:
    """Move a captured deposit payment from the provider's account onto the shop's deposit account.

    Runs in the caller's transaction (the payment capture). The same key twice is one posting, so a
    replayed webhook credits nothing more.
    """
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise DomainError("invalid_amount", "A deposit is a positive amount in minor units.")
    posting_create(
        idempotency_key=idempotency_key,
        kind="merchant_deposit",
        reference=reference,
        lines=[(source, -amount), (merchant_deposit_account(merchant, currency), amount)],
    )
    if merchant_deposit_status(merchant).is_sufficient:
        Merchant.objects.filter(pk=merchant.pk).update(deposit_topup_requested_at=None)


def merchant_deposit_topup_notify(*, merchant: Merchant) -> bool:
    """Ask the owner to top up the deposit if it is below the minimum; True when an email goes out.

    For the code that takes refunds from the deposit (先行赔付): call it after such a posting, in the
    same transaction or after it. One shortfall sends one email (the request is remembered on the
    shop until a deposit payment brings it back to the minimum); the dashboard says it every time.
    """
    with transaction.atomic():
        merchant = Merchant.objects.select_for_update().get(pk=merchant.pk)
        status = merchant_deposit_status(merchant)
        if status.is_sufficient or merchant.deposit_topup_requested_at is not None:
            return False
        merchant.deposit_topup_requested_at = timezone.now()
        merchant.save(update_fields=["deposit_topup_requested_at"])

        def compose() -> tuple[str, str]:
            values = {
                "shop": merchant.shop_name,
                "deposit": money_text(status.deposit, status.currency),
                "required": money_text(status.required, status.currency),
                "shortfall": money_text(status.shortfall, status.currency),
                "link": dashboard_link(),
            }
            return (
                _("Please top up the security deposit of %(shop)s") % values,
                _(
                    "The security deposit of %(shop)s paid a buyer's refund and is now %(deposit)s, "
                    "below the %(required)s required. Your products are not listed and payouts are "
                    "paused until you pay in %(shortfall)s: %(link)s"
                )
                % values,
            )

        email_owner_on_commit(merchant, compose)
    return True
