"""Reads about merchant shops: who runs them, their money (from the ledger), payouts and metrics."""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet

from accounts.models import User
from escrow.models import Account
from escrow.selectors import account_balance, held_for_beneficiary
from merchants.models import FirstResponseSample, Membership, MembershipRole, Merchant, Payout


def merchant_of(user: User) -> Merchant | None:
    """The shop this user works for, if any."""
    if not user.is_authenticated:
        return None
    membership = Membership.objects.select_related("merchant").filter(user=user).first()
    return membership.merchant if membership else None


def is_owner(user: User, merchant: Merchant) -> bool:
    return Membership.objects.filter(user=user, merchant=merchant, role=MembershipRole.OWNER).exists()


@dataclass(frozen=True)
class MerchantBalance:
    currency: str
    held: int
    available: int
    deposit: int
    pending_payouts: int


def merchant_balance(merchant: Merchant, currency: str) -> MerchantBalance:
    prefix = f"merchant:{merchant.pk}"
    available_code = f"{prefix}:available:{currency}"
    return MerchantBalance(
        currency=currency,
        held=held_for_beneficiary(Account.objects.filter(code=available_code).first()),
        available=account_balance(available_code),
        deposit=account_balance(f"{prefix}:deposit:{currency}"),
        pending_payouts=account_balance(f"{prefix}:payout_pending:{currency}")
        + account_balance(f"{prefix}:payout_approved:{currency}"),
    )


@dataclass(frozen=True)
class DepositStatus:
    currency: str
    deposit: int
    required: int

    @property
    def shortfall(self) -> int:
        return max(self.required - self.deposit, 0)

    @property
    def is_sufficient(self) -> bool:
        return self.deposit >= self.required


def merchant_deposit_status(merchant: Merchant) -> DepositStatus:
    """The deposit is kept and required in the platform's currency (KABAO_CURRENCY)."""
    currency = settings.KABAO_CURRENCY
    return DepositStatus(
        currency=currency,
        deposit=account_balance(f"merchant:{merchant.pk}:deposit:{currency}"),
        required=int(settings.KABAO_MIN_MERCHANT_DEPOSIT),
    )


def payouts_of(merchant: Merchant) -> QuerySet[Payout]:
    return (
        Payout.objects.filter(merchant=merchant).prefetch_related("events").order_by("-requested_at", "-id")
    )


def merchant_median_first_response_seconds(merchant: Merchant) -> int | None:
    """The median of the shop's first-response times in whole seconds (for an even count, the mean
    of the two middle ones, rounded down), or None before its first sample. Counts, then seeks in
    the (merchant, seconds) index: the samples are never all loaded."""
    samples = FirstResponseSample.objects.filter(merchant=merchant)
    count = samples.count()
    if count == 0:
        return None
    middle = list(
        samples.order_by("seconds").values_list("seconds", flat=True)[(count - 1) // 2 : count // 2 + 1]
    )
    return sum(middle) // len(middle)
