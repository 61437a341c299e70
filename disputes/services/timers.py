"""SLA timers: each deadline is a column, swept by beat, acted on once.

- merchant silent past `merchant_response_due_at`       -> escalated to the platform queue
- platform silent past `platform_feedback_due_at`        -> raised to senior arbitration
- no decision by `decision_due_at` (72 h from opening)   -> buyer refunded in full + compensation
- a delivered remedy unanswered past `remedy_objection_due_at` -> resolved (the merchant is paid)
A dispute never closes because the buyer went quiet while nothing was remedied.
"""

from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from disputes.models import ActorRole, Dispute, DisputeLevel, DisputeStatus, EventKind, Resolution
from disputes.services.money import compensation_for
from disputes.services.notifications import notify
from disputes.services.resolution import resolve_locked_by_timer
from disputes.services.transitions import (
    dispute_escalate_locked,
    dispute_raise_to_senior_locked,
    dispute_record,
)
from kabao.sweeps import sweep_due
from marketplace.services.transitions import order_lock

OPEN = ~Q(status=DisputeStatus.RESOLVED)


def _due(condition: Q) -> QuerySet[Dispute]:
    return Dispute.objects.select_related("order", "buyer", "merchant").filter(condition)


def _merchant_missed(dispute: Dispute) -> None:
    dispute_record(
        dispute=dispute,
        kind=EventKind.DEADLINE_MISSED,
        role=ActorRole.SYSTEM,
        data={"missed": "merchant_response_due_at"},
    )
    dispute_escalate_locked(dispute=dispute, role=ActorRole.SYSTEM, actor=None)
    notify(dispute, to=ActorRole.STAFF, what="escalated", due_at=dispute.platform_feedback_due_at)


def sweep_merchant_silence(*, now: datetime) -> int:
    due = _due(
        Q(
            status=DisputeStatus.AWAITING_MERCHANT,
            level=DisputeLevel.MERCHANT,
            merchant_first_response_at__isnull=True,
            merchant_response_due_at__lte=now,
        )
    )
    return sweep_due(due, _merchant_missed, order_by="merchant_response_due_at")


def _platform_missed(dispute: Dispute) -> None:
    dispute_raise_to_senior_locked(dispute=dispute)
    notify(dispute, to=ActorRole.STAFF, what="raised_to_senior", due_at=dispute.decision_due_at)


def sweep_platform_silence(*, now: datetime) -> int:
    due = _due(
        OPEN
        & Q(
            level=DisputeLevel.PLATFORM,
            platform_first_feedback_at__isnull=True,
            platform_feedback_due_at__lte=now,
        )
    )
    return sweep_due(due, _platform_missed, order_by="platform_feedback_due_at")


def _decision_missed(dispute: Dispute) -> None:
    order_lock(dispute.order_id)
    dispute.order.refresh_from_db()
    dispute_record(
        dispute=dispute,
        kind=EventKind.DEADLINE_MISSED,
        role=ActorRole.SYSTEM,
        data={"missed": "decision_due_at"},
    )
    resolve_locked_by_timer(
        dispute=dispute, resolution=Resolution.REFUND, compensation=compensation_for(dispute)
    )


def sweep_decision_deadline(*, now: datetime) -> int:
    # A remedy the merchant delivered runs its own objection window instead.
    waiting_on_remedy = Q(status=DisputeStatus.AWAITING_BUYER, remedy_objection_due_at__isnull=False)
    due = _due(OPEN & Q(decision_due_at__lte=now) & ~waiting_on_remedy)
    return sweep_due(due, _decision_missed, order_by="decision_due_at")


def _remedy_unopposed(dispute: Dispute) -> None:
    order_lock(dispute.order_id)
    dispute.order.refresh_from_db()
    resolve_locked_by_timer(dispute=dispute, resolution=Resolution.REPLACEMENT, compensation=0)


def sweep_remedy_objection(*, now: datetime) -> int:
    due = _due(Q(status=DisputeStatus.AWAITING_BUYER, remedy_objection_due_at__lte=now))
    return sweep_due(due, _remedy_unopposed, order_by="remedy_objection_due_at")


def sweep_dispute_deadlines(*, now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    return {
        "escalated": sweep_merchant_silence(now=now),
        "raised_to_senior": sweep_platform_silence(now=now),
        "refunded_by_deadline": sweep_decision_deadline(now=now),
        "closed_after_remedy": sweep_remedy_objection(now=now),
    }
