"""Opening, answering, remedying, escalating and deciding disputes."""

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
    Offer,
    OfferKind,
    OfferStatus,
    Resolution,
)
from disputes.services.attachments import attachments_save, attachments_validate
from disputes.services.money import settle_locked
from disputes.services.notifications import notify
from disputes.services.transitions import (
    dispute_escalate_locked,
    dispute_lock,
    dispute_record,
    dispute_set_status,
)
from escrow.models import HoldStatus
from escrow.services import hold_set_frozen
from kabao.errors import Conflict, DomainError, NotFound
from marketplace.models import Code, CodeStatus, OrderStatus
from marketplace.services.refunds import replace_codes_locked
from marketplace.services.transitions import order_lock, order_transition
from merchants.models import Membership
from merchants.services import merchant_record_first_response

MAX_MESSAGE = 4000


def role_of(dispute: Dispute, user: User) -> str:
    """The reader's part in this dispute; anyone else gets 404, as if it did not exist."""
    if user.is_authenticated:
        if dispute.buyer_id == user.pk:
            return ActorRole.BUYER
        if Membership.objects.filter(user=user, merchant_id=dispute.merchant_id).exists():
            return ActorRole.MERCHANT
        if user.is_staff:
            return ActorRole.STAFF
    raise NotFound("No such dispute.")


def _clean_message(message: str, *, required: bool) -> str:
    message = (message or "").strip()
    if required and not message:
        raise DomainError("invalid", "A message is required.", fields={"message": ["required"]})
    if len(message) > MAX_MESSAGE:
        raise DomainError("invalid", f"At most {MAX_MESSAGE} characters.", fields={"message": ["too long"]})
    return message


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
    message = _clean_message(message, required=True)
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
                _replace_locked(dispute=dispute, role=ActorRole.SYSTEM, actor=None)
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


def _mark_merchant_answered(dispute: Dispute) -> None:
    """The shop's first answer stops its clock and feeds its public first-response figure."""
    if dispute.merchant_first_response_at is None:
        dispute.merchant_first_response_at = timezone.now()
        dispute.save(update_fields=["merchant_first_response_at"])
        seconds = int((dispute.merchant_first_response_at - dispute.opened_at).total_seconds())
        merchant_record_first_response(merchant=dispute.merchant, seconds=seconds)


def dispute_post_message(
    *, dispute: Dispute, actor: User, message: str, attachments: Sequence[UploadedFile] = ()
) -> Dispute:
    role = role_of(dispute, actor)
    message = _clean_message(message, required=True)
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
            _mark_merchant_answered(dispute)
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


def _replace_locked(*, dispute: Dispute, role: str, actor: User | None) -> None:
    order = dispute.order
    current = list(
        Code.objects.select_for_update()
        .filter(order=order, status=CodeStatus.SOLD, replaced_at__isnull=True)
        .order_by("id")
    )
    fresh = replace_codes_locked(order=order, codes=current)
    dispute.remedy_objection_due_at = timezone.now() + timedelta(
        seconds=settings.KABAO_DISPUTE_REMEDY_OBJECTION_SECONDS
    )
    dispute.save(update_fields=["remedy_objection_due_at"])
    _mark_merchant_answered(dispute)
    dispute_set_status(dispute=dispute, to=DisputeStatus.AWAITING_BUYER)
    dispute_record(
        dispute=dispute,
        kind=EventKind.REPLACEMENT_DELIVERED,
        role=role,
        actor=actor,
        data={
            "replaced": [code.masked for code in current],
            "delivered": [code.masked for code in fresh],
            "objection_due_at": dispute.remedy_objection_due_at.isoformat(),
        },
    )
    notify(dispute, to=ActorRole.BUYER, what="replacement_delivered", due_at=dispute.remedy_objection_due_at)


def dispute_offer(
    *, dispute: Dispute, actor: User, kind: str, amount: int | None = None, message: str = ""
) -> Dispute:
    """The merchant's remedy. A replacement or a full refund happens at once; a partial refund waits
    for the buyer's answer."""
    if role_of(dispute, actor) != ActorRole.MERCHANT:
        raise DomainError("permission_denied", "Only the shop makes offers.", status=403)
    if kind not in OfferKind.values:
        raise DomainError("invalid", "Unknown offer.", fields={"kind": [f"one of {OfferKind.values}"]})
    message = _clean_message(message, required=False)
    with transaction.atomic(durable=True):
        dispute = dispute_lock(dispute.pk)
        if dispute.status not in (DisputeStatus.AWAITING_MERCHANT, DisputeStatus.AWAITING_BUYER):
            raise Conflict("invalid_state", "Offers are made before the dispute is escalated or resolved.")
        order_lock(dispute.order_id)
        dispute.order.refresh_from_db()
        if kind == OfferKind.REPLACEMENT:
            Offer.objects.create(dispute=dispute, kind=kind, status=OfferStatus.ACCEPTED)
            _replace_locked(dispute=dispute, role=ActorRole.MERCHANT, actor=actor)
        elif kind == OfferKind.REFUND:
            Offer.objects.create(dispute=dispute, kind=kind, status=OfferStatus.ACCEPTED)
            _mark_merchant_answered(dispute)
            _resolve_locked(
                dispute=dispute,
                resolution=Resolution.REFUND,
                amount=None,
                note=message,
                role=ActorRole.MERCHANT,
                actor=actor,
            )
        else:
            remaining = dispute.order.payment.amount - dispute.order.payment.refunded_amount
            if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount < remaining:
                raise DomainError(
                    "invalid_amount",
                    f"A partial refund is between 1 and {remaining - 1}.",
                    fields={"amount": ["out of range"]},
                )
            Offer.objects.filter(dispute=dispute, status=OfferStatus.PENDING).update(
                status=OfferStatus.REJECTED
            )
            Offer.objects.create(dispute=dispute, kind=kind, amount=amount)
            _mark_merchant_answered(dispute)
            dispute_set_status(dispute=dispute, to=DisputeStatus.AWAITING_BUYER)
            dispute_record(
                dispute=dispute,
                kind=EventKind.OFFER,
                role=ActorRole.MERCHANT,
                actor=actor,
                message=message,
                amount=amount,
                data={"kind": kind},
            )
            notify(dispute, to=ActorRole.BUYER, what="offer_made", due_at=None)
    return dispute


