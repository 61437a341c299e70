"""The order state machine: the one place that assigns Order.status."""

from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from escrow.services import rows_update
from kabao.chains import chain_append
from kabao.errors import Conflict, DomainError
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


CLOSING = (S.REFUNDED, S.PARTIALLY_REFUNDED, S.CANCELLED, S.COMPLETED)


def _check_move(order: Order, to: str) -> None:
    if to not in ALLOWED_TRANSITIONS[order.status]:
        raise Conflict("invalid_state", f"An order that is {order.status} cannot become {to}.")


def order_transition(*, order: Order, to: str, actor: User | None = None, note: str = "") -> Order:
    """Move a locked order to `to` and record it. The caller holds the row lock in its transaction.
    The whole order is saved: callers set other fields (paid_at, delivered_at …) with the move."""
    _check_move(order, to)
    event = OrderEvent(
        order=order, event=to, from_status=order.status, to_status=to, actor=actor, note=note[:200]
    )
    order.status = to
    now = timezone.now()
    if to in CLOSING:
        order.closed_at = now
    order.save()
    event.at = now
    orders_record(events=[event])
    return order


@dataclass(frozen=True)
class OrderMove:
    order: Order
    to: str
    note: str = ""


def orders_transition(*, moves: Sequence[OrderMove], actor: User | None = None) -> None:
    """`order_transition` for a batch of locked orders, each once, in four statements whatever its
    size: every move is checked against ALLOWED_TRANSITIONS before anything is written, then the
    orders' status and closed_at are written together (only those: unlike `order_transition` this
    does not save other fields the caller changed), then their events."""
    if not moves:
        return
    if len({move.order.pk for move in moves}) != len(moves):
        raise DomainError("invalid", "an order moves once per batch")
    for move in moves:
        _check_move(move.order, move.to)
    now = timezone.now()
    events = []
    for move in moves:
        order = move.order
        events.append(
            OrderEvent(
                order=order,
                event=move.to,
                from_status=order.status,
                to_status=move.to,
                actor=actor,
                note=move.note[:200],
                at=now,
            )
        )
        order.status = move.to
        if move.to in CLOSING:
            order.closed_at = now
    rows_update([move.order for move in moves], ["status", "closed_at"])
    orders_record(events=events)


def order_record(*, order: Order, event: str, actor: User | None = None, note: str = "") -> None:
    """A timeline entry that is not a status change (codes revealed, payment failed …)."""
    orders_record(events=[OrderEvent(order=order, event=event, actor=actor, note=note[:200])])


# The orders' timelines in the advisory locks of kabao.chains (the disputes' are 2).
ORDER_TIMELINES = 1


def orders_record(*, events: Sequence[OrderEvent]) -> list[OrderEvent]:
    """The one door for the orders' timeline rows (each with its `at` set): each linked to the last
    one of its order and hashed (kabao/chains.py), written in one statement, in the order given (the
    timeline orders by time, id)."""
    return chain_append(events, parent="order_id", namespace=ORDER_TIMELINES)
