"""Opening a shop: the application, staff's decision, and the email that tells the applicant."""

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from kabao.errors import Conflict, DomainError, NotFound
from merchants.models import Membership, MembershipRole, Merchant, MerchantStatus
from merchants.services.mail import dashboard_link, email_owner_on_commit

MAX_CONTACT = 120
MAX_SELLS = 1000
MAX_REASON = 500


def _clean_application(*, shop_name: str, contact: str, sells: str) -> tuple[str, str, str]:
    shop_name, contact, sells = shop_name.strip(), contact.strip(), sells.strip()
    errors: dict[str, list[str]] = {}
    if not shop_name or len(shop_name) > 80:
        errors["shop_name"] = ["1 to 80 characters"]
    if len(contact) > MAX_CONTACT:
        errors["contact"] = [f"at most {MAX_CONTACT} characters"]
    if len(sells) > MAX_SELLS:
        errors["sells"] = [f"at most {MAX_SELLS} characters"]
    if errors:
        message = (
            "A shop name of 1 to 80 characters is required."
            if list(errors) == ["shop_name"]
            else "The application is not valid."
        )
        raise DomainError("invalid", message, fields=errors)
    return shop_name, contact, sells


def _require_staff(actor: User, verb: str) -> None:
    if not actor.is_staff:
        raise DomainError("permission_denied", f"Only staff {verb} merchants.", status=403)


def merchant_apply(*, owner: User, shop_name: str, contact: str = "", sells: str = "") -> Merchant:
    """Open a pending shop owned by `owner`. The API's contract asks only for the name; the
    browser form also requires a contact and what the shop sells, for staff to judge."""
    shop_name, contact, sells = _clean_application(shop_name=shop_name, contact=contact, sells=sells)
    if Membership.objects.filter(user=owner).exists():
        raise Conflict("already_member", "This account already belongs to a shop.")
    try:
        with transaction.atomic(durable=True):
            merchant = Merchant.objects.create(shop_name=shop_name, contact=contact, sells=sells)
            Membership.objects.create(merchant=merchant, user=owner, role=MembershipRole.OWNER)
    except IntegrityError as exc:
        raise Conflict("shop_name_taken", "This shop name or account is already in use.") from exc
    return merchant


def merchant_reapply(
    *, merchant: Merchant, actor: User, shop_name: str, contact: str, sells: str
) -> Merchant:
    """The owner of a rejected shop corrects the application and sends it again (back to pending)."""
    shop_name, contact, sells = _clean_application(shop_name=shop_name, contact=contact, sells=sells)
    if not Membership.objects.filter(merchant=merchant, user=actor, role=MembershipRole.OWNER).exists():
        raise NotFound("No such shop.")
    try:
        with transaction.atomic(durable=True):
            merchant = Merchant.objects.select_for_update().get(pk=merchant.pk)
            if merchant.status != MerchantStatus.REJECTED:
                raise Conflict("invalid_state", f"A {merchant.status} shop cannot apply again.")
            merchant.shop_name, merchant.contact, merchant.sells = shop_name, contact, sells
            merchant.status = MerchantStatus.PENDING
            merchant.save(update_fields=["shop_name", "contact", "sells", "status"])
    except IntegrityError as exc:
        raise Conflict("shop_name_taken", "This shop name or account is already in use.") from exc
    return merchant


def merchant_approve(*, merchant: Merchant, actor: User) -> Merchant:
    _require_staff(actor, "approve")
    with transaction.atomic(durable=True):
        merchant = Merchant.objects.select_for_update().get(pk=merchant.pk)
        if merchant.status == MerchantStatus.ACTIVE:
            return merchant
        if merchant.status not in (MerchantStatus.PENDING, MerchantStatus.SUSPENDED):
            raise Conflict("invalid_state", f"A {merchant.status} shop cannot be approved.")
        merchant.status = MerchantStatus.ACTIVE
        merchant.approved_at = timezone.now()
        merchant.approved_by = actor
        merchant.rejection_reason = ""
        merchant.save(update_fields=["status", "approved_at", "approved_by", "rejection_reason"])

        def compose() -> tuple[str, str]:
            return (
                _("Your shop %(shop)s is approved") % {"shop": merchant.shop_name},
                _(
                    "Your shop %(shop)s is open. Pay your security deposit, then list products and "
                    "upload codes: %(link)s"
                )
                % {"shop": merchant.shop_name, "link": dashboard_link()},
            )

        email_owner_on_commit(merchant, compose)
    return merchant


def merchant_reject(*, merchant: Merchant, actor: User, reason: str) -> Merchant:
    """Staff turn an application down, saying why; the applicant reads the reason and may reapply."""
    _require_staff(actor, "reject")
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        raise DomainError(
            "invalid",
            "Say why the application is rejected (1 to 500 characters).",
            fields={"reason": [f"1 to {MAX_REASON} characters"]},
        )
    with transaction.atomic(durable=True):
        merchant = Merchant.objects.select_for_update().get(pk=merchant.pk)
        if merchant.status != MerchantStatus.PENDING:
            raise Conflict("invalid_state", f"A {merchant.status} shop cannot be rejected.")
        merchant.status = MerchantStatus.REJECTED
        merchant.rejected_at = timezone.now()
        merchant.rejected_by = actor
        merchant.rejection_reason = reason
        merchant.save(update_fields=["status", "rejected_at", "rejected_by", "rejection_reason"])

        def compose() -> tuple[str, str]:
            return (
                _("Your application for %(shop)s was not approved") % {"shop": merchant.shop_name},
                _("Reason: %(reason)s\n\nYou can correct your application and send it again: %(link)s")
                % {"reason": reason, "link": dashboard_link()},
            )

        email_owner_on_commit(merchant, compose)
    return merchant
