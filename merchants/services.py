"""Writes for merchant shops; reads of their money are in `merchants.selectors`."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from escrow.models import Account, AccountKind
from escrow.services import account_get_or_create
from kabao.errors import Conflict, DomainError
from merchants.models import Membership, MembershipRole, Merchant, MerchantStatus


def merchant_apply(*, owner: User, shop_name: str) -> Merchant:
    shop_name = shop_name.strip()
    if not shop_name or len(shop_name) > 80:
        raise DomainError(
            "invalid",
            "A shop name of 1 to 80 characters is required.",
            fields={"shop_name": ["1 to 80 characters"]},
        )
    if Membership.objects.filter(user=owner).exists():
        raise Conflict("already_member", "This account already belongs to a shop.")
    try:
        with transaction.atomic(durable=True):
            merchant = Merchant.objects.create(shop_name=shop_name)
            Membership.objects.create(merchant=merchant, user=owner, role=MembershipRole.OWNER)
    except IntegrityError as exc:
        raise Conflict("shop_name_taken", "This shop name or account is already in use.") from exc
    return merchant


def merchant_approve(*, merchant: Merchant, actor: User) -> Merchant:
    if not actor.is_staff:
        raise DomainError("permission_denied", "Only staff approve merchants.", status=403)
    with transaction.atomic(durable=True):
        merchant = Merchant.objects.select_for_update().get(pk=merchant.pk)
        if merchant.status == MerchantStatus.ACTIVE:
            return merchant
        if merchant.status not in (MerchantStatus.PENDING, MerchantStatus.SUSPENDED):
            raise Conflict("invalid_state", f"A {merchant.status} shop cannot be approved.")
        merchant.status = MerchantStatus.ACTIVE
        merchant.approved_at = timezone.now()
        merchant.approved_by = actor
        merchant.save(update_fields=["status", "approved_at", "approved_by"])
    return merchant


def merchant_available_account(merchant: Merchant, currency: str) -> Account:
    return account_get_or_create(
        code=f"merchant:{merchant.pk}:available:{currency}",
        kind=AccountKind.MERCHANT_AVAILABLE,
        currency=currency,
    )


def merchant_deposit_account(merchant: Merchant, currency: str) -> Account:
    return account_get_or_create(
        code=f"merchant:{merchant.pk}:deposit:{currency}",
        kind=AccountKind.MERCHANT_DEPOSIT,
        currency=currency,
    )
