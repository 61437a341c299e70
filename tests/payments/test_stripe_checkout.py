"""Opening payments at Stripe: one PaymentIntent per order or deposit payment, however often asked."""

import pytest

from marketplace.models import Order, Payment, PaymentStatus
from marketplace.payments import get_provider, pay_url
from marketplace.services.deposits import deposit_payment_start
from merchants.selectors import merchant_deposit_status

pytestmark = pytest.mark.django_db


def test_an_order_opens_one_payment_intent_for_its_amount_and_a_double_click_opens_no_other(
    use_stripe, buyer_api, stocked_product
):
    body = {"product": stocked_product.pk, "quantity": 3}
    first = buyer_api.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="click-1")
    second = buyer_api.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="click-1")

    assert first.status_code == 201 and second.status_code == 201
    assert second.json()["id"] == first.json()["id"]
    order = Order.objects.get(pk=first.json()["id"])
    [intent] = use_stripe.intents.values()
    assert intent["amount"] == order.amount == stocked_product.price * 3
    assert intent["currency"] == "cny"
    assert intent["metadata"] == {"kabao_payment": f"order-{order.pk}", "order_id": str(order.pk)}
    assert intent["payment_method_types"] == ["card"]  # no wallets in CNY
    assert order.payment.provider == "stripe"
    assert order.payment.reference == intent["id"]
    [(method, path, _params, key)] = use_stripe.requests
    assert (method, path, key) == ("POST", "/v1/payment_intents", f"kabao:create:order-{order.pk}")
    assert first.json()["payment"] == {
        "provider": "stripe",
        "status": "created",
        "pay_url": f"/pay/stripe/{intent['id']}/",
    }


def test_the_same_create_call_twice_is_one_payment_intent(use_stripe):
    provider = get_provider("stripe")
    first = provider.create_payment(label="order-77", amount=500, currency="CNY", idempotency_key="order-77")
    again = provider.create_payment(label="order-77", amount=500, currency="CNY", idempotency_key="order-77")

    assert again.reference == first.reference
    assert len(use_stripe.intents) == 1
    assert [key for _, _, _, key in use_stripe.requests] == ["kabao:create:order-77"] * 2


def test_alipay_and_wechat_pay_are_offered_only_in_a_settlement_currency(use_stripe):
    provider = get_provider("stripe")
    hkd = provider.create_payment(label="order-1", amount=800, currency="HKD", idempotency_key="order-1")
    cny = provider.create_payment(label="order-2", amount=800, currency="CNY", idempotency_key="order-2")

    assert use_stripe.intents[hkd.reference]["payment_method_types"] == ["card", "alipay", "wechat_pay"]
    assert use_stripe.intents[cny.reference]["payment_method_types"] == ["card"]


def test_a_deposit_is_paid_through_the_same_path(use_stripe, merchant, merchant_owner, send_event):
    payment = deposit_payment_start(merchant=merchant, actor=merchant_owner, amount=5000)
    [intent] = use_stripe.intents_with(merchant_id=str(merchant.pk))
    assert intent["amount"] == 5000
    assert payment.reference == intent["id"]
    before = merchant_deposit_status(merchant).deposit

    response = send_event("payment_intent.succeeded", use_stripe.succeed(intent["id"]))

    assert response.status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert merchant_deposit_status(merchant).deposit == before + 5000


def test_the_shops_next_deposit_is_a_new_payment_intent(use_stripe, merchant, merchant_owner):
    first = deposit_payment_start(merchant=merchant, actor=merchant_owner, amount=5000)
    second = deposit_payment_start(merchant=merchant, actor=merchant_owner, amount=5000)

    assert first.reference != second.reference
    assert Payment.objects.filter(merchant=merchant, provider="stripe").count() == 2
    assert pay_url(first.reference) == f"/pay/stripe/{first.reference}/"
