"""Deadlines swept by beat, with time injected through `now`."""

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from escrow.models import HoldStatus
from escrow.selectors import account_balance
from escrow.services import hold_set_frozen
from marketplace.models import Code, CodeStatus, Order, OrderEvent, OrderStatus, PaymentStatus
from marketplace.services.orders import order_create
from marketplace.services.sweeps import (
    sweep_auto_confirm,
    sweep_deadlines,
    sweep_expire_unpaid,
    sweep_reconcile_unpaid,
    sweep_refund_undelivered,
)
from tests.factories import MerchantFactory, ProductFactory, UserFactory, stock

HOUR = timedelta(hours=1)


@pytest.mark.django_db
def test_unpaid_orders_expire_and_their_codes_return(buyer, stocked_product):
    order = order_create(buyer=buyer, product_id=stocked_product.pk, quantity=4)
    assert sweep_expire_unpaid(now=order.expires_at - timedelta(seconds=1)) == 0
    assert sweep_expire_unpaid(now=order.expires_at) == 1
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert Code.objects.filter(product=stocked_product, status=CodeStatus.AVAILABLE).count() == 10
    assert sweep_expire_unpaid(now=order.expires_at + HOUR) == 0  # once


@pytest.mark.django_db
def test_reconciliation_finds_a_payment_whose_webhook_was_lost(
    buyer, stocked_product, pay, django_capture_on_commit_callbacks
):
    order = pay(order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1), drop_webhook=True)
    assert order.status == OrderStatus.PENDING_PAYMENT  # the money is captured, the app does not know yet
    assert sweep_reconcile_unpaid(now=timezone.now()) == 0  # too early to ask

    with django_capture_on_commit_callbacks(execute=True):
        found = sweep_reconcile_unpaid(now=timezone.now() + timedelta(minutes=3))

    order.refresh_from_db()
    assert found == 1
    assert order.status == OrderStatus.DELIVERED
    assert order.hold.amount == order.amount


@pytest.mark.django_db
def test_expiry_checks_the_provider_first(buyer, stocked_product, pay, django_capture_on_commit_callbacks):
    order = pay(order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1), drop_webhook=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_expire_unpaid(now=order.expires_at + HOUR) == 0
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED


@pytest.mark.django_db
def test_a_paid_order_not_delivered_in_time_is_refunded(
    buyer, stocked_product, django_capture_on_commit_callbacks
):
    from marketplace.services.orders import payment_captured

    order = order_create(buyer=buyer, product_id=stocked_product.pk, quantity=2)
    # Captured, but the delivery task never runs (its callbacks are not executed).
    with django_capture_on_commit_callbacks(execute=False):
        payment_captured(reference=order.payment.reference, amount=order.amount, currency="CNY")
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID

    assert sweep_refund_undelivered(now=order.delivery_due_at - timedelta(seconds=1)) == 0
    assert sweep_refund_undelivered(now=order.delivery_due_at) == 1

    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED
    assert order.hold.status == HoldStatus.REFUNDED
    assert order.payment.status == PaymentStatus.REFUNDED
    assert account_balance("provider:simulated:CNY") == -settings.KABAO_MIN_MERCHANT_DEPOSIT  # the deposit
    assert Code.objects.filter(product=stocked_product, status=CodeStatus.AVAILABLE).count() == 10


@pytest.mark.django_db
def test_the_protection_window_ending_releases_the_money(buyer, stocked_product, merchant, pay):
    order = pay(order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1))
    assert sweep_auto_confirm(now=order.auto_confirm_at - timedelta(seconds=1)) == 0
    assert sweep_auto_confirm(now=order.auto_confirm_at) == 1
    order.refresh_from_db()
    assert order.status == OrderStatus.COMPLETED
    assert account_balance(f"merchant:{merchant.pk}:available:CNY") == 1999 - 99
    assert order.events.last().note == "protection_window_ended"


@pytest.mark.django_db
def test_a_frozen_hold_is_not_released_by_the_window(buyer, stocked_product, merchant, pay):
    from django.db import transaction

    order = pay(order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1))
    with transaction.atomic():
        hold_set_frozen(hold=order.hold, is_frozen=True)
    assert sweep_auto_confirm(now=order.auto_confirm_at + HOUR) == 0
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    assert account_balance(f"merchant:{merchant.pk}:available:CNY") == 0


@pytest.mark.django_db
def test_sweep_deadlines_reports_each_kind(buyer, stocked_product):
    order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1)
    report = sweep_deadlines(now=timezone.now() + timedelta(days=1))
    assert report == {
        "reconciled": 0,
        "expired": 1,
        "refunded_undelivered": 0,
        "redelivered": 0,
        "auto_confirmed": 0,
    }


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_racing_act_on_each_deadline_once(django_capture_on_commit_callbacks):
    merchant = MerchantFactory()
    product = ProductFactory(merchant=merchant)
    stock(product, 60)
    buyers = [UserFactory() for _ in range(3)]
    orders = [order_create(buyer=buyers[i % 3], product_id=product.pk, quantity=1) for i in range(60)]
    later = max(order.expires_at for order in orders) + HOUR
    counts: list[int] = []
    barrier = threading.Barrier(2)

    def sweep() -> None:
        try:
            barrier.wait()
            counts.append(sweep_expire_unpaid(now=later))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(counts) == 60
    assert Order.objects.filter(status=OrderStatus.CANCELLED).count() == 60
    assert OrderEvent.objects.filter(event=OrderStatus.CANCELLED).count() == 60
    assert Code.objects.filter(status=CodeStatus.AVAILABLE).count() == 60
