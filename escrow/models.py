"""The double-entry ledger. Knows no other app.

Invariants (enforced by PostgreSQL as well as by `escrow.services.posting_create`):
- a Posting is two or more Entries whose amounts sum to zero per currency (deferred constraint
  trigger, checked at commit);
- Postings and Entries are append-only (a trigger refuses UPDATE and DELETE); corrections are
  reversing postings;
- an Account's cached `balance` equals the sum of its entries, and an account that does not
  `allow_negative` never goes below zero (check constraint);
- every Posting carries `prev_hash` and `hash`, a SHA-256 chain over postings in id order;
- the idempotency key of a Posting is unique: the same key twice is one posting;
- a Hold is resolved at most once; while `held`, its escrow account holds exactly `amount`.
Amounts are integer minor units (fen for CNY). A positive entry credits the account.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone


class AccountKind(models.TextChoices):
    EXTERNAL = "external", "external (payment provider, payouts)"
    PLATFORM = "platform", "platform (fees, compensation)"
    MERCHANT_AVAILABLE = "merchant_available", "merchant available"
    MERCHANT_DEPOSIT = "merchant_deposit", "merchant security deposit"
    ESCROW = "escrow", "escrow hold"
    BUYER_CREDIT = "buyer_credit", "buyer credit (compensation)"


class Account(models.Model):
    code = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=24, choices=AccountKind.choices)
    currency = models.CharField(max_length=3)
    balance = models.BigIntegerField(default=0)
    allow_negative = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(allow_negative=True) | Q(balance__gte=0), name="escrow_account_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.balance} {self.currency})"


class Posting(models.Model):
    idempotency_key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=40)
    reference = models.CharField(max_length=120, db_index=True, blank=True)
    memo = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.reference}"


class Entry(models.Model):
    posting = models.ForeignKey(Posting, on_delete=models.PROTECT, related_name="entries")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)

    class Meta:
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="escrow_entry_not_zero")]
        indexes = [models.Index(fields=["account", "posting"], name="escrow_entry_account_idx")]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.amount} {self.currency}"


class HoldStatus(models.TextChoices):
    HELD = "held", "held"
    RELEASED = "released", "released to the beneficiary"
    REFUNDED = "refunded", "refunded"
    SPLIT = "split", "split between refund and beneficiary"


class Hold(models.Model):
    """Money parked in its own escrow account until it is settled once: released, refunded or split."""

    reference = models.CharField(max_length=120, unique=True)
    account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="hold")
    beneficiary = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    refund_to = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=HoldStatus.choices, default=HoldStatus.HELD)
    release_at = models.DateTimeField(null=True, blank=True)
    is_frozen = models.BooleanField(default=False)
    refunded_amount = models.BigIntegerField(default=0)
    fee_amount = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="escrow_hold_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0) & Q(refunded_amount__lte=models.F("amount")),
                name="escrow_hold_refund_within_amount",
            ),
        ]
        indexes = [
            models.Index(
                fields=["release_at"], name="escrow_hold_due_idx", condition=Q(status="held", is_frozen=False)
            ),
            models.Index(fields=["beneficiary", "status"], name="escrow_hold_beneficiary_idx"),
        ]

    def __str__(self) -> str:
        return f"hold {self.reference} {self.amount} {self.currency} {self.status}"
