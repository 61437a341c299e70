"""The whole purchase through a real Celery worker consuming from Redis: no eager tasks."""

import time

import pytest
from celery.contrib.testing.worker import start_worker

from escrow.selectors import account_balance
from kabao.celery import app
from marketplace.models import Order, OrderStatus
from marketplace.services.orders import order_codes, order_confirm, order_create
from marketplace.services.payments import simulated_gateway_pay
from tests.factories import MerchantFactory, ProductFactory, UserFactory, stock


@pytest.fixture
def celery_worker(transactional_db, settings):
    assert app.conf.broker_url.startswith("redis://")
    app.conf.task_always_eager = False
    try:
        with app.connection_for_write() as connection:  # drop what an earlier run left behind
            connection.default_channel.queue_purge("celery")
        with start_worker(
            app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=10
        ) as worker:
            yield worker
    finally:
        app.conf.task_always_eager = True


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the worker")


def test_a_purchase_is_delivered_by_the_worker(celery_worker):
    merchant = MerchantFactory()
    product = ProductFactory(merchant=merchant, price=5000)
    codes = stock(product, 3)
    buyer = UserFactory()
    order = order_create(buyer=buyer, product_id=product.pk, quantity=2)

    simulated_gateway_pay(reference=order.payment.reference, outcome="succeeded", drop_webhook=False)

    wait_for(lambda: Order.objects.get(pk=order.pk).status == OrderStatus.DELIVERED)
    order.refresh_from_db()
    assert sorted(order_codes(order=order, actor=buyer)) == sorted(codes[:2])
    assert account_balance(f"escrow:order:{order.pk}") == 10000
    order_confirm(order=order, actor=buyer)
    assert account_balance(f"merchant:{merchant.pk}:available:CNY") == 9500
    assert list(order.events.values_list("event", flat=True)) == [
        "created",
        "paid",
        "delivered",
        "codes_revealed",
        "completed",
    ]
