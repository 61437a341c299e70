"""Merchant shops and the people who run them.

Invariants: a user belongs to at most one shop (unique membership); a shop has exactly one owner
membership; only an `active` shop can list products and receive money. A shop's money lives in the
ledger (accounts `merchant:<id>:available:<currency>` and `merchant:<id>:deposit:<currency>`).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class MerchantStatus(models.TextChoices):
    PENDING = "pending", _("pending approval")
    ACTIVE = "active", _("active")
    REJECTED = "rejected", _("rejected")
    SUSPENDED = "suspended", _("suspended")


class Merchant(models.Model):
    shop_name = models.CharField(_("shop name"), max_length=80, unique=True)
    status = models.CharField(max_length=10, choices=MerchantStatus.choices, default=MerchantStatus.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return self.shop_name

    @property
    def is_active(self) -> bool:
        return self.status == MerchantStatus.ACTIVE


class MembershipRole(models.TextChoices):
    OWNER = "owner", _("owner")
    STAFF = "staff", _("staff")


class Membership(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="memberships")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    role = models.CharField(max_length=10, choices=MembershipRole.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant"], condition=Q(role="owner"), name="merchants_one_owner_per_shop"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.role} of {self.merchant_id}"
