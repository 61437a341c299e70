"""Opening, answering, escalating and deciding disputes (remedies are in `remedies`)."""

from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from disputes.models import (
    ActorRole,
    Dispute,
    DisputeLevel,
    DisputeReason,
    DisputeStatus,
    EventKind,
    Resolution,
)
from disputes.services.attachments import attachments_save, attachments_validate
from disputes.services.common import clean_message, mark_merchant_answered, role_of
from disputes.services.notifications import notify
from disputes.services.remedies import replace_locked
from disputes.services.resolution import resolve_locked
from disputes.services.transitions import (
    dispute_escalate_locked,
    dispute_lock,
    dispute_record,
    dispute_set_status,
)
from escrow.models import HoldStatus
from escrow.services import hold_set_frozen
from kabao.errors import Conflict, DomainError, NotFound
from marketplace.models import OrderStatus
from marketplace.services.transitions import order_lock, order_transition


def dispute_open(
    *,
    order_id: int,
    buyer: User,
    reason: str,
    message: str,
    attachments: Sequence[UploadedFile] = (),
) -> Dispute:
    """The buyer complains: the escrow hold freezes and the merchant's clock starts."""
    if reason not in DisputeReason.values:
        raise DomainError("invalid", "Unknown reason.", fields={"reason": [f"one of {DisputeReason.values}"]})
    message = clean_message(message, required=True)
    attachments_validate(attachments)
    try:
        with transaction.atomic(durable=True):
            order = order_lock(order_id)
            if order.buyer_id != buyer.pk:
                raise NotFound("No such order.")
            now = timezone.now()
            after_sale_ends = (order.completed_at or now) + timedelta(
                seconds=settings.KABAO_AFTER_SALE_SECONDS
            )
            if order.status == OrderStatus.COMPLETED and now > after_sale_ends:
                raise Conflict("after_sale_window_closed", "The after-sale window of this order has ended.")
            if order.status not in (OrderStatus.DELIVERED, OrderStatus.COMPLETED):
                raise Conflict("invalid_state", f"An order that is {order.status} cannot be disputed.")
            is_after_sale = order.status == OrderStatus.COMPLETED
            merchant_response_due_at = now + timedelta(
                seconds=settings.KABAO_DISPUTE_MERCHANT_RESPONSE_SECONDS
            )
            dispute = Dispute.objects.create(
                order=order,
                buyer=buyer,
                merchant=order.merchant,
                reason=reason,
                is_after_sale=is_after_sale,
                opened_at=now,
                merchant_response_due_at=merchant_response_due_at,
                decision_due_at=now + timedelta(seconds=settings.KABAO_DISPUTE_DECISION_SECONDS),
            )
            order_transition(order=order, to=OrderStatus.DISPUTED, actor=buyer, note=reason)
            if order.hold is not None and order.hold.status == HoldStatus.HELD:
                hold_set_frozen(hold=order.hold, is_frozen=True)
            event = dispute_record(
                dispute=dispute,
                kind=EventKind.OPENED,
                role=ActorRole.BUYER,
                actor=buyer,
                message=message,
                data={
                    "reason": reason,
                    "merchant_response_due_at": merchant_response_due_at.isoformat(),
                },
            )
            attachments_save(event, attachments)
            if reason == DisputeReason.INVALID_CODE and order.product.auto_replace_invalid:
                replace_locked(dispute=dispute, role=ActorRole.SYSTEM, actor=None)
            else:
                notify(
                    dispute,
                    to=ActorRole.MERCHANT,
                    what="dispute_opened",
                    due_at=merchant_response_due_at,
                )
    except IntegrityError as exc:
        raise Conflict("dispute_already_open", "This order already has an open dispute.") from exc
    return dispute


def dispute_post_message(
    *, dispute: Dispute, actor: User, message: str, attachments: Sequence[UploadedFile] = ()
) -> Dispute:
    role = role_of(dispute, actor)
    message = clean_message(message, required=True)
    attachments_validate(attachments)
    with transaction.atomic(durable=True):
        dispute = dispute_lock(dispute.pk)
        if not dispute.is_open:
            raise Conflict("dispute_resolved", "This dispute is resolved.")
        event = dispute_record(
            dispute=dispute, kind=EventKind.MESSAGE, role=role, actor=actor, message=message
        )
        attachments_save(event, attachments)
        if role == ActorRole.MERCHANT:
            mark_merchant_answered(dispute)
            if dispute.status == DisputeStatus.AWAITING_MERCHANT:
                dispute_set_status(dispute=dispute, to=DisputeStatus.AWAITING_BUYER)
            notify(dispute, to=ActorRole.BUYER, what="merchant_replied", due_at=None)
        elif role == ActorRole.BUYER:
            if dispute.status == DisputeStatus.AWAITING_BUYER and dispute.remedy_objection_due_at is None:
                dispute_set_status(dispute=dispute, to=DisputeStatus.AWAITING_MERCHANT)
            notify(
                dispute,
                to=ActorRole.STAFF if dispute.level != DisputeLevel.MERCHANT else ActorRole.MERCHANT,
                what="buyer_replied",
                due_at=None,
            )
        elif role == ActorRole.STAFF and dispute.level != DisputeLevel.MERCHANT:
            if dispute.platform_first_feedback_at is None:
                dispute.platform_first_feedback_at = timezone.now()
                dispute.save(update_fields=["platform_first_feedback_at"])
            notify(dispute, to=ActorRole.BUYER, what="platform_replied", due_at=None)
            notify(dispute, to=ActorRole.MERCHANT, what="platform_replied", due_at=None)
    return dispute


def dispute_escalate(*, dispute: Dispute, actor: User, message: str = "") -> Dispute:
    """The buyer takes the dispute to the platform, any time after the merchant's first answer."""
    if role_of(dispute, actor) != ActorRole.BUYER:
        raise DomainError("permission_denied", "Only the buyer escalates a dispute.", status=403)
    message = clean_message(message, required=False)
    with transaction.atomic(durable=True):
        dispute = dispute_lock(dispute.pk)
        if not dispute.is_open:
            raise Conflict("dispute_resolved", "This dispute is resolved.")
        if dispute.level != DisputeLevel.MERCHANT:
            return dispute
        if dispute.merchant_first_response_at is None:
            raise Conflict(
                "too_early", "Give the shop its chance to answer first; silence escalates by itself."
            )
        dispute_escalate_locked(dispute=dispute, role=ActorRole.BUYER, actor=actor, message=message)
        notify(dispute, to=ActorRole.STAFF, what="escalated", due_at=dispute.platform_feedback_due_at)
    return dispute


def dispute_resolve(
    *, dispute: Dispute, actor: User, outcome: str, amount: int | None = None, note: str = ""
) -> Dispute:
    """A decision: staff decide anything; a shop may only refund in full."""
    role = role_of(dispute, actor)
    if outcome not in (Resolution.REFUND, Resolution.RELEASE, Resolution.PARTIAL_REFUND):
        raise DomainError(
            "invalid", "outcome is refund, release or partial_refund.", fields={"outcome": ["invalid"]}
        )
    if role == ActorRole.BUYER or (role == ActorRole.MERCHANT and outcome != Resolution.REFUND):
        raise DomainError("permission_denied", "Only staff decide this dispute.", status=403)
    note = clean_message(note, required=False)
    with transaction.atomic(durable=True):
        dispute = dispute_lock(dispute.pk)
        if not dispute.is_open:
            raise Conflict("dispute_resolved", "This dispute is already resolved.")
        order_lock(dispute.order_id)
        dispute.order.refresh_from_db()
        resolve_locked(dispute=dispute, resolution=outcome, amount=amount, note=note, role=role, actor=actor)
    return dispute
