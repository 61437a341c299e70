"""The Payment Element page, and an event stored but never acted on that Stripe sends again."""

import pytest
from django.test import Client

from marketplace.models import OrderStatus, WebhookEvent
from tests.factories import UserFactory
from tests.payments.fake_stripe import event, signature

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_buyer_pays_on_the_payment_element_page(stripe_order, use_stripe, buyer, send_event):
    reference = stripe_order.payment.reference
    url = f"/pay/stripe/{reference}/"

    page = signed_in(buyer).get(url)

    assert page.status_code == 200
    text = page.content.decode()
    assert f'<script id="stripe-secret" type="application/json">"{reference}_secret_fake"</script>' in text
    assert '<script id="stripe-key" type="application/json">"pk_test_offline"</script>' in text
    assert f"http://testserver/orders/{stripe_order.pk}/" in text
    assert signed_in(UserFactory()).get(url).status_code == 404

    send_event("payment_intent.succeeded", use_stripe.succeed(reference))

    paid = signed_in(buyer).get(url)
    assert (paid.status_code, paid["Location"]) == (302, f"/orders/{stripe_order.pk}/")


def test_an_event_stored_but_never_acted_on_is_acted_on_when_stripe_sends_it_again(
    stripe_order, use_stripe, api, django_capture_on_commit_callbacks
):
    body = event("payment_intent.succeeded", use_stripe.succeed(stripe_order.payment.reference))
    headers = {"HTTP_STRIPE_SIGNATURE": signature(body, "whsec_test_offline")}
    url = "/api/v1/payments/webhooks/stripe/"
    with django_capture_on_commit_callbacks(execute=False):  # the task is lost with the broker
        api.post(url, body, content_type="application/json", **headers)
    stripe_order.refresh_from_db()
    assert stripe_order.status == OrderStatus.PENDING_PAYMENT

    with django_capture_on_commit_callbacks(execute=True):
        again = api.post(url, body, content_type="application/json", **headers)

    assert again.json() == {"received": True, "duplicate": True}
    assert WebhookEvent.objects.get().processed_at is not None
    stripe_order.refresh_from_db()
    assert stripe_order.status == OrderStatus.DELIVERED
