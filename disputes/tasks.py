from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMessage, get_connection, send_mail
from django.db import OperationalError

from disputes.models import ActorRole, Dispute
from disputes.services.notifications import SUBJECTS, recipients
from disputes.services.timers import sweep_dispute_deadlines


@shared_task
def sweep_dispute_deadlines_task() -> dict[str, int]:
    return sweep_dispute_deadlines()


def _body(dispute: Dispute, what: str, due_at: str | None) -> str:
    lines = [f"Dispute #{dispute.pk} on order #{dispute.order_id}: {SUBJECTS.get(what, what)}."]
    if due_at:
        lines.append(f"Please act before {due_at} (UTC); after that Kabao acts automatically.")
    lines.append(f"{settings.KABAO_BASE_URL}/disputes/{dispute.pk}/")
    return "\n".join(lines)


@shared_task(autoretry_for=(OperationalError, OSError), retry_backoff=5, max_retries=5)
def send_dispute_email_task(dispute_id: int, role: str, what: str, due_at: str | None) -> None:
    dispute = Dispute.objects.select_related("buyer", "order").get(pk=dispute_id)
    send_mail(
        subject=f"[Kabao] {SUBJECTS.get(what, what)}",
        message=_body(dispute, what, due_at),
        from_email=None,
        recipient_list=recipients(dispute, role),
    )


@shared_task(autoretry_for=(OperationalError, OSError), retry_backoff=5, max_retries=5)
def send_dispute_emails_task(notices: list[tuple[int, str, str, str | None]]) -> int:
    """A sweep batch's notices: one e-mail per recipient, over one connection. Someone told of one
    dispute gets the same e-mail as `send_dispute_email_task` sends; someone told of several gets one
    listing them all. Returns how many e-mails were sent."""
    disputes = Dispute.objects.select_related("buyer").in_bulk({dispute_id for dispute_id, *_ in notices})
    staff: list[str] | None = None
    members: dict[int, list[str]] = {}
    parts: dict[str, list[tuple[str, str]]] = {}  # e-mail address -> (subject, body) per notice
    for dispute_id, role, what, due_at in notices:
        dispute = disputes[dispute_id]
        if role == ActorRole.STAFF:
            staff = staff if staff is not None else recipients(dispute, role)
            addresses = staff
        elif role == ActorRole.MERCHANT:
            if dispute.merchant_id not in members:
                members[dispute.merchant_id] = recipients(dispute, role)
            addresses = members[dispute.merchant_id]
        else:
            addresses = recipients(dispute, role)
        for address in addresses:
            parts.setdefault(address, []).append((SUBJECTS.get(what, what), _body(dispute, what, due_at)))
    messages = []
    for address, items in parts.items():
        if len(items) == 1:
            subject = f"[Kabao] {items[0][0]}"
        else:
            subject = f"[Kabao] {len(items)} disputes need your attention"
        body = "\n\n".join(text for _, text in items)
        messages.append(EmailMessage(subject=subject, body=body, to=[address]))
    with get_connection() as connection:
        return connection.send_messages(messages) or 0
