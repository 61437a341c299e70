"""A chargeback at the payer's bank becomes a platform-level dispute, so staff handle it in the
arbitration queue. Marketplace freezes the hold and sends the signal; this only files the dispute.
Runs inside marketplace's transaction (the order is locked there already)."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from disputes.models import ActorRole, Dispute, DisputeReason, EventKind
from disputes.services.transitions import dispute_escalate_locked, dispute_record
from marketplace.models import Chargeback, OrderStatus
from marketplace.services.transitions import order_lock, order_transition


def on_chargeback_opened(*, order_id: int | None, chargeback_id: int, **_: Any) -> None:
    if order_id is None:
        return
    order = order_lock(order_id)
    chargeback = Chargeback.objects.get(pk=chargeback_id)
    note = f"Chargeback {chargeback.provider_dispute_id} opened at the bank ({chargeback.reason})."
    dispute = Dispute.objects.filter(order=order).exclude(status="resolved").first()
    if dispute is None:
        if order.status not in (OrderStatus.DELIVERED, OrderStatus.COMPLETED):
            return  # nothing left to decide here (refunded, not yet delivered): the Chargeback row shows it
        now = timezone.now()
        dispute = Dispute.objects.create(
            order=order,
            buyer=order.buyer,
            merchant=order.merchant,
            reason=DisputeReason.OTHER,
            is_after_sale=order.status == OrderStatus.COMPLETED,
            opened_at=now,
            decision_due_at=now + timedelta(seconds=settings.KABAO_DISPUTE_DECISION_SECONDS),
        )
        order_transition(order=order, to=OrderStatus.DISPUTED, note="chargeback")
        dispute_record(dispute=dispute, kind=EventKind.OPENED, role=ActorRole.SYSTEM, message=note)
    dispute_escalate_locked(dispute=dispute, role=ActorRole.SYSTEM, actor=None, message=note)


def on_chargeback_closed(*, order_id: int | None, chargeback_id: int, status: str, **_: Any) -> None:
    if order_id is None:
        return
    dispute = Dispute.objects.filter(order_id=order_id).exclude(status="resolved").first()
    if dispute is not None:
        chargeback = Chargeback.objects.get(pk=chargeback_id)
        message = f"The bank closed chargeback {chargeback.provider_dispute_id}: {status}."
        dispute_record(dispute=dispute, kind=EventKind.MESSAGE, role=ActorRole.SYSTEM, message=message)
