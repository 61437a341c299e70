"""Reads for the catalogue and orders."""

from django.db.models import Count, Q, QuerySet

from accounts.models import User
from kabao.errors import NotFound
from marketplace.models import CodeStatus, Order, OrderStatus, Product
from merchants.models import Merchant, MerchantStatus
from merchants.selectors import merchant_of


def products_on_sale() -> QuerySet[Product]:
    return (
        Product.objects.filter(is_active=True, merchant__status=MerchantStatus.ACTIVE)
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


def merchant_trust_figures(merchant: Merchant) -> dict[str, int]:
    counts = Order.objects.filter(merchant=merchant).aggregate(
        completed=Count("id", filter=Q(status=OrderStatus.COMPLETED)),
        disputed=Count("id", filter=Q(status=OrderStatus.DISPUTED)),
        settled=Count("id", filter=~Q(status__in=[OrderStatus.PENDING_PAYMENT, OrderStatus.CANCELLED])),
    )
    return {key: int(value or 0) for key, value in counts.items()}
