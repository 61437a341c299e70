import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from escrow.models import Hold, HoldStatus
from escrow.selectors import account_balance
from marketplace.crypto import decrypt_code
from marketplace.models import (
    Code,
    CodeStatus,
    Order,
    OrderEvent,
    OrderStatus,
    PaymentStatus,
    Product,
    SimulatedCharge,
    SimulatedChargeStatus,
    WebhookEvent,
)
from marketplace.payments.simulated import SIGNATURE_HEADER, event_body, sign
from marketplace.services.sweeps import sweep_reconcile_unpaid
from merchants.models import MerchantStatus
from tests.api.helpers import assert_error, database_state, iso
from tests.conftest import token_client
from tests.factories import MerchantFactory, ProductFactory, UserFactory, stock

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders/"
WEBHOOK = "/api/v1/payments/webhooks/simulated/"
NOT_AUTHENTICATED = ("not_authenticated", "Authentication credentials were not provided.")


def order_url(order_id: int) -> str:
    return f"{ORDERS}{order_id}/"


def confirm_url(order_id: int) -> str:
    return f"{ORDERS}{order_id}/confirm/"


@pytest.fixture
def codes(product) -> list[str]:
    """Five codes in the product's stock, in clear, in the order checkout hands them out."""
    return stock(product, 5)


def create(client, product: Product, quantity: int = 1, key: str | None = None):
    extra = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(ORDERS, {"product": product.pk, "quantity": quantity}, format="json", **extra)


def order_json(order: Order) -> dict:
    """The order as the list and the create call show it, from the database."""
    order = Order.objects.select_related("payment").get(pk=order.pk)
    return {
        "id": order.pk,
        "status": order.status,
        "amount": order.amount,
        "currency": order.currency,
        "product": order.product_id,
        "quantity": order.quantity,
        "created_at": iso(order.created_at),
        "expires_at": iso(order.expires_at),
        "paid_at": iso(order.paid_at),
        "delivered_at": iso(order.delivered_at),
        "auto_confirm_at": iso(order.auto_confirm_at),
        "payment": {
            "provider": "simulated",
            "status": order.payment.status,
            "pay_url": f"/pay/simulated/{order.payment.reference}/",
        },
    }


def timeline(order: Order) -> list[dict]:
    return [
        {"at": iso(event.at), "event": event.event, "note": event.note}
        for event in OrderEvent.objects.filter(order=order).order_by("at", "id")
    ]


def events(order: Order) -> list[str]:
    return list(OrderEvent.objects.filter(order=order).order_by("at", "id").values_list("event", flat=True))


def code_states(product: Product) -> dict[str, int]:
    return {
        status: Code.objects.filter(product=product, status=status).count() for status in CodeStatus.values
    }


@pytest.fixture
def gateway(api, django_capture_on_commit_callbacks):
    """POST JSON to an order's pay_url, as a script at the gateway would, and run what follows."""

    def _gateway(order: Order, body: dict | str):
        url = order_json(order)["payment"]["pay_url"]
        data = body if isinstance(body, str) else json.dumps(body)
        with django_capture_on_commit_callbacks(execute=True):
            return api.post(url, data=data, content_type="application/json")

    return _gateway


@pytest.fixture
def placed(buyer_api, product, codes) -> Order:
    """A buyer's order of two codes, not paid yet."""
    response = create(buyer_api, product, quantity=2)
    assert response.status_code == 201
    return Order.objects.get(pk=response.json()["id"])


@pytest.fixture
def delivered(placed, gateway) -> Order:
    response = gateway(placed, {"outcome": "succeeded"})
    assert response.status_code == 200
    placed.refresh_from_db()
    assert placed.status == OrderStatus.DELIVERED
    return placed


# --- create ---------------------------------------------------------------------------------


def test_checkout_reserves_codes_and_answers_with_the_payment(buyer, buyer_api, product, codes):
    response = create(buyer_api, product, quantity=2)

    assert response.status_code == 201
    order = Order.objects.select_related("payment").get()
    reference = order.payment.reference
    assert response.json() == {
        "id": order.pk,
        "status": "pending_payment",
        "amount": 3998,
        "currency": "CNY",
        "product": product.pk,
        "quantity": 2,
        "created_at": iso(order.created_at),
        "expires_at": iso(order.created_at + timedelta(seconds=900)),
        "paid_at": None,
        "delivered_at": None,
        "auto_confirm_at": None,
        "payment": {"provider": "simulated", "status": "created", "pay_url": f"/pay/simulated/{reference}/"},
    }
    assert (order.buyer_id, order.unit_price, order.idempotency_key) == (buyer.pk, 1999, None)
    assert code_states(product) == {"available": 3, "reserved": 2, "sold": 0, "void": 0}
    assert Code.objects.filter(order=order).count() == 2
    charge = SimulatedCharge.objects.get(reference=reference)
    assert (charge.amount, charge.currency, charge.status) == (
        3998,
        "CNY",
        SimulatedChargeStatus.REQUIRES_PAYMENT,
    )
    assert events(order) == ["created"]


