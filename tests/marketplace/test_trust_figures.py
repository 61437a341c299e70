"""A shop's trust figures: completed orders, disputes lost, dispute rate, median first response."""

import pytest
from django.db import transaction

from marketplace.models import OrderStatus
from marketplace.selectors import merchant_trust_figures
from marketplace.services.orders import order_create
from marketplace.services.refunds import refund_locked_order
from marketplace.services.transitions import order_lock, order_transition
from merchants.services import merchant_record_first_response
from tests.factories import MerchantFactory, ProductFactory, UserFactory, stock
from tests.merchants.helpers import completed_sale, refund_after_release

pytestmark = pytest.mark.django_db


def dispute(order, *, to: str | None = None, refund: int = 0):
    """Open a dispute on a delivered order, then end it: back to delivered, or a (partial) refund."""
    with transaction.atomic():
        locked = order_lock(order.pk)
        order_transition(order=locked, to=OrderStatus.DISPUTED)
        if refund:
            refund_locked_order(order=locked, refund_amount=refund, reason="dispute_decided")
        elif to:
            order_transition(order=locked, to=to)


def test_a_new_shop_has_empty_figures(merchant):
    assert merchant_trust_figures(merchant) == {
        "completed": 0,
        "settled": 0,
        "disputed": 0,
        "disputes_lost": 0,
        "dispute_rate": 0.0,
        "median_first_response_seconds": None,
    }


def test_the_figures_count_the_shops_orders(buyer, merchant, pay):
    product = ProductFactory(merchant=merchant)
    stock(product, 20)
    for _ in range(3):
        completed_sale(buyer, product, pay)
    won = pay(order_create(buyer=buyer, product_id=product.pk, quantity=1))
    dispute(won, to=OrderStatus.DELIVERED)  # the buyer's complaint was unfounded
    lost_in_full = pay(order_create(buyer=buyer, product_id=product.pk, quantity=1))
    dispute(lost_in_full, refund=1999)
    lost_in_part = pay(order_create(buyer=buyer, product_id=product.pk, quantity=2))
    dispute(lost_in_part, refund=1000)
    after_sale = completed_sale(buyer, product, pay)
    refund_after_release(after_sale, 1999)  # an after-sale claim, lost: disputed from completed
    for _ in range(2):
        pay(order_create(buyer=buyer, product_id=product.pk, quantity=1))  # delivered, no complaint
    order_create(buyer=buyer, product_id=product.pk, quantity=1)  # unpaid: not settled
    for seconds in (120, 600, 7200):
        merchant_record_first_response(merchant=merchant, seconds=seconds)
    other = ProductFactory(merchant=MerchantFactory())
    stock(other, 2)
    dispute(pay(order_create(buyer=UserFactory(), product_id=other.pk, quantity=1)), refund=1999)

    assert merchant_trust_figures(merchant) == {
        "completed": 3,
        "settled": 9,
        "disputed": 4,
        "disputes_lost": 3,
        "dispute_rate": 0.4444,  # 4 / 9, rounded
        "median_first_response_seconds": 600,
    }
