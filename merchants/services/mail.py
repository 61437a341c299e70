"""Emails to a shop's owner, sent after the change they announce has committed."""

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import translation

from merchants.models import Membership, MembershipRole, Merchant

logger = logging.getLogger(__name__)


def dashboard_link() -> str:
    base = getattr(settings, "KABAO_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
    return base + reverse("merchant:dashboard")


def email_owner_on_commit(merchant: Merchant, compose: Callable[[], tuple[str, str]]) -> None:
    """Send `compose()` -> (subject, body) to the owner once the caller's transaction commits.

    Users have no stored language, so emails speak the site's default language (zh-hans), not the
    language of the staff member whose click triggered them. A failed send is logged and does not
    undo the committed change (`robust`): the page still shows the applicant the same status.
    """
    owner = (
        Membership.objects.filter(merchant=merchant, role=MembershipRole.OWNER).select_related("user").first()
    )
    if owner is None:
        return
    recipient = owner.user.email

    def send() -> None:
        with translation.override(settings.LANGUAGE_CODE):
            subject, body = compose()
        send_mail(subject, body, None, [recipient])
        logger.info("emailed %s of shop %s: %s", recipient, merchant.pk, subject)

    transaction.on_commit(send, robust=True)
