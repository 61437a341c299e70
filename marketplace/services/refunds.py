"""Money back to the buyer, and replacement codes: the remedies a dispute can end in.

These run in the caller's transaction with the order locked (`order_lock`); the disputes app and
the order sweeps call them.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from accounts.models import User
from escrow.models import Account, AccountKind, Hold, HoldStatus
from escrow.services import account_get_or_create, holds_settle, posting_create, provider_account, rows_update
from kabao.errors import Conflict, DomainError
from marketplace.models import Code, CodeStatus, Order, OrderStatus, Payment, PaymentStatus
from marketplace.payments import ProviderRefund, get_provider
from marketplace.services.transitions import OrderMove, orders_transition
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


@dataclass(frozen=True)
class RefundRequest:
    """`amount` back to the buyer of a locked `order`, through its payment's provider.

    `is_refunded_at_provider`: the provider already returned the money (a refund made in its
    dashboard, reported by webhook); the ledger records it and the provider is not asked again.
    """

    order: Order
    amount: int
    reason: str
    return_codes: bool = False
    is_refunded_at_provider: bool = False


def refund_locked_orders(*, refunds: Sequence[RefundRequest], actor: User | None = None) -> list[Order]:
    """Give money back to buyers through their providers, each order once in the batch.

    While an order's hold is held the money comes from escrow (the rest of the hold goes to the
    merchant, minus fee), the holds of the batch settled together; once released, from the merchant
    (available, then deposit). Payments are locked together, in primary-key order; the orders move
    together (`orders_transition`); each provider is asked once for the batch (`refund_many`), last.
    """
    if not refunds:
        return []
    order_ids = [refund.order.pk for refund in refunds]
    if len(set(order_ids)) != len(order_ids):
        raise DomainError("invalid", "an order is refunded once per batch")
    payments = {
        payment.order_id: payment
        for payment in Payment.objects.select_for_update().filter(order_id__in=order_ids).order_by("pk")
    }
    clearing: dict[tuple[str, str], Account] = {}
    refunded_before: dict[int, int] = {}
    held: list[tuple[Hold, int]] = []
    released: list[RefundRequest] = []
    holds = {
        hold.pk: hold for hold in Hold.objects.filter(pk__in=[refund.order.hold_id for refund in refunds])
    }
    for refund in refunds:
        order, amount = refund.order, refund.amount
        payment = payments[order.pk]
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise DomainError("invalid_amount", "A refund is a positive amount in minor units.")
        if payment.refunded_amount + amount > payment.amount:
            raise Conflict("refund_exceeds_payment", "A refund cannot exceed what the buyer paid.")
        # grows with each refund: a stable key for this one
        refunded_before[order.pk] = payment.refunded_amount
        assert order.hold_id is not None
        route = (payment.provider, order.currency)
        if route not in clearing:
            clearing[route] = provider_account(payment.provider, order.currency)
        # holds_settle re-reads the holds under their locks: a hold settled meanwhile is refused there
        if holds[order.hold_id].status == HoldStatus.HELD:
            held.append((holds[order.hold_id], amount))
        else:
            released.append(refund)
    holds_settle(settlements=held, fee_bps=settings.KABAO_PLATFORM_FEE_BPS, override_freeze=True)
    for refund in released:
        order = refund.order
        _refund_from_merchant(
            order=order,
            amount=refund.amount,
            key=f"order:{order.pk}:refund:{refunded_before[order.pk]}",
            clearing=clearing[(payments[order.pk].provider, order.currency)],
        )
    for refund in refunds:
        payment = payments[refund.order.pk]
        payment.refunded_amount += refund.amount
        is_full = payment.refunded_amount == payment.amount
        payment.status = PaymentStatus.REFUNDED if is_full else PaymentStatus.PARTIALLY_REFUNDED
    rows_update([payments[order_id] for order_id in order_ids], ["refunded_amount", "status"])
    returning = [refund.order.pk for refund in refunds if refund.return_codes]
    if returning:
        Code.objects.filter(order_id__in=returning, status=CodeStatus.RESERVED).update(
            status=CodeStatus.AVAILABLE, order=None
        )
    moves = []
    for refund in refunds:
        is_full = payments[refund.order.pk].status == PaymentStatus.REFUNDED
        moves.append(
            OrderMove(
                order=refund.order,
                to=OrderStatus.REFUNDED if is_full else OrderStatus.PARTIALLY_REFUNDED,
                note=refund.reason,
            )
        )
    orders_transition(moves=moves, actor=actor)
    # Last, after every row is written and every move checked in this transaction: if a provider
    # refuses or does not answer, everything above rolls back; each key is the same on every retry.
    # One call per provider for the batch.
    by_provider: dict[str, list[ProviderRefund]] = {}
    for refund in refunds:
        if refund.is_refunded_at_provider:
            continue
        payment = payments[refund.order.pk]
        by_provider.setdefault(payment.provider, []).append(
            ProviderRefund(
                reference=payment.reference,
                amount=refund.amount,
                idempotency_key=f"refund:order:{refund.order.pk}:{refunded_before[refund.order.pk]}",
            )
        )
    for provider_name, provider_refunds in by_provider.items():
        get_provider(provider_name).refund_many(provider_refunds)
    return [refund.order for refund in refunds]


def refund_locked_order(
    *,
    order: Order,
    refund_amount: int,
    reason: str,
    return_codes: bool = False,
    actor: User | None = None,
    is_refunded_at_provider: bool = False,
) -> Order:
    """Give `refund_amount` back to the buyer through the provider (see `refund_locked_orders`)."""
    refund = RefundRequest(
        order=order,
        amount=refund_amount,
        reason=reason,
        return_codes=return_codes,
        is_refunded_at_provider=is_refunded_at_provider,
    )
    return refund_locked_orders(refunds=[refund], actor=actor)[0]


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
