"""Inventory under real concurrency: a hundred buyers on ten codes, orders of one to three codes."""

import threading
import time
from collections import Counter

import pytest
from django.db import connection

from kabao.errors import Conflict
from marketplace.models import Code, CodeStatus, Order, OrderStatus
from marketplace.services.orders import order_create, payment_captured
from tests.factories import MerchantFactory, ProductFactory, UserFactory, stock
from tests.reliability.threads import run_at_once

BUYERS = 100
CODES = 10
# PostgreSQL's max_connections (100 here) is shared with everyone else's tests: the buyers start
# together and at most this many hold a connection at once; the rest queue for one.
CONNECTIONS = 20


def _available(product_id: int) -> int:
    return Code.objects.filter(product_id=product_id, status=CodeStatus.AVAILABLE).count()


@pytest.mark.django_db(transaction=True)
def test_a_hundred_buyers_on_ten_codes_never_sell_a_code_twice_nor_half_fill_an_order():
    product = ProductFactory(merchant=MerchantFactory())
    stock(product, CODES)
    buyers = [UserFactory() for _ in range(BUYERS)]
    quantities = [1 + index % 3 for index in range(BUYERS)]  # 1, 2, 3, 1, 2, 3 …

    # A reader watches the stock while the buyers run: it never goes below zero and never rises.
    seen: list[int] = []
    done = threading.Event()

    def watch() -> None:
        try:
            while not done.is_set():
                seen.append(_available(product.pk))
                time.sleep(0.002)
        finally:
            connection.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        results = run_at_once(
            BUYERS,
            lambda index: order_create(
                buyer=buyers[index], product_id=product.pk, quantity=quantities[index]
            ),
            connections=CONNECTIONS,
        )
    finally:
        done.set()
        watcher.join()

    orders = [result for result in results if isinstance(result, Order)]
    refused = [result for result in results if not isinstance(result, Order)]
    assert all(isinstance(result, Conflict) and result.code == "out_of_stock" for result in refused), refused
    assert len(orders) + len(refused) == BUYERS
    # Each order holds exactly its quantity of codes, and no code is on two orders.
    reserved = list(
        Code.objects.filter(product_id=product.pk, status=CodeStatus.RESERVED).values_list("id", "order_id")
    )
    per_order = Counter(order_id for _code_id, order_id in reserved)
    assert per_order == Counter({order.pk: order.quantity for order in orders})
    assert len({code_id for code_id, _order_id in reserved}) == len(reserved)
    remaining = _available(product.pk)
    assert sum(order.quantity for order in orders) == len(reserved) == CODES - remaining
    assert seen and all(0 <= count <= CODES for count in seen) and seen == sorted(seen, reverse=True)

    # Every order paid at once: delivered with its own codes, sold == ten minus what is left.
    paid = run_at_once(
        len(orders),
        lambda index: payment_captured(
            reference=orders[index].payment.reference,
            amount=orders[index].amount,
            currency=orders[index].currency,
        ),
        connections=CONNECTIONS,
    )
    assert not [result for result in paid if isinstance(result, Exception)], paid
    assert Order.objects.filter(
        pk__in=[order.pk for order in orders], status=OrderStatus.DELIVERED
    ).count() == len(orders)
    sold = Counter(
        Code.objects.filter(product_id=product.pk, status=CodeStatus.SOLD).values_list("order_id", flat=True)
    )
    assert sold == Counter({order.pk: order.quantity for order in orders})
    assert sum(sold.values()) == CODES - _available(product.pk) == CODES - remaining
    print(
        f"inventory race: {len(orders)} orders took {sum(sold.values())} of {CODES} codes "
        f"(quantities {sorted(order.quantity for order in orders)}), {len(refused)} refused out_of_stock, "
        f"{remaining} left; the watcher read the stock {len(seen)} times"
    )
