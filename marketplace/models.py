"""Catalogue, inventory, orders and payments.

Invariants:
- a Code is `available` with no order, or `reserved`/`sold` for exactly one order; it is handed out
  with SELECT … FOR UPDATE SKIP LOCKED, so no code is sold twice; its fingerprint is unique across
  the platform; its clear text exists only encrypted (marketplace.crypto);
- an Order's status changes only through `marketplace.services.orders.order_transition`, which
  checks ALLOWED_TRANSITIONS and writes an OrderEvent in the same transaction;
- an Order's money is an escrow Hold (reference `order:<id>`), placed once when payment is captured;
- a Payment pays for one order or one shop's security deposit (purpose), never both;
- a WebhookEvent is stored once per (provider, event_id) before it is acted on.
Money is integer minor units with a currency.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from escrow.models import Hold
from merchants.models import Merchant


class Game(models.Model):
    name = models.CharField(_("name"), max_length=80, unique=True)
    slug = models.SlugField(max_length=80, unique=True)

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="products")
    game = models.ForeignKey(Game, null=True, blank=True, on_delete=models.SET_NULL, related_name="products")
    title = models.CharField(_("title"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    price = models.BigIntegerField(_("price (minor units)"))
    currency = models.CharField(max_length=3)
    face_value = models.CharField(_("face value"), max_length=40, blank=True)
    region = models.CharField(_("region"), max_length=40, blank=True)
    code_pattern = models.CharField(_("code pattern (regular expression)"), max_length=200, blank=True)
    auto_confirm_seconds = models.PositiveIntegerField(null=True, blank=True)
    auto_replace_invalid = models.BooleanField(
        _("replace a code reported invalid automatically"), default=False
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(price__gt=0), name="marketplace_product_price_positive")
        ]

    def __str__(self) -> str:
        return self.title


class CodeStatus(models.TextChoices):
    AVAILABLE = "available", _("available")
    RESERVED = "reserved", _("reserved")
    SOLD = "sold", _("sold")
    VOID = "void", _("void")


class Code(models.Model):
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="codes")
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="+")
    ciphertext = models.BinaryField()
    fingerprint = models.CharField(max_length=64, unique=True)
    masked = models.CharField(max_length=20)
    status = models.CharField(max_length=10, choices=CodeStatus.choices, default=CodeStatus.AVAILABLE)
    order = models.ForeignKey("Order", null=True, blank=True, on_delete=models.PROTECT, related_name="codes")
    created_at = models.DateTimeField(default=timezone.now)
    sold_at = models.DateTimeField(null=True, blank=True)
    # A sold code the buyer reported and the merchant replaced: it stays on the order, as evidence.
    replaced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(status__in=["available", "void"], order__isnull=True))
                | (Q(status__in=["reserved", "sold"], order__isnull=False)),
                name="marketplace_code_order_matches_status",
            )
        ]
        indexes = [
            models.Index(
                fields=["product", "id"], name="marketplace_code_stock_idx", condition=Q(status="available")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.masked} ({self.status})"


class OrderStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", _("awaiting payment")
    PAID = "paid", _("paid, delivering")
    DELIVERED = "delivered", _("delivered")
    COMPLETED = "completed", _("completed")
    DISPUTED = "disputed", _("disputed")
    REFUNDED = "refunded", _("refunded")
    PARTIALLY_REFUNDED = "partially_refunded", _("partially refunded")
    CANCELLED = "cancelled", _("cancelled")


class Order(models.Model):
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="orders")
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="orders")
    quantity = models.PositiveIntegerField()
    unit_price = models.BigIntegerField()
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.PENDING_PAYMENT)
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)
    hold = models.OneToOneField(Hold, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    auto_confirm_seconds = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    paid_at = models.DateTimeField(null=True, blank=True)
    delivery_due_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    auto_confirm_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    codes_revealed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["buyer", "idempotency_key"], name="marketplace_order_idempotency"
            ),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="marketplace_order_quantity_positive"),
            models.CheckConstraint(
                condition=Q(amount=models.F("unit_price") * models.F("quantity")),
                name="marketplace_order_amount_is_price_times_quantity",
            ),
        ]
        indexes = [
            models.Index(
                fields=["expires_at"], name="mkt_order_unpaid_idx", condition=Q(status="pending_payment")
            ),
            models.Index(
                fields=["delivery_due_at"], name="mkt_order_undelivered_idx", condition=Q(status="paid")
            ),
            models.Index(
                fields=["auto_confirm_at"], name="mkt_order_autoconfirm_idx", condition=Q(status="delivered")
            ),
            models.Index(fields=["buyer", "-created_at"], name="mkt_order_buyer_idx"),
            models.Index(fields=["merchant", "-created_at"], name="mkt_order_merchant_idx"),
        ]

    def __str__(self) -> str:
        return f"order {self.pk} ({self.status})"

    @property
    def hold_reference(self) -> str:
        return f"order:{self.pk}"


class OrderEvent(models.Model):
    """One row per status change or notable step: the order's timeline, append-only (PostgreSQL
    refuses UPDATE and DELETE) and hash-chained per order (kabao/chains.py). Written only through
    marketplace.services.transitions, which links each row to the one before it."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="events")
    event = models.CharField(max_length=40)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    # PROTECT: a user with a place in someone's history is deactivated, not deleted
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    note = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField(default=timezone.now)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.order_id} {self.event}"

    def chain_content(self) -> dict[str, object]:
        return {
            "order": self.order_id,
            "event": self.event,
            "from": self.from_status,
            "to": self.to_status,
            "actor": self.actor_id,
            "note": self.note,
            "at": self.at.isoformat(timespec="microseconds"),
        }