def dispute_answer_offer(*, dispute: Dispute, actor: User, accept: bool) -> Dispute:
    """The buyer accepts the pending partial refund or the delivered replacement, or rejects it."""
    if role_of(dispute, actor) != ActorRole.BUYER:
        raise NotFound("No such dispute.")
    with transaction.atomic(durable=True):
        dispute = dispute_lock(dispute.pk)
        if dispute.status != DisputeStatus.AWAITING_BUYER:
            raise Conflict("invalid_state", "There is nothing to accept or reject now.")
        order_lock(dispute.order_id)
        dispute.order.refresh_from_db()
        pending = Offer.objects.filter(dispute=dispute, status=OfferStatus.PENDING).order_by("-id").first()
        has_remedy = dispute.remedy_objection_due_at is not None
        if pending is None and not has_remedy:
            raise Conflict("no_offer", "The shop has not offered anything yet.")
        kind = EventKind.OFFER_ACCEPTED if accept else EventKind.OFFER_REJECTED
        dispute_record(
            dispute=dispute,
            kind=kind,
            role=ActorRole.BUYER,
            actor=actor,
            amount=pending.amount if pending else None,
        )
        if pending is not None:
            pending.status = OfferStatus.ACCEPTED if accept else OfferStatus.REJECTED
            pending.save(update_fields=["status"])
        if accept and pending is not None:
            _resolve_locked(
                dispute=dispute,
                resolution=Resolution.PARTIAL_REFUND,
                amount=pending.amount,
                note="",
                role=ActorRole.BUYER,
                actor=actor,
            )
        elif accept:
            _resolve_locked(
                dispute=dispute,
                resolution=Resolution.REPLACEMENT,
                amount=None,
                note="",
                role=ActorRole.BUYER,
                actor=actor,
            )
        else:
            dispute.remedy_objection_due_at = None
            dispute.save(update_fields=["remedy_objection_due_at"])
            dispute_set_status(dispute=dispute, to=DisputeStatus.AWAITING_MERCHANT)
            notify(dispute, to=ActorRole.MERCHANT, what="offer_rejected", due_at=None)
    return dispute


def dispute_escalate(*, dispute: Dispute, actor: User, message: str = "") -> Dispute:
    """The buyer takes the dispute to the platform, any time after the merchant's first answer."""
    if role_of(dispute, actor) != ActorRole.BUYER:
        raise DomainError("permission_denied", "Only the buyer escalates a dispute.", status=403)
    message = _clean_message(message, required=False)
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
    note = _clean_message(note, required=False)
    with transaction.atomic(durable=True):
        dispute = dispute_lock(dispute.pk)
        if not dispute.is_open:
            raise Conflict("dispute_resolved", "This dispute is already resolved.")
        order_lock(dispute.order_id)
        dispute.order.refresh_from_db()
        _resolve_locked(dispute=dispute, resolution=outcome, amount=amount, note=note, role=role, actor=actor)
    return dispute


def _resolve_locked(
    *,
    dispute: Dispute,
    resolution: str,
    amount: int | None,
    note: str,
    role: str,
    actor: User | None,
    compensation: int = 0,
) -> None:
    refunded = settle_locked(
        dispute=dispute, resolution=resolution, amount=amount, actor=actor, compensation=compensation
    )
    dispute.resolution = resolution
    dispute.refunded_amount = refunded
    dispute.compensation_amount = compensation
    dispute.decision_note = note
    dispute.remedy_objection_due_at = None
    dispute_set_status(dispute=dispute, to=DisputeStatus.RESOLVED)
    dispute_record(
        dispute=dispute,
        kind=EventKind.RESOLVED,
        role=role,
        actor=actor,
        message=note,
        amount=refunded,
        data={"resolution": resolution, "compensation": compensation},
    )
    notify(dispute, to=ActorRole.BUYER, what="resolved", due_at=None)
    notify(dispute, to=ActorRole.MERCHANT, what="resolved", due_at=None)


def resolve_locked_by_timer(*, dispute: Dispute, resolution: str, compensation: int) -> None:
    _resolve_locked(
        dispute=dispute,
        resolution=resolution,
        amount=None,
        note="",
        role=ActorRole.SYSTEM,
        actor=None,
        compensation=compensation,
    )
