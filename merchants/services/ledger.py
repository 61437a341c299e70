"""The ledger accounts a shop's money lives in. Created on first use; money moves only by postings."""

from escrow.models import Account, AccountKind
from escrow.services import account_get_or_create
from merchants.models import Merchant


def merchant_available_account(merchant: Merchant, currency: str) -> Account:
    return account_get_or_create(
        code=f"merchant:{merchant.pk}:available:{currency}",
        kind=AccountKind.MERCHANT_AVAILABLE,
        currency=currency,
    )


def merchant_deposit_account(merchant: Merchant, currency: str) -> Account:
    return account_get_or_create(
        code=f"merchant:{merchant.pk}:deposit:{currency}",
        kind=AccountKind.MERCHANT_DEPOSIT,
        currency=currency,
    )


# The ledger has no kind of its own for money on its way out to a shop; like an escrow hold it is
# parked money that belongs to nobody's spendable balance until the payout is settled.
def merchant_payout_pending_account(merchant: Merchant, currency: str) -> Account:
    return account_get_or_create(
        code=f"merchant:{merchant.pk}:payout_pending:{currency}", kind=AccountKind.ESCROW, currency=currency
    )


def merchant_payout_approved_account(merchant: Merchant, currency: str) -> Account:
    return account_get_or_create(
        code=f"merchant:{merchant.pk}:payout_approved:{currency}", kind=AccountKind.ESCROW, currency=currency
    )


def payouts_sent_account(currency: str) -> Account:
    """Money that left the platform to shops' bank accounts (the outside world, like a provider)."""
    return account_get_or_create(
        code=f"external:payouts:{currency}", kind=AccountKind.EXTERNAL, currency=currency, allow_negative=True
    )
