"""The shop's remedies and the buyer's answer to them."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from disputes.models import (
    ActorRole,
    Dispute,
    DisputeStatus,
    EventKind,
    Offer,
    OfferKind,
    OfferStatus,
    Resolution,
)
from disputes.services.common import clean_message, mark_merchant_answered, role_of
from disputes.services.notifications import notify
from disputes.services.resolution import resolve_locked
from disputes.services.transitions import dispute_lock, dispute_record, dispute_set_status
from kabao.errors import Conflict, DomainError, NotFound
from marketplace.models import Code, CodeStatus
from marketplace.services.refunds import replace_codes_locked
from marketplace.services.transitions import order_lock


def replace_locked(*, dispute: Dispute, role: str, actor: User | None) -> None:
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
    mark_merchant_answered(dispute)
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
    message = clean_message(message, required=False)
    with transaction.atomic(durable=True):
        dispute = dispute_lock(dispute.pk)
        if dispute.status not in (DisputeStatus.AWAITING_MERCHANT, DisputeStatus.AWAITING_BUYER):
            raise Conflict("invalid_state", "Offers are made before the dispute is escalated or resolved.")
        order_lock(dispute.order_id)
        dispute.order.refresh_from_db()
        if kind == OfferKind.REPLACEMENT:
            Offer.objects.create(dispute=dispute, kind=kind, status=OfferStatus.ACCEPTED)
            replace_locked(dispute=dispute, role=ActorRole.MERCHANT, actor=actor)
        elif kind == OfferKind.REFUND:
            Offer.objects.create(dispute=dispute, kind=kind, status=OfferStatus.ACCEPTED)
            mark_merchant_answered(dispute)
            resolve_locked(
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
            mark_merchant_answered(dispute)
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
            resolve_locked(
                dispute=dispute,
                resolution=Resolution.PARTIAL_REFUND,
                amount=pending.amount,
                note="",
                role=ActorRole.BUYER,
                actor=actor,
            )
        elif accept:
            resolve_locked(
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
