"""A task enqueued inside a transaction that rolls back never reaches the broker.

The capture of a payment enqueues the delivery, then its transaction fails at COMMIT: a deferred
constraint trigger, added by the test for the test's own order, refuses the order's move to paid at
commit time, the last moment a transaction can fail. The broker is a private Redis: its queue is read
directly.
"""

import pytest
import redis
from django.db import DatabaseError, connection

from escrow.models import Posting
from marketplace.models import Code, CodeStatus, Order, OrderStatus
from marketplace.services.orders import order_create, payment_captured
from tests.factories import MerchantFactory, ProductFactory, UserFactory, stock

REFUSE_AT_COMMIT = """
CREATE FUNCTION kabao_test_refuse_paid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id = %(order_id)s AND NEW.status = 'paid' THEN
        RAISE EXCEPTION 'order %% refused at commit by the test', NEW.id;
    END IF;
    RETURN NEW;
END $$;
CREATE CONSTRAINT TRIGGER kabao_test_refuse_paid AFTER UPDATE ON marketplace_order
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION kabao_test_refuse_paid();
"""
DROP = """
DROP TRIGGER IF EXISTS kabao_test_refuse_paid ON marketplace_order;
DROP FUNCTION IF EXISTS kabao_test_refuse_paid();
"""


def _queued(broker: redis.Redis) -> tuple[int, int]:
    """(messages waiting in the default queue, messages taken and not acknowledged)."""
    return int(broker.llen("celery")), int(broker.hlen("unacked"))


def _order() -> Order:
    product = ProductFactory(merchant=MerchantFactory(), price=5000)
    stock(product, 1)
    return order_create(buyer=UserFactory(), product_id=product.pk, quantity=1)


def test_a_delivery_enqueued_in_a_transaction_that_fails_at_commit_never_reaches_the_broker(
    celery_processes, private_redis
):
    broker = redis.Redis.from_url(private_redis.url)
    order = _order()
    with connection.cursor() as cursor:
        cursor.execute(REFUSE_AT_COMMIT % {"order_id": int(order.pk)})
    try:
        with pytest.raises(DatabaseError, match=f"order {order.pk} refused at commit by the test"):
            payment_captured(reference=order.payment.reference, amount=order.amount, currency=order.currency)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(DROP)
    assert _queued(broker) == (0, 0)
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT and order.hold_id is None
    assert list(order.events.values_list("event", flat=True)) == ["created"]
    assert not Posting.objects.filter(idempotency_key__startswith=f"hold:{order.hold_reference}:").exists()
    assert Code.objects.get(order=order).status == CodeStatus.RESERVED

    # The same capture, committed, puts exactly one message on the same queue: the queue is read right.
    payment_captured(reference=order.payment.reference, amount=order.amount, currency=order.currency)
    assert _queued(broker) == (1, 0)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID
