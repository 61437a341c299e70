"""Refunds go back through Stripe's Refunds API, once, and the ledger follows Stripe's answer."""

from datetime import timedelta

import pytest

from disputes.models import Dispute
from disputes.services.lifecycle import dispute_open, dispute_resolve
from escrow.models import HoldStatus, Posting
from kabao.errors import DomainError
from marketplace.models import OrderStatus, PaymentStatus
from marketplace.services.orders import payment_captured
from marketplace.services.sweeps import sweep_deadlines

pytestmark = pytest.mark.django_db


@pytest.fixture
def disputed_order(stripe_order, use_stripe, send_event, buyer):
    send_event("payment_intent.succeeded", use_stripe.succeed(stripe_order.payment.reference))
    dispute_open(order_id=stripe_order.pk, buyer=buyer, reason="invalid_code", message="used already")
    stripe_order.refresh_from_db()
    return stripe_order


def refund_calls(fake) -> list[str | None]:
    return [key for method, path, _, key in fake.requests if (method, path) == ("POST", "/v1/refunds")]


def test_a_dispute_refund_goes_back_through_the_refunds_api(disputed_order, use_stripe, staff):
    dispute = Dispute.objects.get(order=disputed_order)

    dispute_resolve(dispute=dispute, actor=staff, outcome="refund", note="refund")

    [refund] = use_stripe.refunds
    assert (refund["payment_intent"], refund["amount"]) == (
        disputed_order.payment.reference,
        disputed_order.amount,
    )
    assert refund_calls(use_stripe) == [f"kabao:refund:order:{disputed_order.pk}:0"]
    disputed_order.refresh_from_db()
    assert disputed_order.status == OrderStatus.REFUNDED
    assert disputed_order.payment.status == PaymentStatus.REFUNDED


def test_a_refund_whose_answer_times_out_is_retried_with_the_same_key_and_made_once(
    disputed_order, use_stripe, staff
):
    use_stripe.slow_refund_responses = 1  # Stripe refunds, the answer is lost, the library retries
    dispute = Dispute.objects.get(order=disputed_order)

    dispute_resolve(dispute=dispute, actor=staff, outcome="refund", note="refund")

    key = f"kabao:refund:order:{disputed_order.pk}:0"
    assert refund_calls(use_stripe) == [key, key]
    assert len(use_stripe.refunds) == 1
    disputed_order.refresh_from_db()
    assert disputed_order.payment.refunded_amount == disputed_order.amount


def test_a_refund_stripe_never_answered_moves_nothing_and_the_next_try_makes_no_second_refund(
    disputed_order, use_stripe, staff, send_event
):
    use_stripe.slow_refund_responses = 2  # every attempt of the first try times out
    dispute = Dispute.objects.get(order=disputed_order)
    postings_before = Posting.objects.count()

    with pytest.raises(DomainError) as refused:
        dispute_resolve(dispute=dispute, actor=staff, outcome="refund", note="refund")

    assert (refused.value.code, refused.value.status) == ("payment_provider_unavailable", 503)
    disputed_order.refresh_from_db()
    assert (disputed_order.status, disputed_order.payment.refunded_amount) == (OrderStatus.DISPUTED, 0)
    assert disputed_order.hold.status == HoldStatus.HELD
    assert Posting.objects.count() == postings_before
    assert len(use_stripe.refunds) == 1  # Stripe did make it; only its answer was lost

    dispute_resolve(dispute=dispute, actor=staff, outcome="refund", note="refund, again")

    assert len(use_stripe.refunds) == 1
    assert len(set(refund_calls(use_stripe))) == 1
    disputed_order.refresh_from_db()
    assert disputed_order.status == OrderStatus.REFUNDED
    assert disputed_order.payment.refunded_amount == disputed_order.amount
    assert disputed_order.hold.status == HoldStatus.REFUNDED
    postings_after_refund = Posting.objects.count()

    # Stripe's charge.refunded for that refund changes nothing more.
    charge = use_stripe.charge_of(disputed_order.payment.reference)
    assert send_event("charge.refunded", charge).status_code == 200
    assert Posting.objects.count() == postings_after_refund


def test_a_stripe_outage_holds_back_refunds_but_not_the_other_sweeps(
    stripe_order, use_stripe, settings, django_capture_on_commit_callbacks
):
    reference = stripe_order.payment.reference
    with django_capture_on_commit_callbacks(execute=False):  # captured, but the delivery never runs
        payment_captured(reference=reference, amount=stripe_order.amount, currency="CNY")
    use_stripe.succeed(reference)
    stripe_order.refresh_from_db()
    later = stripe_order.delivery_due_at + timedelta(seconds=1)
    settings.KABAO_STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens

    assert sweep_deadlines(now=later)["refunded_undelivered"] == 0

    stripe_order.refresh_from_db()
    assert (stripe_order.status, stripe_order.payment.refunded_amount) == (OrderStatus.PAID, 0)
    settings.KABAO_STRIPE_API_BASE = use_stripe.base
    assert sweep_deadlines(now=later)["refunded_undelivered"] == 1
    assert [refund["amount"] for refund in use_stripe.refunds] == [stripe_order.amount]
    stripe_order.refresh_from_db()
    assert stripe_order.status == OrderStatus.REFUNDED
