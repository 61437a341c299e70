"""Ending a dispute: the money moves (disputes.services.money), the timeline and both sides are told."""

from collections.abc import Sequence

from accounts.models import User
from disputes.models import ActorRole, Dispute, DisputeEvent, DisputeStatus, EventKind, Resolution
from disputes.services.money import refund_in_full_and_compensate_locked, settle_locked
from disputes.services.notifications import notice, notify, notify_many
from disputes.services.transitions import (
    dispute_record,
    dispute_set_status,
    disputes_record,
    disputes_set_status,
)


def resolve_locked(
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
    resolve_locked(
        dispute=dispute,
        resolution=resolution,
        amount=None,
        note="",
        role=ActorRole.SYSTEM,
        actor=None,
        compensation=compensation,
    )


def resolve_by_decision_deadline_locked(*, disputes: Sequence[Dispute]) -> None:
    """The platform missed its decision deadline on each of these locked disputes (orders locked, each
    with its payment read under that lock): the buyer gets back what is left of the payment, plus the
    compensation. The same rows and notices as `resolve_locked_by_timer` with a refund, written per
    batch: the timeline events, the refunds and compensations, the disputes, then one notice task."""
    missed = [
        DisputeEvent(
            dispute=dispute,
            kind=EventKind.DEADLINE_MISSED,
            role=ActorRole.SYSTEM,
            data={"missed": "decision_due_at"},
        )
        for dispute in disputes
    ]
    disputes_record(events=missed)
    refund_in_full_and_compensate_locked(
        disputes=disputes, note_of=lambda dispute: f"dispute_{dispute.pk}_{Resolution.REFUND}"
    )
    for dispute in disputes:
        dispute.resolution = Resolution.REFUND
        dispute.decision_note = ""
        dispute.remedy_objection_due_at = None
    disputes_set_status(
        disputes=disputes,
        to=DisputeStatus.RESOLVED,
        also=(
            "resolution",
            "refunded_amount",
            "compensation_amount",
            "decision_note",
            "remedy_objection_due_at",
        ),
    )
    disputes_record(
        events=[
            DisputeEvent(
                dispute=dispute,
                kind=EventKind.RESOLVED,
                role=ActorRole.SYSTEM,
                message="",
                amount=dispute.refunded_amount,
                data={"resolution": Resolution.REFUND, "compensation": dispute.compensation_amount},
            )
            for dispute in disputes
        ]
    )
    notify_many(
        [
            notice(dispute, to=role, what="resolved", due_at=None)
            for dispute in disputes
            for role in (ActorRole.BUYER, ActorRole.MERCHANT)
        ]
    )
