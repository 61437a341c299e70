"""Stripe's webhooks: verified with the library's check, stored once, safe twice and in any order."""

import itertools
import time

import pytest
from django.conf import settings

from disputes.models import Dispute, DisputeLevel, DisputeStatus
from escrow.models import Hold, HoldStatus, Posting
from marketplace.models import (
    Chargeback,
    ChargebackStatus,
    OrderEvent,
    OrderStatus,
    PaymentStatus,
    WebhookEvent,
)
from marketplace.services.orders import order_create
from tests.payments.conftest import WEBHOOK_URL
from tests.payments.fake_stripe import event, signature

pytestmark = pytest.mark.django_db


def dispute_object(fake, intent_id: str, *, status: str = "needs_response") -> dict:
    charge = fake.charge_of(intent_id)
    return {
        "id": f"dp_{intent_id}",
        "object": "dispute",
        "amount": charge["amount"],
        "currency": charge["currency"],
        "charge": charge["id"],
        "payment_intent": intent_id,
        "reason": "fraudulent",
        "status": status,
    }


def test_a_succeeded_payment_intent_delivers_the_order(stripe_order, use_stripe, send_event):
    response = send_event("payment_intent.succeeded", use_stripe.succeed(stripe_order.payment.reference))

    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False}
    stripe_order.refresh_from_db()
    assert stripe_order.status == OrderStatus.DELIVERED
    assert stripe_order.payment.status == PaymentStatus.SUCCEEDED
    assert stripe_order.hold.amount == stripe_order.amount
    assert stripe_order.hold.status == HoldStatus.HELD


@pytest.mark.parametrize("forgery", ["wrong_secret", "tampered", "missing", "stale", "garbage"])
def test_a_bad_signature_is_refused_and_nothing_changes(stripe_order, use_stripe, api, forgery):
    body = event("payment_intent.succeeded", use_stripe.succeed(stripe_order.payment.reference))
    secret = settings.STRIPE_WEBHOOK_SECRET
    headers = {
        "wrong_secret": {"HTTP_STRIPE_SIGNATURE": signature(body, "whsec_someone_else")},
        "tampered": {"HTTP_STRIPE_SIGNATURE": signature(body.replace(b"cny", b"usd"), secret)},
        "missing": {},
        "stale": {"HTTP_STRIPE_SIGNATURE": signature(body, secret, timestamp=int(time.time()) - 301)},
        "garbage": {"HTTP_STRIPE_SIGNATURE": "t=x,v1=y"},
    }[forgery]

    response = api.post(WEBHOOK_URL, body, content_type="application/json", **headers)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert WebhookEvent.objects.count() == 0
    stripe_order.refresh_from_db()
    assert stripe_order.status == OrderStatus.PENDING_PAYMENT
    assert stripe_order.hold is None


def test_the_same_event_a_hundred_times_is_stored_and_acted_on_once(stripe_order, use_stripe, send_event):
    intent = use_stripe.succeed(stripe_order.payment.reference)
    answers = [send_event("payment_intent.succeeded", intent, event_id="evt_same") for _ in range(100)]

    assert [a.json()["duplicate"] for a in answers] == [False] + [True] * 99
    assert WebhookEvent.objects.filter(provider="stripe", event_id="evt_same").count() == 1
    assert Hold.objects.filter(reference=stripe_order.hold_reference).count() == 1
    stripe_order.refresh_from_db()
    assert stripe_order.status == OrderStatus.DELIVERED


def test_a_failed_payment_is_recorded_and_the_order_waits(stripe_order, use_stripe, send_event):
    response = send_event("payment_intent.payment_failed", use_stripe.fail(stripe_order.payment.reference))

    assert response.status_code == 200
    stripe_order.refresh_from_db()
    assert stripe_order.status == OrderStatus.PENDING_PAYMENT
    assert stripe_order.payment.status == PaymentStatus.FAILED
    assert OrderEvent.objects.filter(order=stripe_order, event="payment_failed").count() == 1


