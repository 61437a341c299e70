"""The dispute state machine: the one place that assigns Dispute.status and Dispute.level."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from disputes.models import ActorRole, Dispute, DisputeEvent, DisputeLevel, DisputeStatus, EventKind
from escrow.services import rows_update
from kabao.chains import chain_append
from kabao.errors import Conflict

S = DisputeStatus
ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    S.AWAITING_MERCHANT: {S.AWAITING_BUYER, S.ESCALATED, S.RESOLVED},
    S.AWAITING_BUYER: {S.AWAITING_MERCHANT, S.ESCALATED, S.RESOLVED},
    S.ESCALATED: {S.RESOLVED},
    S.RESOLVED: set(),
}


def dispute_qs_select_for_update() -> QuerySet[Dispute]:
    return Dispute.objects.select_for_update(of=("self",))


def dispute_lock(dispute_id: int) -> Dispute:
    return dispute_qs_select_for_update().select_related("order", "merchant", "buyer").get(pk=dispute_id)


def dispute_record(
    *,
    dispute: Dispute,
    kind: str,
    role: str,
    actor: User | None = None,
    message: str = "",
    amount: int | None = None,
    data: dict | None = None,
) -> DisputeEvent:
    event = DisputeEvent(
        dispute=dispute, kind=kind, role=role, actor=actor, message=message, amount=amount, data=data or {}
    )
    return disputes_record(events=[event])[0]


# The disputes' timelines in the advisory locks of kabao.chains (the orders' are 1).
DISPUTE_TIMELINES = 2


def disputes_record(*, events: Sequence[DisputeEvent]) -> list[DisputeEvent]:
    """Timeline rows, each linked to the last one of its dispute and hashed, written in one statement
    in the order given (the timeline orders by time, id)."""
    return chain_append(events, parent="dispute_id", namespace=DISPUTE_TIMELINES)


def _check_move(dispute: Dispute, to: str) -> None:
    if to not in ALLOWED_TRANSITIONS[dispute.status]:
        raise Conflict("invalid_state", f"A dispute that is {dispute.status} cannot become {to}.")


def disputes_set_status(*, disputes: Sequence[Dispute], to: str, also: Sequence[str] = ()) -> None:
    """`dispute_set_status` for a batch of locked disputes, written with one statement; `also` names
    the other fields the caller changed on them."""
    moving = [dispute for dispute in disputes if dispute.status != to]
    for dispute in moving:
        _check_move(dispute, to)
    now = timezone.now()
    for dispute in moving:
        dispute.status = to
        if to == S.RESOLVED:
            dispute.resolved_at = now
    fields = {"status", "resolved_at", *also} if to == S.RESOLVED else {"status", *also}
    rows_update(disputes, sorted(fields))


def dispute_set_status(*, dispute: Dispute, to: str) -> None:
    if to == dispute.status:
        return
    _check_move(dispute, to)
    dispute.status = to
    if to == S.RESOLVED:
        dispute.resolved_at = timezone.now()
    dispute.save()


def dispute_escalate_locked(*, dispute: Dispute, role: str, actor: User | None, message: str = "") -> None:
    """Up to the platform queue: the platform owes its first feedback within its deadline."""
    if dispute.level != DisputeLevel.MERCHANT:
        return
    now = timezone.now()
    dispute.level = DisputeLevel.PLATFORM
    dispute.escalated_at = now
    dispute.platform_feedback_due_at = now + timedelta(
        seconds=settings.KABAO_DISPUTE_PLATFORM_FEEDBACK_SECONDS
    )
    dispute.remedy_objection_due_at = None
    dispute_set_status(dispute=dispute, to=S.ESCALATED)
    dispute_record(
        dispute=dispute,
        kind=EventKind.ESCALATED,
        role=role,
        actor=actor,
        message=message,
        data={"due_at": dispute.platform_feedback_due_at.isoformat()},
    )


def disputes_escalate_locked(*, disputes: Sequence[Dispute], events_before: Sequence[DisputeEvent]) -> None:
    """Escalate a batch of locked disputes for the system (the merchant-silence sweep): the same
    moves and events as `dispute_escalate_locked`, one statement for the rows and one for the events.
    `events_before[i]` is written just before the escalation event of `disputes[i]`."""
    now = timezone.now()
    due_at = now + timedelta(seconds=settings.KABAO_DISPUTE_PLATFORM_FEEDBACK_SECONDS)
    events: list[DisputeEvent] = []
    moving = []
    for dispute, before in zip(disputes, events_before, strict=True):
        events.append(before)
        if dispute.level != DisputeLevel.MERCHANT:
            continue
        dispute.level = DisputeLevel.PLATFORM
        dispute.escalated_at = now
        dispute.platform_feedback_due_at = due_at
        dispute.remedy_objection_due_at = None
        moving.append(dispute)
        events.append(
            DisputeEvent(
                dispute=dispute,
                kind=EventKind.ESCALATED,
                role=ActorRole.SYSTEM,
                data={"due_at": due_at.isoformat()},
                at=now,
            )
        )
    disputes_set_status(
        disputes=moving,
        to=S.ESCALATED,
        also=("level", "escalated_at", "platform_feedback_due_at", "remedy_objection_due_at"),
    )
    disputes_record(events=events)


def dispute_raise_to_senior_locked(*, dispute: Dispute) -> None:
    dispute.level = DisputeLevel.SENIOR
    dispute.save(update_fields=["level"])
    dispute_record(
        dispute=dispute,
        kind=EventKind.RAISED_TO_SENIOR,
        role=ActorRole.SYSTEM,
        data={"missed": "platform_feedback_due_at"},
    )


def next_deadline(dispute: Dispute) -> tuple[str, datetime] | None:
    """The deadline that matters now, for countdowns and the queue."""
    if dispute.status == S.RESOLVED:
        return None
    if dispute.status == S.AWAITING_BUYER and dispute.remedy_objection_due_at:
        return "remedy_objection_due_at", dispute.remedy_objection_due_at
    candidates = [("decision_due_at", dispute.decision_due_at)]
    if (
        dispute.level == DisputeLevel.MERCHANT
        and dispute.merchant_first_response_at is None
        and dispute.merchant_response_due_at
    ):
        candidates.append(("merchant_response_due_at", dispute.merchant_response_due_at))
    if (
        dispute.level == DisputeLevel.PLATFORM
        and dispute.platform_first_feedback_at is None
        and dispute.platform_feedback_due_at
    ):
        candidates.append(("platform_feedback_due_at", dispute.platform_feedback_due_at))
    return min(candidates, key=lambda item: item[1])
