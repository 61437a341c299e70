from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import OperationalError

from disputes.models import Dispute
from disputes.services.notifications import SUBJECTS, recipients
from disputes.services.timers import sweep_dispute_deadlines


@shared_task
def sweep_dispute_deadlines_task() -> dict[str, int]:
    return sweep_dispute_deadlines()


@shared_task(autoretry_for=(OperationalError, OSError), retry_backoff=5, max_retries=5)
def send_dispute_email_task(dispute_id: int, role: str, what: str, due_at: str | None) -> None:
    dispute = Dispute.objects.select_related("buyer", "order").get(pk=dispute_id)
    lines = [f"Dispute #{dispute.pk} on order #{dispute.order_id}: {SUBJECTS.get(what, what)}."]
    if due_at:
        lines.append(f"Please act before {due_at} (UTC); after that Kabao acts automatically.")
    lines.append(f"{settings.KABAO_BASE_URL}/disputes/{dispute.pk}/")
    send_mail(
        subject=f"[Kabao] {SUBJECTS.get(what, what)}",
        message="\n".join(lines),
        from_email=None,
        recipient_list=recipients(dispute, role),
    )
