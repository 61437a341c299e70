"""Money back to the buyer, and replacement codes: the remedies a dispute can end in.

These run in the caller's transaction with the order locked (`order_lock`); the disputes app and
the order sweeps call them.
"""

from django.conf import settings
from django.utils import timezone

from accounts.models import User
from escrow.models import Account, AccountKind, HoldStatus
from escrow.services import account_get_or_create, hold_settle, posting_create, provider_account
from kabao.errors import Conflict, DomainError
from marketplace.models import Code, CodeStatus, Order, OrderStatus, Payment, PaymentStatus
from marketplace.payments import get_provider
from marketplace.services.transitions import order_transition
from merchants.services import (
    merchant_available_account,
    merchant_deposit_account,
    merchant_deposit_topup_notify,
)


def platform_guarantee_account(currency: str) -> Account:
    """What the platform pays when a shop's escrow, available money and deposit cannot cover a refund."""
    return account_get_or_create(
        code=f"platform:guarantee:{currency}",
        kind=AccountKind.PLATFORM,
        currency=currency,
        allow_negative=True,
    )


def _refund_from_merchant(*, order: Order, amount: int, key: str, clearing: Account) -> None:
    """After release the money is the merchant's: take it from available, then the deposit (先行赔付),
    and only then from the platform's guarantee."""
    available = merchant_available_account(order.merchant, order.currency)
    deposit = merchant_deposit_account(order.merchant, order.currency)
    available.refresh_from_db()
    deposit.refresh_from_db()
    from_available = min(amount, available.balance)
    from_deposit = min(amount - from_available, deposit.balance)
    from_platform = amount - from_available - from_deposit
    lines = [(clearing, amount)]
    for account, part in (
        (available, from_available),
        (deposit, from_deposit),
        (platform_guarantee_account(order.currency), from_platform),
    ):
        if part:
            lines.append((account, -part))
    posting_create(idempotency_key=key, kind="after_sale_refund", reference=order.hold_reference, lines=lines)
    if from_deposit:
        merchant_deposit_topup_notify(merchant=order.merchant)


def refund_locked_order(
    *,
    order: Order,
    refund_amount: int,
    reason: str,
    return_codes: bool = False,
    actor: User | None = None,
    is_refunded_at_provider: bool = False,
) -> Order:
    """Give `refund_amount` back to the buyer through the provider.

    `is_refunded_at_provider`: the provider already returned the money (a refund made in its
    dashboard, reported by webhook); the ledger records it and the provider is not asked again.

    While the order's hold is held the money comes from escrow (the rest of the hold goes to the
    merchant, minus fee); once released, from the merchant (available, then deposit).
    """
    payment = Payment.objects.select_for_update().get(order=order)
    if isinstance(refund_amount, bool) or not isinstance(refund_amount, int) or refund_amount <= 0:
        raise DomainError("invalid_amount", "A refund is a positive amount in minor units.")
    if payment.refunded_amount + refund_amount > payment.amount:
        raise Conflict("refund_exceeds_payment", "A refund cannot exceed what the buyer paid.")
    refunded_before = payment.refunded_amount  # grows with each refund: a stable key for this one
    assert order.hold is not None
    hold = order.hold
    hold.refresh_from_db()
    clearing = provider_account(payment.provider, order.currency)
    if hold.status == HoldStatus.HELD:
        hold_settle(
            hold=hold,
            refund_amount=refund_amount,
            fee_bps=settings.KABAO_PLATFORM_FEE_BPS,
            override_freeze=True,
        )
    else:
        _refund_from_merchant(
            order=order,
            amount=refund_amount,
            key=f"order:{order.pk}:refund:{refunded_before}",
            clearing=clearing,
        )
    if not is_refunded_at_provider:
        # Last, after the ledger rows are written in this transaction: if the provider refuses or
        # does not answer, everything above rolls back; the key is the same on every retry.
        get_provider(payment.provider).refund(
            reference=payment.reference,
            amount=refund_amount,
            idempotency_key=f"refund:order:{order.pk}:{refunded_before}",
        )
    payment.refunded_amount += refund_amount
    is_full = payment.refunded_amount == payment.amount
    payment.status = PaymentStatus.REFUNDED if is_full else PaymentStatus.PARTIALLY_REFUNDED
    payment.save(update_fields=["refunded_amount", "status"])
    if return_codes:
        Code.objects.filter(order=order, status=CodeStatus.RESERVED).update(
            status=CodeStatus.AVAILABLE, order=None
        )
    order_transition(
        order=order,
        to=OrderStatus.REFUNDED if is_full else OrderStatus.PARTIALLY_REFUNDED,
        actor=actor,
        note=reason,
    )
    return order


def replace_codes_locked(*, order: Order, codes: list[Code]) -> list[Code]:
    """Deliver fresh codes from the product's stock in place of `codes` (sold on this order)."""
    if not codes or any(
        code.order_id != order.pk or code.status != CodeStatus.SOLD or code.replaced_at for code in codes
    ):
        raise DomainError("invalid_codes", "Only this order's current codes can be replaced.")
    fresh_ids = list(
        Code.objects.select_for_update(skip_locked=True)
        .filter(product_id=order.product_id, status=CodeStatus.AVAILABLE)
        .order_by("id")
        .values_list("id", flat=True)[: len(codes)]
    )
    if len(fresh_ids) < len(codes):
        raise Conflict("out_of_stock", "Not enough codes in stock to replace.")
    now = timezone.now()
    Code.objects.filter(pk__in=[code.pk for code in codes]).update(replaced_at=now)
    Code.objects.filter(pk__in=fresh_ids).update(status=CodeStatus.SOLD, order=order, sold_at=now)
    return list(Code.objects.filter(pk__in=fresh_ids).order_by("id"))
