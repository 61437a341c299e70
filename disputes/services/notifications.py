"""Tell the party who must act, with the deadline: by email (a task after commit) and on the site
(the dispute inbox and the queue list what waits for them)."""

from datetime import datetime

from django.db import transaction

from disputes.models import ActorRole, Dispute

SUBJECTS = {
    "dispute_opened": "A buyer opened a dispute: please answer",
    "merchant_replied": "The shop answered your dispute",
    "buyer_replied": "The buyer answered in a dispute",
    "platform_replied": "Kabao answered in a dispute",
    "replacement_delivered": "A replacement code was delivered",
    "offer_made": "The shop offered a refund",
    "offer_rejected": "The buyer rejected your offer",
    "escalated": "A dispute was escalated to the platform",
    "raised_to_senior": "A dispute was raised to senior arbitration",
    "resolved": "Your dispute was resolved",
}


def notify(dispute: Dispute, *, to: str, what: str, due_at: datetime | None) -> None:
    from disputes.tasks import send_dispute_email_task

    due = due_at.isoformat() if due_at else None
    # robust: the dispute's change is committed whatever the broker does; a notice it cannot take is
    # logged, and nothing waits on it (every deadline is a column the timers sweep).
    transaction.on_commit(lambda: send_dispute_email_task.delay(dispute.pk, to, what, due), robust=True)


Notice = tuple[int, str, str, str | None]  # dispute id, role to tell, what happened, due (ISO) or None


def notify_many(notices: list[Notice]) -> None:
    """The notices of one sweep batch: one task after commit for all of them (the worker sends one
    e-mail per recipient), instead of one enqueue per notice inside the sweep."""
    from disputes.tasks import send_dispute_emails_task

    if notices:
        transaction.on_commit(lambda: send_dispute_emails_task.delay(notices), robust=True)  # as notify


def notice(dispute: Dispute, *, to: str, what: str, due_at: datetime | None) -> Notice:
    return (dispute.pk, to, what, due_at.isoformat() if due_at else None)


def recipients(dispute: Dispute, role: str) -> list[str]:
    from accounts.models import User

    if role == ActorRole.BUYER:
        return [dispute.buyer.email]
    if role == ActorRole.MERCHANT:
        return list(
            User.objects.filter(membership__merchant=dispute.merchant_id).values_list("email", flat=True)
        )
    return list(User.objects.filter(is_staff=True, is_active=True).values_list("email", flat=True))
