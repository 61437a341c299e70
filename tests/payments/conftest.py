import pytest
from django.conf import settings as django_settings

from marketplace.models import Order
from marketplace.services.orders import order_create
from tests.payments.fake_stripe import FakeStripe, event, signature

WEBHOOK_URL = "/api/v1/payments/webhooks/stripe/"


@pytest.fixture
def fake_stripe(settings):
    fake = FakeStripe().start()
    settings.KABAO_STRIPE_API_BASE = fake.base
    settings.KABAO_STRIPE_TIMEOUT_SECONDS = 0.5
    settings.KABAO_STRIPE_MAX_NETWORK_RETRIES = 1
    yield fake
    fake.stop()


@pytest.fixture
def use_stripe(fake_stripe, settings, stocked_product):
    """Stripe for everything paid from here on (the shop's deposit was paid before, simulated)."""
    settings.PAYMENT_PROVIDER = "stripe"
    return fake_stripe


@pytest.fixture
def stripe_order(use_stripe, buyer, stocked_product, django_capture_on_commit_callbacks) -> Order:
    return order_create(buyer=buyer, product_id=stocked_product.pk, quantity=2)


@pytest.fixture
def send_event(api, django_capture_on_commit_callbacks):
    """POST a Stripe event, signed with the webhook secret, and run what the commit schedules."""

    def _send(event_type: str, obj: dict, *, event_id: str | None = None):
        body = event(event_type, obj, event_id=event_id)
        header = signature(body, django_settings.STRIPE_WEBHOOK_SECRET)
        with django_capture_on_commit_callbacks(execute=True):
            return api.post(WEBHOOK_URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)

    return _send
