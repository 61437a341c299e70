"""Disputes: complaints about an order, run on SLA timers.

Invariants:
- an order has at most one open (unresolved) dispute (partial unique constraint);
- a dispute's status and level change only through `disputes.services.transitions`, which writes a
  DisputeEvent in the same transaction; every message, offer, escalation, missed deadline and
  decision is a DisputeEvent (the timeline), append-only;
- deadlines are columns swept by beat; a deadline is acted on once (SKIP LOCKED, state re-checked
  under the lock, and the deadline cleared or moved as it is acted on);
- money moves only through marketplace's refund/complete helpers, i.e. the ledger's posting function.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from marketplace.models import Order
from merchants.models import Merchant


class DisputeReason(models.TextChoices):
    INVALID_CODE = "invalid_code", _("the code does not work or was already used")
    NOT_RECEIVED = "not_received", _("I did not receive the code")
    WRONG_ITEM = "wrong_item", _("wrong item")
    OTHER = "other", _("something else")


class DisputeStatus(models.TextChoices):
    AWAITING_MERCHANT = "awaiting_merchant", _("waiting for the merchant")
    AWAITING_BUYER = "awaiting_buyer", _("waiting for the buyer")
    ESCALATED = "escalated", _("with the platform")
    RESOLVED = "resolved", _("resolved")


class DisputeLevel(models.TextChoices):
    MERCHANT = "merchant", _("merchant")
    PLATFORM = "platform", _("platform")
    SENIOR = "senior", _("senior arbitration")


class Resolution(models.TextChoices):
    REFUND = "refund", _("full refund")
    RELEASE = "release", _("released to the merchant")
    PARTIAL_REFUND = "partial_refund", _("partial refund")
    REPLACEMENT = "replacement", _("replacement code")


class Dispute(models.Model):
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="disputes")
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="disputes")
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="disputes")
    reason = models.CharField(max_length=20, choices=DisputeReason.choices)
    is_after_sale = models.BooleanField(default=False, help_text="opened after the order was completed")
    status = models.CharField(
        max_length=20, choices=DisputeStatus.choices, default=DisputeStatus.AWAITING_MERCHANT
    )
    level = models.CharField(max_length=10, choices=DisputeLevel.choices, default=DisputeLevel.MERCHANT)
    opened_at = models.DateTimeField(default=timezone.now)
    merchant_response_due_at = models.DateTimeField(null=True, blank=True)
    merchant_first_response_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    platform_feedback_due_at = models.DateTimeField(null=True, blank=True)
    platform_first_feedback_at = models.DateTimeField(null=True, blank=True)
    decision_due_at = models.DateTimeField()
    remedy_objection_due_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=20, choices=Resolution.choices, blank=True)
    refunded_amount = models.BigIntegerField(default=0)
    compensation_amount = models.BigIntegerField(default=0)
    decision_note = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["order"], condition=~Q(status="resolved"), name="disputes_one_open_per_order"
            ),
        ]
        indexes = [
            models.Index(
                fields=["merchant_response_due_at"],
                name="dispute_merchant_due_idx",
                condition=Q(status="awaiting_merchant", level="merchant"),
            ),
            models.Index(
                fields=["platform_feedback_due_at"],
                name="dispute_feedback_due_idx",
                condition=Q(level="platform", platform_first_feedback_at__isnull=True)
                & ~Q(status="resolved"),
            ),
            models.Index(
                fields=["decision_due_at"], name="dispute_decision_due_idx", condition=~Q(status="resolved")
            ),
            models.Index(
                fields=["remedy_objection_due_at"],
                name="dispute_remedy_due_idx",
                condition=Q(status="awaiting_buyer"),
            ),
            models.Index(fields=["merchant", "-opened_at"], name="dispute_merchant_idx"),
        ]

    def __str__(self) -> str:
        return f"dispute {self.pk} on order {self.order_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status != DisputeStatus.RESOLVED


class EventKind(models.TextChoices):
    OPENED = "opened", _("dispute opened")
    MESSAGE = "message", _("message")
    OFFER = "offer", _("offer")
    OFFER_ACCEPTED = "offer_accepted", _("offer accepted")
    OFFER_REJECTED = "offer_rejected", _("offer rejected")
    REPLACEMENT_DELIVERED = "replacement_delivered", _("replacement code delivered")
    ESCALATED = "escalated", _("escalated to the platform")
    RAISED_TO_SENIOR = "raised_to_senior", _("raised to senior arbitration")
    DEADLINE_MISSED = "deadline_missed", _("deadline missed")
    RESOLVED = "resolved", _("resolved")


class ActorRole(models.TextChoices):
    BUYER = "buyer", _("buyer")
    MERCHANT = "merchant", _("merchant")
    STAFF = "staff", _("platform")
    SYSTEM = "system", _("Kabao (automatic)")


class DisputeEvent(models.Model):
    """The dispute's timeline, append-only (PostgreSQL refuses UPDATE and DELETE) and hash-chained
    per dispute (kabao/chains.py). Written only through disputes.services.transitions."""

    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=24, choices=EventKind.choices)
    # PROTECT: a user with a place in someone's history is deactivated, not deleted
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    role = models.CharField(max_length=10, choices=ActorRole.choices)
    message = models.TextField(blank=True)
    amount = models.BigIntegerField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.dispute_id} {self.kind}"

    def chain_content(self) -> dict[str, object]:
        return {
            "dispute": self.dispute_id,
            "kind": self.kind,
            "role": self.role,
            "actor": self.actor_id,
            "message": self.message,
            "amount": self.amount,
            "data": self.data,
            "at": self.at.isoformat(timespec="microseconds"),
        }


class OfferKind(models.TextChoices):
    REPLACEMENT = "replacement", _("replacement code")
    REFUND = "refund", _("full refund")
    PARTIAL_REFUND = "partial_refund", _("partial refund")


class OfferStatus(models.TextChoices):
    PENDING = "pending", _("waiting for the buyer")
    ACCEPTED = "accepted", _("accepted")
    REJECTED = "rejected", _("rejected")


class Offer(models.Model):
    """A remedy the merchant proposes; a partial refund waits for the buyer, the others act at once."""

    dispute = models.ForeignKey(Dispute, on_delete=models.CASCADE, related_name="offers")
    kind = models.CharField(max_length=20, choices=OfferKind.choices)
    amount = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=OfferStatus.choices, default=OfferStatus.PENDING)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.kind} {self.amount or ''} ({self.status})"


class Attachment(models.Model):
    event = models.ForeignKey(DisputeEvent, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to="disputes/%Y/%m/")
    name = models.CharField(max_length=120)
    content_type = models.CharField(max_length=60)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)

    def __str__(self) -> str:
        return self.name
