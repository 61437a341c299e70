"""Reads for disputes: who sees what, the platform queue, and the evidence of an order."""

from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from disputes.models import Dispute, DisputeLevel, DisputeStatus
from disputes.services.transitions import next_deadline
from kabao.errors import NotFound
from marketplace.models import Code, Order
from merchants.selectors import merchant_of

NEAR_BREACH = timedelta(hours=2)
ESCALATED_LEVELS = (DisputeLevel.PLATFORM, DisputeLevel.SENIOR)


def disputes_visible_to(user: User) -> QuerySet[Dispute]:
    """The buyer's own, the shop's, or (staff) all."""
    base = Dispute.objects.select_related("order", "order__product", "merchant", "buyer")
    if user.is_staff:
        return base
    merchant = merchant_of(user)
    visible = Q(buyer=user)
    if merchant is not None:
        visible |= Q(merchant=merchant)
    return base.filter(visible)


def dispute_visible_to(user: User, dispute_id: int) -> Dispute:
    dispute = disputes_visible_to(user).filter(pk=dispute_id).first()
    if dispute is None:
        raise NotFound("No such dispute.")
    return dispute


def order_dispute_summary(order: Order) -> dict | None:
    dispute = Dispute.objects.filter(order=order).order_by("-opened_at").first()
    if dispute is None:
        return None
    return {
        "id": dispute.pk,
        "status": dispute.status,
        "status_label": dispute.get_status_display(),
        "level": dispute.level,
        "url": reverse("disputes:detail", kwargs={"dispute_id": dispute.pk}),
    }


def platform_queue(*, level: str = "", reason: str = "", flagged_only: bool = False) -> list[Dispute]:
    """Escalated disputes, nearest deadline first, each with `deadline_name`, `deadline_at` and flags."""
    disputes = Dispute.objects.select_related("order", "order__product", "merchant", "buyer").filter(
        ~Q(status=DisputeStatus.RESOLVED), level__in=ESCALATED_LEVELS
    )
    if level:
        disputes = disputes.filter(level=level)
    if reason:
        disputes = disputes.filter(reason=reason)
    now = timezone.now()
    queue = []
    for dispute in disputes:
        name, at = next_deadline(dispute) or ("", dispute.decision_due_at)
        dispute.deadline_name, dispute.deadline_at = name, at  # type: ignore[attr-defined]
        dispute.is_breached = at <= now or dispute.level == DisputeLevel.SENIOR  # type: ignore[attr-defined]
        dispute.is_near_breach = not dispute.is_breached and at - now <= NEAR_BREACH  # type: ignore[attr-defined]
        if flagged_only and not (dispute.is_breached or dispute.is_near_breach):  # type: ignore[attr-defined]
            continue
        queue.append(dispute)
    queue.sort(key=lambda d: d.deadline_at)  # type: ignore[attr-defined]
    return queue


def queue_position(dispute: Dispute) -> int | None:
    """1 for the dispute the platform will look at first; None when not in the queue."""
    if dispute.status == DisputeStatus.RESOLVED or dispute.level not in ESCALATED_LEVELS:
        return None
    ahead = Dispute.objects.filter(
        ~Q(status=DisputeStatus.RESOLVED),
        level__in=ESCALATED_LEVELS,
        decision_due_at__lt=dispute.decision_due_at,
    ).count()
    return ahead + 1


def order_evidence(dispute: Dispute) -> dict:
    """What the arbitrator needs on one screen: delivery and reveal times, code hashes, history."""
    order = dispute.order
    codes = list(Code.objects.filter(order=order).order_by("id"))
    fingerprints = [code.fingerprint for code in codes]
    return {
        "order": order,
        "paid_at": order.paid_at,
        "delivered_at": order.delivered_at,
        "codes_revealed_at": order.codes_revealed_at,
        "codes": [
            {
                "masked": code.masked,
                "fingerprint": code.fingerprint,
                "sold_at": code.sold_at,
                "replaced_at": code.replaced_at,
            }
            for code in codes
        ],
        "prior_disputes_same_code": Dispute.objects.filter(order__codes__fingerprint__in=fingerprints)
        .exclude(pk=dispute.pk)
        .distinct()
        .count(),
        "prior_disputes_same_shop": Dispute.objects.filter(merchant=dispute.merchant)
        .exclude(pk=dispute.pk)
        .count(),
        "prior_disputes_same_buyer": Dispute.objects.filter(buyer=dispute.buyer)
        .exclude(pk=dispute.pk)
        .count(),
    }


def deadline_payload(dispute: Dispute) -> dict[str, datetime | None]:
    return {
        "merchant_response_due_at": dispute.merchant_response_due_at,
        "platform_feedback_due_at": dispute.platform_feedback_due_at,
        "decision_due_at": dispute.decision_due_at,
        "remedy_objection_due_at": dispute.remedy_objection_due_at,
    }