def test_the_same_idempotency_key_returns_the_same_order(buyer_api, product, codes):
    first = create(buyer_api, product, quantity=2, key="checkout-7f3a")
    before = database_state()

    again = create(buyer_api, product, quantity=2, key="checkout-7f3a")

    assert again.status_code == 201
    assert again.json() == first.json()
    assert Order.objects.get().idempotency_key == "checkout-7f3a"
    assert database_state() == before


def test_an_idempotency_key_belongs_to_one_buyer(buyer_api, product, codes):
    mine = create(buyer_api, product, key="checkout-1").json()["id"]

    theirs = create(token_client(UserFactory()), product, key="checkout-1").json()["id"]

    assert mine != theirs
    assert code_states(product)["reserved"] == 2


def test_an_idempotency_key_reused_for_another_order_is_409(buyer_api, merchant, product, codes):
    create(buyer_api, product, quantity=2, key="checkout-1")
    second_product = ProductFactory(merchant=merchant)
    stock(second_product, 5)
    before = database_state()

    other_quantity = create(buyer_api, product, quantity=3, key="checkout-1")
    other_product = create(buyer_api, second_product, quantity=2, key="checkout-1")

    for response in (other_quantity, other_product):
        assert_error(
            response, 409, "idempotency_key_reused", "This Idempotency-Key was used for another order."
        )
    assert database_state() == before


def test_an_idempotency_key_over_100_characters_is_refused(buyer_api, product, codes):
    before = database_state()

    response = create(buyer_api, product, key="k" * 101)

    assert_error(response, 400, "invalid_idempotency_key", "Idempotency-Key must be 1 to 100 characters.")
    assert database_state() == before


def test_checkout_needs_a_token(api, product, codes):
    before = database_state()

    assert_error(create(api, product), 401, *NOT_AUTHENTICATED)
    assert database_state() == before


def test_more_than_the_stock_is_409_and_reserves_nothing(buyer_api, product, codes):
    before = database_state()

    response = create(buyer_api, product, quantity=6)

    assert_error(response, 409, "out_of_stock", "Not enough codes in stock for this quantity.")
    assert database_state() == before
    assert code_states(product) == {"available": 5, "reserved": 0, "sold": 0, "void": 0}


def test_a_merchant_cannot_buy_from_its_own_shop(merchant_api, product, codes):
    before = database_state()

    response = create(merchant_api, product)

    assert_error(response, 409, "own_shop", "You cannot buy from your own shop.")
    assert database_state() == before


@pytest.mark.parametrize(
    ("quantity", "code", "message", "fields"),
    [
        (
            0,
            "invalid",
            "The request is not valid.",
            {"quantity": ["Ensure this value is greater than or equal to 1."]},
        ),
        (
            -1,
            "invalid",
            "The request is not valid.",
            {"quantity": ["Ensure this value is greater than or equal to 1."]},
        ),
        (
            21,
            "invalid_quantity",
            "Quantity must be a whole number from 1 to 20.",
            {"quantity": ["out of range"]},
        ),
        (
            1001,
            "invalid",
            "The request is not valid.",
            {"quantity": ["Ensure this value is less than or equal to 1000."]},
        ),
        (1.5, "invalid", "The request is not valid.", {"quantity": ["A valid integer is required."]}),
        (1.0, "invalid", "The request is not valid.", {"quantity": ["A valid integer is required."]}),
        ("2", "invalid", "The request is not valid.", {"quantity": ["A valid integer is required."]}),
        (True, "invalid", "The request is not valid.", {"quantity": ["A valid integer is required."]}),
        (None, "invalid", "The request is not valid.", {"quantity": ["This field may not be null."]}),
    ],
)
def test_bad_quantities_are_refused(buyer_api, product, codes, quantity, code, message, fields):
    before = database_state()

    response = buyer_api.post(ORDERS, {"product": product.pk, "quantity": quantity}, format="json")

    assert_error(response, 400, code, message, fields)
    assert database_state() == before


