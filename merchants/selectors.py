"""Reads about merchant shops."""

from dataclasses import dataclass

from accounts.models import User
from escrow.models import Account
from escrow.selectors import account_balance, held_for_beneficiary
from merchants.models import Membership, Merchant


def merchant_of(user: User) -> Merchant | None:
    """The shop this user works for, if any."""
    if not user.is_authenticated:
        return None
    membership = Membership.objects.select_related("merchant").filter(user=user).first()
    return membership.merchant if membership else None


@dataclass(frozen=True)
class MerchantBalance:
    currency: str
    held: int
    available: int
    deposit: int


def merchant_balance(merchant: Merchant, currency: str) -> MerchantBalance:
    available_code = f"merchant:{merchant.pk}:available:{currency}"
    return MerchantBalance(
        currency=currency,
        held=held_for_beneficiary(Account.objects.filter(code=available_code).first()),
        available=account_balance(available_code),
        deposit=account_balance(f"merchant:{merchant.pk}:deposit:{currency}"),
    )
