"""Withdrawals of a shop's available money. Every step is one ledger posting and one PayoutEvent.

requested: available        -> payout_pending   (the money can no longer be spent twice)
approved:  payout_pending   -> payout_approved  (staff committed to send it)
paid:      payout_approved  -> external:payouts (it left the platform)
rejected:  pending|approved -> available        (back where it came from)
"""

from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from escrow.models import Account
from escrow.services import posting_create
from kabao.errors import Conflict, DomainError
from merchants.models import Merchant, Payout, PayoutEvent, PayoutStatus
from merchants.money import money_text
from merchants.selectors import is_owner
from merchants.services.deposit import merchant_require_deposit
from merchants.services.ledger import (
    merchant_available_account,
    merchant_payout_approved_account,
    merchant_payout_pending_account,
    payouts_sent_account,
)
from merchants.services.mail import dashboard_link, email_owner_on_commit

S = PayoutStatus
PAYOUT_TRANSITIONS: dict[str, set[str]] = {
    S.REQUESTED: {S.APPROVED, S.REJECTED},
    S.APPROVED: {S.PAID, S.REJECTED},
    S.PAID: set(),
    S.REJECTED: set(),
}
MAX_PAYOUT = 10**12


def _account_for(payout: Payout, status: str) -> Account:
    """The ledger account that holds a payout's money while it is in `status`."""
    merchant, currency = payout.merchant, payout.currency
    accounts: dict[str, Callable[[], Account]] = {
        S.REQUESTED: lambda: merchant_payout_pending_account(merchant, currency),
        S.APPROVED: lambda: merchant_payout_approved_account(merchant, currency),
        S.PAID: lambda: payouts_sent_account(currency),
        S.REJECTED: lambda: merchant_available_account(merchant, currency),
    }
    return accounts[status]()


def _lock(payout: Payout) -> Payout:
    return Payout.objects.select_for_update(of=("self",)).select_related("merchant").get(pk=payout.pk)


def _transition(*, payout: Payout, to: str, actor: User, note: str = "") -> Payout:
    """Move a locked payout to `to`: the posting, the status and the event commit together."""
    if to not in PAYOUT_TRANSITIONS[payout.status]:
        raise Conflict("invalid_state", f"A {payout.status} payout cannot become {to}.")
    posting_create(
        idempotency_key=f"payout:{payout.pk}:{to}",
        kind=f"payout_{to}",
        reference=f"payout:{payout.pk}",
        lines=[
            (_account_for(payout, payout.status), -payout.amount),
            (_account_for(payout, to), payout.amount),
        ],
    )
    PayoutEvent.objects.create(payout=payout, from_status=payout.status, to_status=to, actor=actor, note=note)
    payout.status = to
    return payout


def _require_staff(actor: User) -> None:
    if not actor.is_staff:
        raise DomainError("permission_denied", "Only staff decide payouts.", status=403)


def payout_request(*, merchant: Merchant, actor: User, amount: int) -> Payout:
    """The owner asks to withdraw `amount` of the available balance."""
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_PAYOUT:
        raise DomainError(
            "invalid_amount",
            "A payout is a positive whole amount in minor units.",
            fields={"amount": [f"an integer from 1 to {MAX_PAYOUT}"]},
        )
    if not is_owner(actor, merchant):
        raise DomainError("permission_denied", "Only the shop's owner requests payouts.", status=403)
    if not merchant.is_active:
        raise DomainError("merchant_not_active", "The shop is not approved yet.", status=403)
    merchant_require_deposit(merchant)
    currency = settings.KABAO_CURRENCY
    with transaction.atomic(durable=True):
        available = Account.objects.select_for_update().get(
            pk=merchant_available_account(merchant, currency).pk
        )
        if amount > available.balance:
            raise Conflict(
                "insufficient_available",
                f"The payout exceeds the available balance ({available.balance} minor units).",
            )
        payout = Payout.objects.create(
            merchant=merchant, amount=amount, currency=currency, requested_by=actor
        )
        posting_create(
            idempotency_key=f"payout:{payout.pk}:requested",
            kind="payout_requested",
            reference=f"payout:{payout.pk}",
            lines=[(available, -amount), (merchant_payout_pending_account(merchant, currency), amount)],
        )
        PayoutEvent.objects.create(payout=payout, to_status=S.REQUESTED, actor=actor)
    return payout


def payout_approve(*, payout: Payout, actor: User) -> Payout:
    _require_staff(actor)
    with transaction.atomic(durable=True):
        payout = _lock(payout)
        if payout.status == S.APPROVED:
            return payout  # a repeated click or API retry
        _transition(payout=payout, to=S.APPROVED, actor=actor)
        payout.decided_at = timezone.now()
        payout.save(update_fields=["status", "decided_at"])
    return payout


def payout_reject(*, payout: Payout, actor: User, reason: str) -> Payout:
    """Staff refuse a requested or approved payout; its money goes back to the shop's available."""
    _require_staff(actor)
    reason = reason.strip()
    if not reason or len(reason) > 500:
        raise DomainError(
            "invalid",
            "Say why the payout is rejected (1 to 500 characters).",
            fields={"reason": ["1 to 500 characters"]},
        )
    with transaction.atomic(durable=True):
        payout = _lock(payout)
        _transition(payout=payout, to=S.REJECTED, actor=actor, note=reason)
        payout.decided_at = timezone.now()
        payout.rejection_reason = reason
        payout.save(update_fields=["status", "decided_at", "rejection_reason"])
        amount = money_text(payout.amount, payout.currency)

        def compose() -> tuple[str, str]:
            return (
                _("Your payout of %(amount)s was rejected") % {"amount": amount},
                _("Reason: %(reason)s\n\nThe money is back in your available balance: %(link)s")
                % {"reason": reason, "link": dashboard_link()},
            )

        email_owner_on_commit(payout.merchant, compose)
    return payout


def payout_mark_paid(*, payout: Payout, actor: User, external_reference: str = "") -> Payout:
    """Staff record that an approved payout was sent (with the bank's reference, if any)."""
    _require_staff(actor)
    external_reference = external_reference.strip()
    if len(external_reference) > 100:
        raise DomainError(
            "invalid",
            "The transfer reference is at most 100 characters.",
            fields={"external_reference": ["at most 100 characters"]},
        )
    with transaction.atomic(durable=True):
        payout = _lock(payout)
        if payout.status == S.PAID:
            return payout
        _transition(payout=payout, to=S.PAID, actor=actor, note=external_reference)
        payout.paid_at = timezone.now()
        payout.external_reference = external_reference
        payout.save(update_fields=["status", "paid_at", "external_reference"])
        amount = money_text(payout.amount, payout.currency)

        def compose() -> tuple[str, str]:
            return (
                _("Your payout of %(amount)s was sent") % {"amount": amount},
                _("The payout is on its way to your bank account. History: %(link)s")
                % {"link": dashboard_link()},
            )

        email_owner_on_commit(payout.merchant, compose)
    return payout