@pytest.mark.parametrize(
    ("product_id", "fields"),
    [
        (999_999, {"product": ["unknown"]}),
        ("1", {"product": ["A valid integer is required."]}),
        (0, {"product": ["Ensure this value is greater than or equal to 1."]}),
        (None, {"product": ["This field may not be null."]}),
    ],
)
def test_bad_product_ids_are_refused(buyer_api, product, codes, product_id, fields):
    before = database_state()

    response = buyer_api.post(ORDERS, {"product": product_id, "quantity": 1}, format="json")

    message = (
        "No such product on sale." if fields == {"product": ["unknown"]} else "The request is not valid."
    )
    assert_error(response, 400, "invalid", message, fields)
    assert database_state() == before


@pytest.mark.parametrize("why", ["withdrawn", "suspended shop", "pending shop"])
def test_a_product_not_on_sale_cannot_be_bought(buyer_api, why):
    shop = MerchantFactory()
    product = ProductFactory(merchant=shop, is_active=why != "withdrawn")
    stock(product, 2)
    if why != "withdrawn":
        shop.status = MerchantStatus.SUSPENDED if why == "suspended shop" else MerchantStatus.PENDING
        shop.save(update_fields=["status"])
    before = database_state()

    response = create(buyer_api, product)

    assert_error(response, 400, "invalid", "No such product on sale.", {"product": ["unknown"]})
    assert database_state() == before


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"product": ["This field is required."], "quantity": ["This field is required."]}),
        ([1, 1], {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
    ],
)
def test_checkout_refuses_a_body_without_product_and_quantity(buyer_api, product, codes, body, fields):
    before = database_state()

    assert_error(
        buyer_api.post(ORDERS, body, format="json"), 400, "invalid", "The request is not valid.", fields
    )
    assert database_state() == before


def test_checkout_refuses_a_body_that_is_not_json(buyer_api, product, codes):
    before = database_state()

    response = buyer_api.post(ORDERS, data='{"product": 1, "quantity": 1', content_type="application/json")

    assert_error(
        response,
        400,
        "invalid_json",
        "JSON parse error - Expecting ',' delimiter: line 1 column 29 (char 28)",
    )
    assert database_state() == before


# --- list -----------------------------------------------------------------------------------


def test_a_buyer_lists_their_orders_newest_first(buyer_api, product, codes):
    first = create(buyer_api, product).json()["id"]
    second = create(buyer_api, product, quantity=2).json()["id"]
    create(token_client(UserFactory()), product)  # someone else's

    response = buyer_api.get(ORDERS)

    assert response.status_code == 200
    assert response.json() == [
        order_json(Order.objects.get(pk=second)),
        order_json(Order.objects.get(pk=first)),
    ]


def test_a_merchant_lists_the_orders_of_its_shop(merchant_api, buyer_api, product, codes):
    mine = create(buyer_api, product).json()["id"]
    theirs = create(token_client(UserFactory()), product).json()["id"]
    elsewhere = ProductFactory(merchant=MerchantFactory())
    stock(elsewhere, 1)
    create(buyer_api, elsewhere)  # another shop's sale

    response = merchant_api.get(ORDERS)

    assert response.json() == [
        order_json(Order.objects.get(pk=theirs)),
        order_json(Order.objects.get(pk=mine)),
    ]


def test_a_caller_without_orders_gets_an_empty_list(buyer_api, product, codes):
    create(token_client(UserFactory()), product)

    assert buyer_api.get(ORDERS).json() == []


def test_listing_orders_needs_a_token(api):
    assert_error(api.get(ORDERS), 401, *NOT_AUTHENTICATED)


# --- detail ---------------------------------------------------------------------------------


def test_an_unpaid_order_shows_no_codes(buyer_api, placed):
    response = buyer_api.get(order_url(placed.pk))

    assert response.status_code == 200
    assert response.json() == {
        **order_json(placed),
        "codes": [],
        "timeline": timeline(placed),
        "dispute": None,
    }
    assert [entry["event"] for entry in response.json()["timeline"]] == ["created"]


def test_the_buyer_sees_the_codes_in_clear_after_delivery(buyer_api, delivered, codes):
    response = buyer_api.get(order_url(delivered.pk))

    assert response.status_code == 200
    delivered.refresh_from_db()
    assert delivered.codes_revealed_at is not None
    assert response.json() == {
        **order_json(delivered),
        "codes": codes[:2],
        "timeline": timeline(delivered),
        "dispute": None,
    }
    assert response.json()["status"] == "delivered"
    assert response.json()["auto_confirm_at"] == iso(delivered.delivered_at + timedelta(seconds=86400))
    assert [entry["event"] for entry in response.json()["timeline"]] == [
        "created",
        "paid",
        "delivered",
        "codes_revealed",
    ]


