"""Deadlines kept as rows and swept by beat.

Each sweep takes due rows with SELECT … FOR UPDATE SKIP LOCKED in small batches, re-checks the
state under the lock and acts through the order services' helpers: two sweeps racing act on each
deadline once.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from kabao.sweeps import sweep_due
from marketplace.models import Code, CodeStatus, Order, OrderStatus, Payment
from marketplace.payments import ProviderUnavailable, get_provider
from marketplace.services.orders import complete_locked_order, order_delivery_enqueue, payment_captured
from marketplace.services.payments import deposit_payments_reconcile
from marketplace.services.refunds import refund_locked_order
from marketplace.services.transitions import order_transition

logger = logging.getLogger(__name__)
RECONCILE_LIMIT = 1000


def _recover_captured(payments: list[tuple[str, str]]) -> int:
    """Ask the provider about each (provider, reference); a capture whose webhook was lost proceeds."""
    found = 0
    for provider_name, reference in payments:
        try:
            answer = get_provider(provider_name).retrieve(reference)
        except ProviderUnavailable:
            # The provider is down: ask again next sweep, and let the other sweeps of this run go on.
            logger.warning("reconciliation could not ask %s about %s", provider_name, reference)
            continue
        if answer.status == "succeeded":
            logger.warning("reconciliation found a captured payment without its webhook: %s", reference)
            payment_captured(reference=reference, amount=answer.amount, currency=answer.currency)
            found += 1
    return found


def _unpaid_payments(**order_filter: Any) -> list[tuple[str, str]]:
    return list(
        Payment.objects.filter(order__status=OrderStatus.PENDING_PAYMENT, **order_filter)
        .order_by("order__created_at")
        .values_list("provider", "reference")[:RECONCILE_LIMIT]
    )


def _due(**conditions: Any) -> QuerySet[Order]:
    return Order.objects.select_related("hold").filter(**conditions)


def sweep_reconcile_unpaid(*, now: datetime | None = None) -> int:
    """Orders unpaid for KABAO_RECONCILE_AFTER_SECONDS are checked with the provider (掉单 recovery)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.KABAO_RECONCILE_AFTER_SECONDS)
    return _recover_captured(_unpaid_payments(order__created_at__lte=cutoff))


def _cancel_unpaid(order: Order) -> None:
    Code.objects.filter(order=order, status=CodeStatus.RESERVED).update(
        status=CodeStatus.AVAILABLE, order=None
    )
    order_transition(order=order, to=OrderStatus.CANCELLED, note="unpaid_in_time")


def sweep_expire_unpaid(*, now: datetime | None = None) -> int:
    """Cancel orders unpaid past their expiry (codes back to stock), after one last provider check."""
    now = now or timezone.now()
    _recover_captured(_unpaid_payments(order__expires_at__lte=now))
    return sweep_due(
        _due(status=OrderStatus.PENDING_PAYMENT, expires_at__lte=now), _cancel_unpaid, order_by="expires_at"
    )


def _refund_undelivered(order: Order) -> None:
    refund_locked_order(
        order=order, refund_amount=order.amount, reason="not_delivered_in_time", return_codes=True
    )


def sweep_refund_undelivered(*, now: datetime | None = None) -> int:
    """Paid but not delivered in time: a full refund (nothing you paid for can drop)."""
    now = now or timezone.now()
    due = _due(status=OrderStatus.PAID, delivery_due_at__lte=now)
    return sweep_due(due, _refund_undelivered, order_by="delivery_due_at")


def sweep_redeliver_paid(*, now: datetime | None = None) -> int:
    """Paid for KABAO_RECONCILE_AFTER_SECONDS and still not delivered: send the delivery task again.

    A broker that lost its messages (Redis restarted without persistence, a publish refused while it
    was down) would otherwise leave the order waiting for its delivery deadline and a refund. Delivery
    re-reads the order under its lock and returns early when it is done, so a message sent twice
    delivers once.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.KABAO_RECONCILE_AFTER_SECONDS)
    order_ids = list(
        Order.objects.filter(status=OrderStatus.PAID, paid_at__lte=cutoff, delivery_due_at__gt=now)
        .order_by("paid_at")
        .values_list("pk", flat=True)[:RECONCILE_LIMIT]
    )
    with transaction.atomic(durable=True):
        for order_id in order_ids:
            logger.warning("order %s paid but not delivered: its delivery task is sent again", order_id)
            order_delivery_enqueue(order_id)
    return len(order_ids)


def _auto_confirm(order: Order) -> None:
    complete_locked_order(order=order, actor=None, note="protection_window_ended")


def sweep_auto_confirm(*, now: datetime | None = None) -> int:
    """The protection window ran out with no complaint: release the money to the merchant."""
    now = now or timezone.now()
    due = _due(status=OrderStatus.DELIVERED, auto_confirm_at__lte=now, hold__is_frozen=False)
    return sweep_due(due, _auto_confirm, order_by="auto_confirm_at")


def _unless_provider_down(sweep: Callable[..., int], now: datetime) -> int:
    """A refund the provider cannot be asked for rolls its batch back; the rows stay due and the next
    run retries them with the same idempotency keys. The other sweeps of this run go on."""
    try:
        return sweep(now=now)
    except ProviderUnavailable:
        logger.warning("%s stopped: the payment provider did not answer", sweep.__name__)
        return 0


def sweep_deadlines(*, now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    return {
        "reconciled": sweep_reconcile_unpaid(now=now) + deposit_payments_reconcile(now=now),
        "expired": _unless_provider_down(sweep_expire_unpaid, now),
        "refunded_undelivered": _unless_provider_down(sweep_refund_undelivered, now),
        "redelivered": sweep_redeliver_paid(now=now),
        "auto_confirmed": sweep_auto_confirm(now=now),
    }
