"""What a provider reports after capture: refunds made on its side, and chargebacks.

Each function is safe to call twice and in any order with the others and with capture: it re-reads
the payment under the order's lock and acts only on what the ledger has not recorded yet.
"""

import logging

from django.db import transaction
from django.utils import timezone

from escrow.models import HoldStatus
from escrow.services import hold_set_frozen
from marketplace.models import Chargeback, ChargebackStatus, OrderStatus, Payment
from marketplace.services.refunds import refund_locked_order
from marketplace.services.transitions import order_lock, order_record
from marketplace.signals import chargeback_closed, chargeback_opened

logger = logging.getLogger(__name__)
REFUNDABLE = (OrderStatus.PAID, OrderStatus.DELIVERED, OrderStatus.DISPUTED, OrderStatus.COMPLETED)


def payment_refunded_at_provider(*, payment_pk: int, refunded_amount: int) -> None:
    """The provider says `refunded_amount` in total went back. Refunds Kabao asked for are already in
    the ledger (no-op); the rest (made in the provider's dashboard) is recorded as a refund."""
    with transaction.atomic(durable=True):
        payment = Payment.objects.get(pk=payment_pk)
        if payment.order_id is None:
            logger.error("deposit payment %s refunded at the provider: staff must adjust", payment.reference)
            return
        order = order_lock(payment.order_id)
        payment = Payment.objects.select_for_update().get(pk=payment_pk)
        missing = refunded_amount - payment.refunded_amount
        if missing <= 0:
            return
        if order.status not in REFUNDABLE:
            logger.error("order %s (%s): refund of %s at the provider", order.pk, order.status, missing)
            order_record(order=order, event="refunded_at_provider", note=str(missing))
            return
        refund_locked_order(
            order=order,
            refund_amount=missing,
            reason="refunded_at_provider",
            return_codes=order.status == OrderStatus.PAID,
            is_refunded_at_provider=True,
        )


def payment_chargeback_opened(
    *, payment_pk: int, dispute_id: str, amount: int, currency: str, reason: str
) -> None:
    """The payer's bank disputes the payment: freeze the order's hold so no money leaves escrow while
    the bank decides, record the chargeback, and tell listeners (a platform-level dispute)."""
    with transaction.atomic(durable=True):
        payment = Payment.objects.get(pk=payment_pk)
        order = order_lock(payment.order_id) if payment.order_id else None
        chargeback, is_new = Chargeback.objects.get_or_create(
            provider_dispute_id=dispute_id,
            defaults={"payment": payment, "amount": amount, "currency": currency, "reason": reason[:60]},
        )
        if not is_new:
            return  # seen before, or closed already (events out of order): nothing to freeze now
        if order is None:
            logger.error("chargeback %s on deposit payment %s", dispute_id, payment.reference)
            return
        if order.hold is not None and order.hold.status == HoldStatus.HELD:
            hold_set_frozen(hold=order.hold, is_frozen=True)
        order_record(order=order, event="chargeback_opened", note=f"{dispute_id} {reason}"[:200])
        chargeback_opened.send(
            sender=Chargeback, order_id=order.pk, chargeback_id=chargeback.pk, status=chargeback.status
        )


def payment_chargeback_closed(
    *, payment_pk: int, dispute_id: str, amount: int, currency: str, reason: str, status: str
) -> None:
    """The bank decided. The hold stays frozen: the platform-level dispute decides where it goes."""
    final = status if status in (ChargebackStatus.WON, ChargebackStatus.LOST) else ChargebackStatus.CLOSED
    with transaction.atomic(durable=True):
        payment = Payment.objects.get(pk=payment_pk)
        order = order_lock(payment.order_id) if payment.order_id else None
        chargeback, _ = Chargeback.objects.select_for_update().get_or_create(
            provider_dispute_id=dispute_id,
            defaults={"payment": payment, "amount": amount, "currency": currency, "reason": reason[:60]},
        )
        if chargeback.closed_at is not None:
            return
        chargeback.status = final
        chargeback.closed_at = timezone.now()
        chargeback.save(update_fields=["status", "closed_at"])
        if order is not None:
            order_record(order=order, event="chargeback_closed", note=f"{dispute_id} {final}")
        chargeback_closed.send(
            sender=Chargeback,
            order_id=order.pk if order else None,
            chargeback_id=chargeback.pk,
            status=final,
        )