def test_the_merchant_sees_masked_codes_and_reveals_nothing(merchant_api, delivered, codes):
    response = merchant_api.get(order_url(delivered.pk))

    assert response.status_code == 200
    assert response.json()["codes"] == [f"{code[:4]}…{code[-4:]}" for code in codes[:2]]
    assert response.json() == {
        **order_json(delivered),
        "codes": response.json()["codes"],
        "timeline": timeline(delivered),
        "dispute": None,
    }
    delivered.refresh_from_db()
    assert delivered.codes_revealed_at is None
    assert events(delivered) == ["created", "paid", "delivered"]


def test_another_users_order_looks_exactly_like_a_missing_one(delivered):
    stranger = token_client(UserFactory())
    other_shop = token_client(MerchantFactory().memberships.get().user)
    before = database_state()

    for client in (stranger, other_shop):
        foreign = client.get(order_url(delivered.pk))
        missing = client.get(order_url(delivered.pk + 1000))
        assert_error(foreign, 404, "not_found", "No such order.")
        assert foreign.content == missing.content
    assert database_state() == before


def test_an_order_needs_a_token(api, placed):
    assert_error(api.get(order_url(placed.pk)), 401, *NOT_AUTHENTICATED)


# --- confirm --------------------------------------------------------------------------------


def test_the_buyer_confirms_and_the_merchant_is_paid(buyer, buyer_api, merchant, delivered):
    response = buyer_api.post(confirm_url(delivered.pk))

    assert response.status_code == 200
    assert response.json() == {"id": delivered.pk, "status": "completed"}
    delivered.refresh_from_db()
    assert delivered.status == OrderStatus.COMPLETED
    assert delivered.hold.status == HoldStatus.RELEASED
    # 5 % fee on 3998 rounds down to 199
    assert account_balance(f"merchant:{merchant.pk}:available:CNY") == 3799
    assert account_balance("platform:fees:CNY") == 199
    assert account_balance(f"escrow:order:{delivered.pk}") == 0
    last = OrderEvent.objects.filter(order=delivered).order_by("at", "id").last()
    assert (last.event, last.from_status, last.actor_id) == ("completed", "delivered", buyer.pk)


def test_confirming_twice_is_409_and_pays_once(buyer_api, delivered):
    buyer_api.post(confirm_url(delivered.pk))
    before = database_state()

    response = buyer_api.post(confirm_url(delivered.pk))

    assert_error(response, 409, "invalid_state", "An order that is completed cannot be confirmed.")
    assert database_state() == before


def test_confirming_before_delivery_is_409(buyer_api, placed):
    before = database_state()

    response = buyer_api.post(confirm_url(placed.pk))

    assert_error(response, 409, "invalid_state", "An order that is pending_payment cannot be confirmed.")
    assert database_state() == before


def test_the_merchant_cannot_confirm_its_own_sale(merchant_api, delivered):
    before = database_state()

    response = merchant_api.post(confirm_url(delivered.pk))

    assert_error(response, 403, "permission_denied", "Only the buyer confirms an order.")
    assert database_state() == before


def test_a_stranger_cannot_confirm_and_learns_nothing(delivered):
    stranger = token_client(UserFactory())
    before = database_state()

    foreign = stranger.post(confirm_url(delivered.pk))
    missing = stranger.post(confirm_url(delivered.pk + 1000))

    assert_error(foreign, 404, "not_found", "No such order.")
    assert foreign.content == missing.content
    assert database_state() == before


def test_confirming_needs_a_token(api, delivered):
    before = database_state()

    assert_error(api.post(confirm_url(delivered.pk)), 401, *NOT_AUTHENTICATED)
    assert database_state() == before


# --- the simulated gateway ------------------------------------------------------------------


