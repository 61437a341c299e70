"""Reads for a shop's own pages and API: its products and stock, codes, orders, sales and deposit."""

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from kabao.errors import NotFound
from marketplace.models import Code, CodeStatus, Order, OrderStatus, Payment, PaymentPurpose, Product
from merchants.models import Merchant

CODES_PAGE = 100
# Orders whose money reached the shop or is on its way; a cancelled or fully refunded order is no sale.
SALE_STATUSES = [
    OrderStatus.PAID,
    OrderStatus.DELIVERED,
    OrderStatus.COMPLETED,
    OrderStatus.DISPUTED,
    OrderStatus.PARTIALLY_REFUNDED,
]


def merchant_products(merchant: Merchant) -> QuerySet[Product]:
    """Every product of the shop, paused ones too, with its codes counted by status."""
    return (
        Product.objects.filter(merchant=merchant)
        .select_related("merchant", "game")
        .annotate(
            stock=Count("codes", filter=Q(codes__status=CodeStatus.AVAILABLE)),
            reserved=Count("codes", filter=Q(codes__status=CodeStatus.RESERVED)),
            sold=Count("codes", filter=Q(codes__status=CodeStatus.SOLD)),
            void=Count("codes", filter=Q(codes__status=CodeStatus.VOID)),
        )
        .order_by("-is_active", "title", "id")
    )


def merchant_product(merchant: Merchant, product_id: int) -> Product:
    """One of the shop's products; another shop's looks exactly like a missing one."""
    product = merchant_products(merchant).filter(pk=product_id).first()
    if product is None:
        raise NotFound("No such product in your shop.")
    return product


def product_codes(
    product: Product, *, status: str = "", after: int = 0, limit: int = CODES_PAGE
) -> list[Code]:
    """A page of the product's codes (masked; the clear text is never read here), by id."""
    codes = Code.objects.filter(product=product, pk__gt=after)
    if status:
        codes = codes.filter(status=status)
    return list(
        codes.order_by("pk").only("pk", "masked", "status", "order_id", "created_at", "sold_at")[
            : max(1, min(limit, 500))
        ]
    )


def merchant_orders(merchant: Merchant, *, status: str = "") -> QuerySet[Order]:
    orders = Order.objects.filter(merchant=merchant).select_related("product", "hold")
    if status:
        orders = orders.filter(status=status)
    return orders.order_by("-created_at", "-id")


def order_deadline(order: Order) -> tuple[str, datetime | None]:
    """The next deadline of an order as (what happens then, when), for the shop's order list."""
    if order.status == OrderStatus.PENDING_PAYMENT:
        return "expires", order.expires_at
    if order.status == OrderStatus.PAID:
        return "delivery_due", order.delivery_due_at
    if order.status == OrderStatus.DELIVERED:
        return "auto_confirm", order.auto_confirm_at
    return "", None


def merchant_open_disputes(merchant: Merchant) -> int:
    return Order.objects.filter(merchant=merchant, status=OrderStatus.DISPUTED).count()


def deposit_payments_of(merchant: Merchant) -> QuerySet[Payment]:
    return Payment.objects.filter(purpose=PaymentPurpose.DEPOSIT, merchant=merchant).order_by(
        "-created_at", "-id"
    )


def deposit_payment_of(merchant: Merchant, payment_id: int) -> Payment:
    payment = deposit_payments_of(merchant).filter(pk=payment_id).first()
    if payment is None:
        raise NotFound("No such deposit payment.")
    return payment


@dataclass(frozen=True)
class SalesDay:
    day: date
    amount: int
    orders: int


def merchant_sales_by_day(merchant: Merchant, *, days: int = 30, today: date | None = None) -> list[SalesDay]:
    """Sales in the platform's currency (by payment time, in the display time zone) for each of the
    last `days` days, oldest first, with the days without a sale as zeros so the chart has no gaps."""
    zone = zoneinfo.ZoneInfo(settings.KABAO_DISPLAY_TIME_ZONE)
    today = today or timezone.now().astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, datetime.min.time(), tzinfo=zone)
    rows = (
        Order.objects.filter(
            merchant=merchant, status__in=SALE_STATUSES, currency=settings.KABAO_CURRENCY, paid_at__gte=start
        )
        .annotate(day=TruncDate("paid_at", tzinfo=zone))
        .values("day")
        .annotate(amount=Sum("amount"), orders=Count("id"))
    )
    by_day = {row["day"]: (int(row["amount"]), int(row["orders"])) for row in rows}
    return [
        SalesDay(day=day, amount=by_day.get(day, (0, 0))[0], orders=by_day.get(day, (0, 0))[1])
        for day in (first + timedelta(days=offset) for offset in range(days))
    ]
