"""Reads for the catalogue and orders, and a shop's public trust figures."""

from typing import TypedDict

from django.conf import settings
from django.db.models import CharField, Count, Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Cast, Concat

from accounts.models import User
from escrow.models import Account
from kabao.errors import NotFound
from marketplace.models import CodeStatus, Order, OrderEvent, OrderStatus, Product
from merchants.models import Merchant, MerchantStatus
from merchants.selectors import merchant_median_first_response_seconds, merchant_of


def _deposit_sufficient() -> Exists | Q:
    """Whether the product's shop holds the minimum deposit, read from the ledger in the same query
    (a cached flag would drift: refunds take from the deposit without telling the shop's row)."""
    required = int(settings.KABAO_MIN_MERCHANT_DEPOSIT)
    if required <= 0:
        return Q()
    code = Concat(
        Value("merchant:"),
        Cast(OuterRef("merchant_id"), CharField()),
        Value(f":deposit:{settings.KABAO_CURRENCY}"),
        output_field=CharField(),
    )
    return Exists(Account.objects.filter(code=code, balance__gte=required))


def products_on_sale() -> QuerySet[Product]:
    return (
        Product.objects.filter(is_active=True, merchant__status=MerchantStatus.ACTIVE)
        .filter(_deposit_sufficient())
        .select_related("merchant", "game")
        .annotate(stock=Count("codes", filter=Q(codes__status=CodeStatus.AVAILABLE)))
        .order_by("game__name", "price", "id")
    )


def product_on_sale(product_id: int) -> Product:
    product = products_on_sale().filter(pk=product_id).first()
    if product is None:
        raise NotFound("No such product on sale.")
    return product


def orders_visible_to(user: User) -> QuerySet[Order]:
    """A buyer sees their orders; merchant staff see their shop's orders."""
    merchant = merchant_of(user)
    visible = Q(buyer=user)
    if merchant is not None:
        visible |= Q(merchant=merchant)
    return (
        Order.objects.filter(visible).select_related("product", "merchant", "payment").order_by("-created_at")
    )


def order_visible_to(user: User, order_id: int) -> Order:
    order = orders_visible_to(user).filter(pk=order_id).first()
    if order is None:
        raise NotFound("No such order.")
    return order


class TrustFigures(TypedDict):
    completed: int  # orders completed (confirmed, or the protection window ran out)
    settled: int  # orders that were paid (everything but unpaid and cancelled ones)
    disputed: int  # of those, orders that were ever disputed
    disputes_lost: int  # disputes that ended in a refund or partial refund
    dispute_rate: float  # disputed / settled, 4 decimals: a ratio to show, not money
    median_first_response_seconds: int | None


def merchant_trust_figures(merchant: Merchant) -> TrustFigures:
    counts = Order.objects.filter(merchant=merchant).aggregate(
        completed=Count("id", filter=Q(status=OrderStatus.COMPLETED)),
        settled=Count("id", filter=~Q(status__in=[OrderStatus.PENDING_PAYMENT, OrderStatus.CANCELLED])),
    )
    shop_events = OrderEvent.objects.filter(order__merchant=merchant)
    disputed = shop_events.filter(to_status=OrderStatus.DISPUTED).values("order_id").distinct().count()
    disputes_lost = shop_events.filter(
        from_status=OrderStatus.DISPUTED,
        to_status__in=[OrderStatus.REFUNDED, OrderStatus.PARTIALLY_REFUNDED],
    ).count()
    settled = int(counts["settled"] or 0)
    return {
        "completed": int(counts["completed"] or 0),
        "settled": settled,
        "disputed": disputed,
        "disputes_lost": disputes_lost,
        "dispute_rate": round(disputed / settled, 4) if settled else 0.0,
        "median_first_response_seconds": merchant_median_first_response_seconds(merchant),
    }