def test_paying_at_the_gateway_delivers_the_order(placed, gateway, merchant):
    reference = placed.payment.reference

    response = gateway(placed, {"outcome": "succeeded"})

    assert response.status_code == 200
    assert response.json() == {"reference": reference, "status": "succeeded"}
    placed.refresh_from_db()
    assert placed.status == OrderStatus.DELIVERED
    assert placed.payment.status == PaymentStatus.SUCCEEDED
    assert SimulatedCharge.objects.get(reference=reference).status == SimulatedChargeStatus.SUCCEEDED
    event = WebhookEvent.objects.get()
    assert (event.provider, event.event_type, event.payload["data"]) == (
        "simulated",
        "payment.succeeded",
        {"reference": reference, "amount": 3998, "currency": "CNY"},
    )
    assert event.processed_at is not None
    hold = Hold.objects.get(reference=f"order:{placed.pk}")
    assert (hold.amount, hold.status, hold.release_at) == (3998, HoldStatus.HELD, placed.auto_confirm_at)
    # the shop paid its deposit through the same provider
    assert account_balance("provider:simulated:CNY") == -3998 - settings.KABAO_MIN_MERCHANT_DEPOSIT
    assert code_states(placed.product) == {"available": 3, "reserved": 0, "sold": 2, "void": 0}


def test_the_default_outcome_is_success(placed, gateway):
    assert gateway(placed, {}).json()["status"] == "succeeded"
    placed.refresh_from_db()
    assert placed.status == OrderStatus.DELIVERED


def test_a_failed_payment_leaves_the_order_waiting_and_it_can_be_paid_again(placed, gateway):
    response = gateway(placed, {"outcome": "failed"})

    assert response.json() == {"reference": placed.payment.reference, "status": "failed"}
    placed.refresh_from_db()
    assert placed.status == OrderStatus.PENDING_PAYMENT
    assert placed.payment.status == PaymentStatus.FAILED
    assert events(placed) == ["created", "payment_failed"]
    assert code_states(placed.product)["reserved"] == 2

    assert gateway(placed, {"outcome": "succeeded"}).json()["status"] == "succeeded"
    placed.refresh_from_db()
    assert placed.status == OrderStatus.DELIVERED


def test_paying_twice_charges_once(delivered, gateway):
    before = database_state()

    response = gateway(delivered, {"outcome": "succeeded"})

    assert response.json() == {"reference": delivered.payment.reference, "status": "succeeded"}
    assert database_state() == before


def test_a_dropped_webhook_leaves_the_money_for_reconciliation_to_find(
    placed, gateway, django_capture_on_commit_callbacks
):
    response = gateway(placed, {"outcome": "succeeded", "drop_webhook": True})

    assert response.json() == {"reference": placed.payment.reference, "status": "succeeded"}
    assert (
        SimulatedCharge.objects.get(reference=placed.payment.reference).status
        == SimulatedChargeStatus.SUCCEEDED
    )
    assert not WebhookEvent.objects.exists()
    placed.refresh_from_db()
    assert (placed.status, placed.payment.status) == (OrderStatus.PENDING_PAYMENT, PaymentStatus.CREATED)

    with django_capture_on_commit_callbacks(execute=True):
        found = sweep_reconcile_unpaid(now=timezone.now() + timedelta(seconds=121))

    assert found == 1
    placed.refresh_from_db()
    assert placed.status == OrderStatus.DELIVERED


@pytest.mark.parametrize(
    ("body", "code", "message", "fields"),
    [
        ('{"outcome": ', "invalid_json", "The body is not valid JSON.", {}),
        ('["succeeded"]', "invalid", "Send a JSON object.", {}),
        (
            {"outcome": "maybe"},
            "invalid",
            "outcome must be 'succeeded' or 'failed'",
            {"outcome": ["invalid"]},
        ),
    ],
)
def test_the_gateway_refuses_bad_input(placed, gateway, body, code, message, fields):
    before = database_state()

    response = gateway(placed, body)

    assert_error(response, 400, code, message, fields)
    assert database_state() == before


def test_the_gateway_does_not_know_a_made_up_reference(api, placed):
    before = database_state()

    response = api.post("/pay/simulated/sim_0_made-up/", {"outcome": "succeeded"}, format="json")

    assert response.status_code == 404
    assert database_state() == before


# --- the simulated webhook endpoint ---------------------------------------------------------


@pytest.fixture
def paid_without_webhook(placed, gateway) -> Order:
    """The money was captured at the gateway; its webhook has not arrived."""
    gateway(placed, {"outcome": "succeeded", "drop_webhook": True})
    placed.refresh_from_db()
    assert placed.status == OrderStatus.PENDING_PAYMENT
    return placed


def post_webhook(client, body: bytes, signature: str | None):
    extra = {} if signature is None else {"HTTP_" + SIGNATURE_HEADER.upper().replace("-", "_"): signature}
    return client.post(WEBHOOK, data=body, content_type="application/json", **extra)


