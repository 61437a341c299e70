"""Security deposits paid in through the payment provider, like an order but onto the shop's deposit.

The provider, its webhooks and reconciliation are the marketplace's; the deposit account and the
rule "below the minimum you cannot list" are the merchants app's.
"""

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from escrow.services import provider_account
from kabao.errors import DomainError
from marketplace.models import Payment, PaymentPurpose, PaymentStatus
from marketplace.payments import get_provider
from merchants.models import Merchant
from merchants.selectors import is_owner, merchant_deposit_status
from merchants.services import merchant_deposit_credit

logger = logging.getLogger(__name__)
MAX_DEPOSIT_PAYMENT = 10**12


def deposit_payment_start(*, merchant: Merchant, actor: User, amount: int | None = None) -> Payment:
    """Open a provider payment for the shop's deposit; `amount` defaults to what is missing."""
    if not is_owner(actor, merchant):
        raise DomainError("permission_denied", "Only the shop's owner pays its deposit.", status=403)
    if not merchant.is_active:
        raise DomainError("merchant_not_active", "The shop is not approved yet.", status=403)
    if amount is None:
        amount = merchant_deposit_status(merchant).shortfall
        if amount == 0:
            raise DomainError(
                "invalid_amount",
                "The deposit is already at the minimum; say how much to add.",
                fields={"amount": ["required when nothing is missing"]},
            )
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_DEPOSIT_PAYMENT:
        raise DomainError(
            "invalid_amount",
            "A deposit is a positive whole amount in minor units.",
            fields={"amount": [f"an integer from 1 to {MAX_DEPOSIT_PAYMENT}"]},
        )
    currency = settings.KABAO_CURRENCY
    with transaction.atomic(durable=True):
        provider = get_provider()
        # One key per deposit payment of the shop: a double submit answers with the same provider
        # payment (and the same row below), the shop's next deposit is a new one.
        number = Payment.objects.filter(purpose=PaymentPurpose.DEPOSIT, merchant=merchant).count() + 1
        session = provider.create_payment(
            label=f"deposit-{merchant.pk}",
            amount=amount,
            currency=currency,
            idempotency_key=f"deposit-{merchant.pk}-{number}",
        )
        existing = Payment.objects.filter(reference=session.reference).first()
        if existing is not None:
            return existing
        return Payment.objects.create(
            purpose=PaymentPurpose.DEPOSIT,
            merchant=merchant,
            payer=actor,
            provider=provider.name,
            reference=session.reference,
            amount=amount,
            currency=currency,
        )


def deposit_payment_captured(*, payment: Payment, amount: int, currency: str) -> Payment:
    """Credit a captured deposit payment, once. Runs in `payment_captured`'s transaction."""
    payment = Payment.objects.select_for_update(of=("self",)).select_related("merchant").get(pk=payment.pk)
    if payment.status not in (PaymentStatus.CREATED, PaymentStatus.FAILED):
        return payment  # already credited: a replayed or late event
    assert payment.merchant is not None
    if amount != payment.amount or currency != payment.currency:
        # The shop paid what the provider captured; it is credited as such and the page shows it.
        logger.error(
            "deposit payment %s: captured %s %s, expected %s %s",
            payment.reference,
            amount,
            currency,
            payment.amount,
            payment.currency,
        )
    payment.status = PaymentStatus.SUCCEEDED
    payment.captured_at = timezone.now()
    payment.amount, payment.currency = amount, currency
    payment.save(update_fields=["status", "captured_at", "amount", "currency"])
    merchant_deposit_credit(
        merchant=payment.merchant,
        amount=amount,
        currency=currency,
        source=provider_account(payment.provider, currency),
        idempotency_key=f"payment:{payment.reference}:deposit",
        reference=f"deposit:{payment.merchant_id}",
    )
    return payment
