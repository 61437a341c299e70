"""What every dispute service needs: who the reader is, clean messages, the shop's first answer."""

from django.utils import timezone

from accounts.models import User
from disputes.models import ActorRole, Dispute
from kabao.errors import DomainError, NotFound
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


def clean_message(message: str, *, required: bool) -> str:
    message = (message or "").strip()
    if required and not message:
        raise DomainError("invalid", "A message is required.", fields={"message": ["required"]})
    if len(message) > MAX_MESSAGE:
        raise DomainError("invalid", f"At most {MAX_MESSAGE} characters.", fields={"message": ["too long"]})
    return message


def mark_merchant_answered(dispute: Dispute) -> None:
    """The shop's first answer stops its clock and feeds its public first-response figure."""
    if dispute.merchant_first_response_at is None:
        dispute.merchant_first_response_at = timezone.now()
        dispute.save(update_fields=["merchant_first_response_at"])
        seconds = int((dispute.merchant_first_response_at - dispute.opened_at).total_seconds())
        merchant_record_first_response(merchant=dispute.merchant, seconds=seconds)