def test_a_signed_webhook_is_stored_once_and_delivers_the_order(
    api, paid_without_webhook, django_capture_on_commit_callbacks
):
    body = event_body(SimulatedCharge.objects.get(reference=paid_without_webhook.payment.reference))

    with django_capture_on_commit_callbacks(execute=True):
        response = post_webhook(api, body, sign(body))

    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False}
    event = WebhookEvent.objects.get()
    assert (event.event_id, event.event_type) == (json.loads(body)["id"], "payment.succeeded")
    assert event.processed_at is not None
    paid_without_webhook.refresh_from_db()
    assert paid_without_webhook.status == OrderStatus.DELIVERED
    # the shop paid its deposit through the same provider
    assert account_balance("provider:simulated:CNY") == -3998 - settings.KABAO_MIN_MERCHANT_DEPOSIT


def test_a_replayed_webhook_is_a_duplicate_and_changes_nothing(
    api, paid_without_webhook, django_capture_on_commit_callbacks
):
    body = event_body(SimulatedCharge.objects.get(reference=paid_without_webhook.payment.reference))
    with django_capture_on_commit_callbacks(execute=True):
        post_webhook(api, body, sign(body))
    before = database_state()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        replay = post_webhook(api, body, sign(body))
        same_signature_again = post_webhook(api, body, sign(body, timestamp=int(time.time()) - 60))

    assert replay.status_code == 200
    assert replay.json() == {"received": True, "duplicate": True}
    assert same_signature_again.json() == {"received": True, "duplicate": True}
    assert callbacks == []
    assert database_state() == before


def _signed_with(secret: bytes, body: bytes) -> str:
    timestamp = int(time.time())
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def test_webhooks_with_a_bad_or_missing_signature_are_400_and_store_nothing(
    api, paid_without_webhook, django_capture_on_commit_callbacks
):
    body = event_body(SimulatedCharge.objects.get(reference=paid_without_webhook.payment.reference))
    tampered = body.replace(b'"amount":3998', b'"amount":1')
    assert tampered != body
    cases = [
        (body, None, "Webhook refused: malformed signature header."),
        (body, "", "Webhook refused: malformed signature header."),
        (body, "v1=abc", "Webhook refused: malformed signature header."),
        (body, "t=soon,v1=abc", "Webhook refused: malformed signature header."),
        (body, _signed_with(b"not-the-secret", body), "Webhook refused: signature does not match."),
        (tampered, sign(body), "Webhook refused: signature does not match."),
        (
            body,
            sign(body, timestamp=int(time.time()) - 301),
            "Webhook refused: signature timestamp outside the tolerance.",
        ),
        (b'{"id": "evt_1"}', sign(b'{"id": "evt_1"}'), "Webhook refused: signed body is not a valid event."),
        (b"not json", sign(b"not json"), "Webhook refused: signed body is not a valid event."),
    ]
    before = database_state()

    for raw, signature, message in cases:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = post_webhook(api, raw, signature)
        assert_error(response, 400, "invalid_signature", message)
        assert callbacks == []

    assert database_state() == before
    assert not WebhookEvent.objects.exists()
    paid_without_webhook.refresh_from_db()
    assert paid_without_webhook.status == OrderStatus.PENDING_PAYMENT


def test_a_signed_failure_webhook_records_the_failed_payment(
    api, placed, gateway, django_capture_on_commit_callbacks
):
    gateway(placed, {"outcome": "failed", "drop_webhook": True})
    body = event_body(SimulatedCharge.objects.get(reference=placed.payment.reference))

    with django_capture_on_commit_callbacks(execute=True):
        response = post_webhook(api, body, sign(body))

    assert response.json() == {"received": True, "duplicate": False}
    assert WebhookEvent.objects.get().event_type == "payment.failed"
    placed.refresh_from_db()
    assert (placed.status, placed.payment.status) == (OrderStatus.PENDING_PAYMENT, PaymentStatus.FAILED)
    assert events(placed) == ["created", "payment_failed"]


def test_the_webhook_endpoint_answers_only_post(api):
    assert_error(api.get(WEBHOOK), 405, "method_not_allowed", 'Method "GET" not allowed.')


def test_the_order_list_never_shows_codes_in_clear(buyer_api, delivered, codes):
    listed = json.dumps(buyer_api.get(ORDERS).json())

    for code in codes:
        assert code not in listed
    assert [
        decrypt_code(c.ciphertext, fingerprint=c.fingerprint)
        for c in Code.objects.filter(order=delivered).order_by("id")
    ] == codes[:2]
