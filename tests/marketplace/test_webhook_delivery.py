"""The webhook's task delivers the codes itself, right after the capture (one task hop less from
payment to codes); the delivery task the capture enqueues stays, and finds nothing left to do."""

import json
import time
import uuid

from marketplace.models import CodeStatus, Order, OrderStatus
from marketplace.payments.simulated import SIGNATURE_HEADER, sign
from marketplace.services.orders import order_codes, order_create
from marketplace.services.payments import webhook_receive
from marketplace.tasks import process_webhook_event_task
from tests.factories import MerchantFactory, ProductFactory, UserFactory, stock


def succeeded_event(order: Order) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": "payment.succeeded",
            "created": int(time.time()),
            "data": {
                "reference": order.payment.reference,
                "amount": order.amount,
                "currency": order.currency,
            },
        }
    ).encode()
    return body, {SIGNATURE_HEADER: sign(body)}


def test_the_webhook_task_delivers_without_waiting_for_the_delivery_task(
    db, django_capture_on_commit_callbacks
):
    product = ProductFactory(merchant=MerchantFactory(), price=3000)
    codes = stock(product, 2)
    buyer = UserFactory()
    order = order_create(buyer=buyer, product_id=product.pk, quantity=2)
    body, headers = succeeded_event(order)
    with django_capture_on_commit_callbacks(execute=False):  # no task is sent for the stored event
        event, is_new = webhook_receive(provider_name="simulated", body=body, headers=headers)
    assert is_new

    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        process_webhook_event_task(event.pk)  # the task's body, in this process

    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    assert sorted(order_codes(order=order, actor=buyer)) == sorted(codes)
    assert set(order.codes.values_list("status", flat=True)) == {CodeStatus.SOLD}
    # The capture still enqueued the delivery task (the retry path): run it now, eagerly, as the
    # worker would; it finds the order delivered and changes nothing.
    assert len(enqueued) == 1
    enqueued[0]()
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    assert list(order.events.values_list("event", flat=True)) == [
        "created",
        "paid",
        "delivered",
        "codes_revealed",
    ]
