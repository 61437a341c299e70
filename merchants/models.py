"""Merchant shops, the people who run them, their payouts and their trust metrics.

Invariants:
- a user belongs to at most one shop (unique membership); a shop has exactly one owner membership;
- only an `active` shop can list products and receive money; a shop whose security deposit is below
  KABAO_MIN_MERCHANT_DEPOSIT cannot list (checked against the ledger, never cached here);
- a shop's money lives in the ledger, never in these tables: `merchant:<id>:available:<cur>`,
  `merchant:<id>:deposit:<cur>`, and while a payout is under way `merchant:<id>:payout_pending:<cur>`
  (requested) and `merchant:<id>:payout_approved:<cur>` (approved, not yet sent);
- a Payout's status changes only through `merchants.services.payouts`, which checks
  PAYOUT_TRANSITIONS, posts the matching ledger movement and writes a PayoutEvent in one transaction;
  its amount is positive (check constraint);
- first-response samples are append-only measurements written by the disputes app.
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
    contact = models.CharField(_("contact"), max_length=120, blank=True, default="")
    sells = models.TextField(_("what the shop sells"), max_length=1000, blank=True, default="")
    status = models.CharField(max_length=10, choices=MerchantStatus.choices, default=MerchantStatus.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rejected_at = models.DateTimeField(null=True, blank=True)
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rejection_reason = models.TextField(_("reason for the rejection"), max_length=500, blank=True, default="")
    # Set when the owner was asked to top up the deposit; cleared when it is topped up, so one
    # shortfall sends one email however many refunds dig into the deposit.
    deposit_topup_requested_at = models.DateTimeField(null=True, blank=True)

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


class PayoutStatus(models.TextChoices):
    REQUESTED = "requested", _("requested")
    APPROVED = "approved", _("approved")
    PAID = "paid", _("paid out")
    REJECTED = "rejected", _("rejected")


class Payout(models.Model):
    """A withdrawal of a shop's available money to the shop's bank account (outside the platform)."""

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="payouts")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=PayoutStatus.choices, default=PayoutStatus.REQUESTED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    # The bank's or payment rail's reference of the transfer, entered when staff mark it paid out.
    external_reference = models.CharField(max_length=100, blank=True)
    rejection_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="merchants_payout_positive")]
        indexes = [
            models.Index(fields=["merchant", "-requested_at"], name="merchants_payout_shop_idx"),
            models.Index(fields=["status", "requested_at"], name="merchants_payout_queue_idx"),
        ]

    def __str__(self) -> str:
        return f"payout {self.pk} {self.amount} {self.currency} ({self.status})"


class PayoutEvent(models.Model):
    """One row per step of a payout: its history, as the merchant and staff see it."""

    payout = models.ForeignKey(Payout, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=10, choices=PayoutStatus.choices, blank=True)
    to_status = models.CharField(max_length=10, choices=PayoutStatus.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    note = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.payout_id} {self.from_status}->{self.to_status}"


class FirstResponseSample(models.Model):
    """How long a shop took to answer a new dispute for the first time (the disputes app records it)."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="first_responses")
    seconds = models.PositiveIntegerField()
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # The median is read by counting and then seeking in this order.
        indexes = [models.Index(fields=["merchant", "seconds"], name="merchants_first_response_idx")]

    def __str__(self) -> str:
        return f"{self.merchant_id}: {self.seconds} s"
