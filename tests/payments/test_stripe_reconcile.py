"""Reconciliation against PaymentIntents: payments whose webhook was lost, and the daily report."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from marketplace.models import Order, OrderStatus
from marketplace.services.orders import order_create
from marketplace.services.sweeps import sweep_reconcile_unpaid
from tests.factories import stock

pytestmark = pytest.mark.django_db


def test_one_run_recovers_fifty_orders_whose_webhooks_were_lost(
    use_stripe, buyer, stocked_product, django_capture_on_commit_callbacks
):
    stock(stocked_product, 50)
    orders = [order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1) for _ in range(51)]
    for order in orders[:50]:
        use_stripe.succeed(order.payment.reference)  # paid at Stripe; no webhook ever comes
    later = timezone.now() + timedelta(seconds=settings.KABAO_RECONCILE_AFTER_SECONDS + 1)

    with django_capture_on_commit_callbacks(execute=True):
        found = sweep_reconcile_unpaid(now=later)

    assert found == 50
    statuses = [Order.objects.get(pk=order.pk).status for order in orders]
    assert statuses == [OrderStatus.DELIVERED] * 50 + [OrderStatus.PENDING_PAYMENT]
    retrieves = [path for method, path, _, _ in use_stripe.requests if method == "GET"]
    assert len(retrieves) == 51 and all(path.startswith("/v1/payment_intents/pi_") for path in retrieves)

    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_reconcile_unpaid(now=later) == 0  # once


def test_the_report_lists_every_difference_between_stripe_and_the_ledger(
    use_stripe, buyer, stocked_product, send_event, capsys
):
    paid = order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1)
    send_event("payment_intent.succeeded", use_stripe.succeed(paid.payment.reference))
    lost = order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1)
    use_stripe.succeed(lost.payment.reference)
    vanished = order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1)
    del use_stripe.intents[vanished.payment.reference]
    stranger = use_stripe._create_intent(
        {"amount": 1, "currency": "cny", "metadata": {"kabao_payment": "x"}}
    )[1]
    use_stripe._create_intent({"amount": 1, "currency": "usd", "metadata": {}})  # not Kabao's

    with pytest.raises(CommandError, match="4 differences"):
        call_command("payments_report", date=timezone.now().date().isoformat())

    lost_ref, lost_status = lost.payment.reference, "stripe=succeeded kabao=created"
    assert capsys.readouterr().out.splitlines() == [
        f"status {lost_ref} {lost_status}",
        f"hold {lost_ref} stripe={lost.amount} kabao_hold=None",
        f"unknown_to_ledger {stranger['id']} stripe_status=requires_payment_method",
        f"missing_at_stripe {vanished.payment.reference}",
        f"{timezone.now().date()}: 3 PaymentIntents checked, 4 differences",
    ]


def test_a_day_that_matches_reports_no_difference(use_stripe, buyer, stocked_product, send_event, capsys):
    order = order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1)
    send_event("payment_intent.succeeded", use_stripe.succeed(order.payment.reference))

    call_command("payments_report", date=timezone.now().date().isoformat())

    assert capsys.readouterr().out.splitlines() == [
        f"{timezone.now().date()}: 1 PaymentIntents checked, 0 differences"
    ]


def test_a_stripe_outage_leaves_orders_for_the_next_run(
    use_stripe, buyer, stocked_product, settings, django_capture_on_commit_callbacks
):
    order = order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1)
    use_stripe.succeed(order.payment.reference)
    later = timezone.now() + timedelta(seconds=settings.KABAO_RECONCILE_AFTER_SECONDS + 1)
    settings.KABAO_STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens: connection refused

    assert sweep_reconcile_unpaid(now=later) == 0

    settings.KABAO_STRIPE_API_BASE = use_stripe.base
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_reconcile_unpaid(now=later) == 1
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