def test_events_about_other_payments_or_of_other_types_are_stored_and_ignored(stripe_order, send_event):
    other = {
        "id": "pi_not_ours",
        "object": "payment_intent",
        "amount": 5,
        "amount_received": 5,
        "currency": "usd",
    }

    assert send_event("payment_intent.succeeded", other).status_code == 200
    assert send_event("customer.created", {"id": "cus_1", "object": "customer"}).status_code == 200

    assert WebhookEvent.objects.filter(processed_at__isnull=False).count() == 2
    stripe_order.refresh_from_db()
    assert stripe_order.status == OrderStatus.PENDING_PAYMENT


def test_a_chargeback_freezes_the_hold_and_opens_a_platform_dispute(stripe_order, use_stripe, send_event):
    reference = stripe_order.payment.reference
    send_event("payment_intent.succeeded", use_stripe.succeed(reference))

    response = send_event("charge.dispute.created", dispute_object(use_stripe, reference))

    assert response.status_code == 200
    stripe_order.refresh_from_db()
    assert stripe_order.hold.is_frozen is True
    assert stripe_order.hold.status == HoldStatus.HELD
    assert stripe_order.status == OrderStatus.DISPUTED
    chargeback = Chargeback.objects.get(provider_dispute_id=f"dp_{reference}")
    assert (chargeback.status, chargeback.amount, chargeback.reason) == (
        "open",
        stripe_order.amount,
        "fraudulent",
    )
    dispute = Dispute.objects.get(order=stripe_order)
    assert (dispute.level, dispute.status) == (DisputeLevel.PLATFORM, DisputeStatus.ESCALATED)

    send_event("charge.dispute.closed", dispute_object(use_stripe, reference, status="lost"))

    chargeback.refresh_from_db()
    assert chargeback.status == ChargebackStatus.LOST
    assert dispute.events.filter(message__contains="lost").count() == 1
    stripe_order.refresh_from_db()
    assert stripe_order.hold.is_frozen is True  # the platform-level dispute decides where it goes


STEPS = ["succeeded", "refunded", "dispute_created", "dispute_closed"]


@pytest.mark.parametrize("ordering", list(itertools.permutations(STEPS)), ids="-".join)
def test_every_ordering_of_the_events_ends_in_one_state(stripe_order, use_stripe, send_event, ordering):
    reference = stripe_order.payment.reference
    intent = use_stripe.succeed(reference)
    charge = dict(use_stripe.charge_of(reference), amount_refunded=stripe_order.amount, refunded=True)
    bodies = {
        "succeeded": ("payment_intent.succeeded", intent),
        "refunded": ("charge.refunded", charge),
        "dispute_created": ("charge.dispute.created", dispute_object(use_stripe, reference)),
        "dispute_closed": ("charge.dispute.closed", dispute_object(use_stripe, reference, status="won")),
    }
    for step in ordering:
        assert send_event(*bodies[step]).status_code == 200

    stripe_order.refresh_from_db()
    payment = stripe_order.payment
    hold = stripe_order.hold
    assert (stripe_order.status, payment.status, payment.refunded_amount) == (
        OrderStatus.REFUNDED,
        PaymentStatus.REFUNDED,
        stripe_order.amount,
    )
    assert (hold.status, hold.amount) == (HoldStatus.REFUNDED, stripe_order.amount)
    assert Hold.objects.filter(reference=stripe_order.hold_reference).count() == 1
    assert Chargeback.objects.get().status == ChargebackStatus.WON
    assert Posting.objects.filter(reference=stripe_order.hold_reference).count() == 2  # placed, refunded
    assert use_stripe.refunds == []  # the refund was made at Stripe; Kabao asked for none


def test_without_a_webhook_secret_every_stripe_event_is_refused(stripe_order, use_stripe, api, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    body = event("payment_intent.succeeded", use_stripe.succeed(stripe_order.payment.reference))

    response = api.post(
        WEBHOOK_URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature(body, "")
    )

    assert response.status_code == 400
    assert WebhookEvent.objects.count() == 0


def test_a_stripe_event_cannot_capture_a_simulated_payment(buyer, stocked_product, send_event):
    order = order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1)  # simulated
    forged = {
        "id": order.payment.reference,
        "object": "payment_intent",
        "amount": order.amount,
        "amount_received": order.amount,
        "currency": "cny",
    }

    assert send_event("payment_intent.succeeded", forged).status_code == 200

    order.refresh_from_db()
    assert (order.status, order.payment.status) == (OrderStatus.PENDING_PAYMENT, PaymentStatus.CREATED)
