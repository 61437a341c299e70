"""The order state machine: the one place that assigns Order.status."""

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from kabao.errors import Conflict
from marketplace.models import Order, OrderEvent, OrderStatus

S = OrderStatus
ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    S.PENDING_PAYMENT: {S.PAID, S.CANCELLED},
    S.PAID: {S.DELIVERED, S.REFUNDED},
    S.DELIVERED: {S.COMPLETED, S.DISPUTED, S.REFUNDED, S.PARTIALLY_REFUNDED},
    S.DISPUTED: {S.DELIVERED, S.COMPLETED, S.REFUNDED, S.PARTIALLY_REFUNDED},
    S.COMPLETED: {S.DISPUTED},
    # A payment that arrives after the order was cancelled is refunded.
    S.CANCELLED: {S.REFUNDED},
    S.REFUNDED: set(),
    S.PARTIALLY_REFUNDED: set(),
}


def order_qs_select_for_update() -> QuerySet[Order]:
    return Order.objects.select_for_update(of=("self",))


def order_lock(order_id: int) -> Order:
    return order_qs_select_for_update().select_related("product", "merchant").get(pk=order_id)


def order_transition(*, order: Order, to: str, actor: User | None = None, note: str = "") -> Order:
    """Move a locked order to `to` and record it. The caller holds the row lock in its transaction."""
    if to not in ALLOWED_TRANSITIONS[order.status]:
        raise Conflict("invalid_state", f"An order that is {order.status} cannot become {to}.")
    event = OrderEvent(
        order=order, event=to, from_status=order.status, to_status=to, actor=actor, note=note[:200]
    )
    order.status = to
    now = timezone.now()
    if to in (S.REFUNDED, S.PARTIALLY_REFUNDED, S.CANCELLED, S.COMPLETED):
        order.closed_at = now
    order.save()
    event.at = now
    event.save()
    return order


def order_record(*, order: Order, event: str, actor: User | None = None, note: str = "") -> None:
    """A timeline entry that is not a status change (codes revealed, payment failed …)."""
    OrderEvent.objects.create(order=order, event=event, actor=actor, note=note[:200])
