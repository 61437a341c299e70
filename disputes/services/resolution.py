"""Ending a dispute: the money moves (disputes.services.money), the timeline and both sides are told."""

from accounts.models import User
from disputes.models import ActorRole, Dispute, DisputeStatus, EventKind
from disputes.services.money import settle_locked
from disputes.services.notifications import notify
from disputes.services.transitions import dispute_record, dispute_set_status


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
