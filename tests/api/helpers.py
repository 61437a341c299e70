"""Checks shared by the API tests: the one error shape, and a picture of the database to compare."""

from datetime import datetime

from accounts.models import ApiToken, User
from escrow.models import Account, Entry, Hold, Posting
from marketplace.models import (
    Code,
    Order,
    OrderEvent,
    Payment,
    Product,
    SimulatedCharge,
    SimulatedRefund,
    WebhookEvent,
)
from merchants.models import Membership, Merchant, Payout, PayoutEvent


def assert_error(response, status: int, code: str, message: str, fields: dict | None = None) -> None:
    """The response is `status` with exactly {"error": {"code", "message", "fields"}}."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": {"code": code, "message": message, "fields": fields or {}}}


def iso(moment: datetime | None) -> str | None:
    """A time as the API writes it: ISO 8601 in UTC with a "Z"."""
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def database_state() -> dict:
    """Every row a request could write, with the columns that matter; equal before and after means
    the request changed nothing."""
    return {
        "users": list(User.objects.order_by("pk").values_list("pk", "email", "is_staff", "password")),
        "tokens": list(ApiToken.objects.order_by("pk").values_list("pk", "user_id", "revoked_at")),
        "merchants": list(
            Merchant.objects.order_by("pk").values_list(
                "pk", "shop_name", "status", "approved_at", "rejection_reason", "contact", "sells"
            )
        ),
        "memberships": list(Membership.objects.order_by("pk").values_list("user_id", "merchant_id", "role")),
        "products": list(
            Product.objects.order_by("pk").values_list(
                "pk", "merchant_id", "title", "price", "is_active", "code_pattern", "auto_replace_invalid"
            )
        ),
        "codes": list(Code.objects.order_by("pk").values_list("pk", "product_id", "status", "order_id")),
        "orders": list(
            Order.objects.order_by("pk").values_list(
                "pk",
                "status",
                "amount",
                "hold_id",
                "paid_at",
                "delivered_at",
                "completed_at",
                "codes_revealed_at",
            )
        ),
        "order_events": list(OrderEvent.objects.order_by("pk").values_list("pk", "order_id", "event")),
        "payments": list(Payment.objects.order_by("pk").values_list("pk", "status", "refunded_amount")),
        "charges": list(
            SimulatedCharge.objects.order_by("pk").values_list("pk", "status", "refunded_amount")
        ),
        "refunds": SimulatedRefund.objects.count(),
        "webhook_events": list(
            WebhookEvent.objects.order_by("pk").values_list("pk", "event_id", "processed_at")
        ),
        "accounts": list(Account.objects.order_by("pk").values_list("code", "balance")),
        "postings": Posting.objects.count(),
        "entries": Entry.objects.count(),
        "holds": list(Hold.objects.order_by("pk").values_list("pk", "status", "amount", "release_at")),
        "payouts": list(
            Payout.objects.order_by("pk").values_list("pk", "status", "amount", "external_reference")
        ),
        "payout_events": PayoutEvent.objects.count(),
    }