class PaymentStatus(models.TextChoices):
    CREATED = "created", _("created")
    SUCCEEDED = "succeeded", _("succeeded")
    FAILED = "failed", _("failed")
    REFUNDED = "refunded", _("refunded")
    PARTIALLY_REFUNDED = "partially_refunded", _("partially refunded")


class PaymentPurpose(models.TextChoices):
    ORDER = "order", _("order")
    DEPOSIT = "deposit", _("security deposit")


class Payment(models.Model):
    """Money a user pays in through a provider: for an order (into its escrow hold) or for a shop's
    security deposit (onto the shop's deposit account). Exactly one of `order` / `merchant` is set,
    as `purpose` says (check constraint); capture dispatches on `purpose`."""

    purpose = models.CharField(max_length=10, choices=PaymentPurpose.choices, default=PaymentPurpose.ORDER)
    order = models.OneToOneField(
        Order, null=True, blank=True, on_delete=models.PROTECT, related_name="payment"
    )
    merchant = models.ForeignKey(
        Merchant, null=True, blank=True, on_delete=models.PROTECT, related_name="deposit_payments"
    )
    payer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    provider = models.CharField(max_length=20)
    reference = models.CharField(max_length=100, unique=True)
    status = models.CharField(max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.CREATED)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    refunded_amount = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    captured_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(purpose="order", order__isnull=False, merchant__isnull=True)
                | Q(purpose="deposit", order__isnull=True, merchant__isnull=False),
                name="marketplace_payment_pays_for_one_thing",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="marketplace_payment_amount_positive"),
        ]
        indexes = [
            models.Index(fields=["merchant", "-created_at"], name="mkt_payment_deposit_idx"),
            # The reconciliation sweep's open deposit payments (payments.deposit_payments_reconcile):
            # without it, a scan of every payment, orders' included, every 30 s.
            models.Index(
                fields=["created_at"],
                name="mkt_payment_open_deposit_idx",
                condition=Q(purpose="deposit", status="created"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.reference} ({self.status})"


class WebhookEvent(models.Model):
    provider = models.CharField(max_length=20)
    event_id = models.CharField(max_length=100)
    event_type = models.CharField(max_length=60)
    payload = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="marketplace_webhook_once")
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_id} {self.event_type}"


class SimulatedChargeStatus(models.TextChoices):
    REQUIRES_PAYMENT = "requires_payment", _("requires payment")
    SUCCEEDED = "succeeded", _("succeeded")
    FAILED = "failed", _("failed")


class SimulatedCharge(models.Model):
    """The simulated gateway's own record: what the provider knows, apart from the order."""

    reference = models.CharField(max_length=100, unique=True)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=20, choices=SimulatedChargeStatus.choices, default=SimulatedChargeStatus.REQUIRES_PAYMENT
    )
    refunded_amount = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.reference} ({self.status})"


class SimulatedRefund(models.Model):
    idempotency_key = models.CharField(max_length=120, unique=True)
    charge = models.ForeignKey(SimulatedCharge, on_delete=models.PROTECT, related_name="refunds")
    amount = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.charge_id} refund {self.amount}"


class ChargebackStatus(models.TextChoices):
    OPEN = "open", _("open at the bank")
    WON = "won", _("won")
    LOST = "lost", _("lost")
    CLOSED = "closed", _("closed")


class Chargeback(models.Model):
    """A payer's bank disputing a payment (provider-side), one row per provider dispute id.

    Opening one freezes the order's escrow hold; staff see it here and as a platform-level dispute
    (the disputes app listens for `marketplace.signals.chargeback_opened`)."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="chargebacks")
    provider_dispute_id = models.CharField(max_length=100, unique=True)
    status = models.CharField(max_length=10, choices=ChargebackStatus.choices, default=ChargebackStatus.OPEN)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=60, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"chargeback {self.provider_dispute_id} ({self.status})"
