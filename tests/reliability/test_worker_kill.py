"""A worker SIGKILLed in the middle of a delivery: the order is still delivered, exactly once.

The kill lands at a fixed point: the test holds the order's escrow hold row locked, so the worker's
delivery blocks in `hold_set_release_at`, after it has taken the codes (marked them sold) and moved
nothing yet that is committed. `pg_blocking_pids` shows the test when the worker is there. No beat
runs, so no sweep can send the task again: the broker's own redelivery is what delivers the order.
"""

import os
import signal
import time

import psycopg
from django.db import connection

from escrow.models import Posting
from escrow.verify import ledger_verify
from marketplace.models import Code, CodeStatus, Order, OrderStatus
from marketplace.services.orders import order_create, payment_captured
from tests.factories import MerchantFactory, ProductFactory, UserFactory, stock
from tests.processes import child_pids, database_url, kill, wait_for

VISIBILITY_TIMEOUT = 1  # seconds, for the worker started after the kill (1b)


def _paid_order() -> Order:
    """A paid order of 2 codes out of 3 in stock; its delivery task waits in the broker."""
    product = ProductFactory(merchant=MerchantFactory(), price=5000)
    stock(product, 3)
    order = order_create(buyer=UserFactory(), product_id=product.pk, quantity=2)
    payment_captured(reference=order.payment.reference, amount=order.amount, currency=order.currency)
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    return order


def _blocked_by(holder: psycopg.Connection) -> list[str]:
    """The queries waiting for a lock that `holder` holds."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT query FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
            [holder.info.backend_pid],
        )
        return [row[0] for row in cursor.fetchall()]


def _hold_locked(order: Order) -> psycopg.Connection:
    holder = psycopg.connect(database_url())
    holder.execute("SELECT id FROM escrow_hold WHERE id = %s FOR UPDATE", [order.hold_id])
    return holder


def _assert_delivered_once(order: Order) -> None:
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    assert list(order.events.order_by("id").values_list("event", flat=True)) == [
        "created",
        "paid",
        "delivered",
    ]
    assert Code.objects.filter(order=order, status=CodeStatus.SOLD).count() == 2
    assert Code.objects.filter(product=order.product, status=CodeStatus.AVAILABLE, order=None).count() == 1
    keys = Posting.objects.filter(idempotency_key__startswith=f"hold:{order.hold_reference}:")
    assert list(keys.values_list("idempotency_key", flat=True)) == [f"hold:{order.hold_reference}:place"]
    ledger_verify()


def test_a_pool_process_killed_mid_delivery_is_replaced_and_the_order_delivered_once(
    celery_processes, capsys
):
    order = _paid_order()
    holder = _hold_locked(order)
    try:
        worker = celery_processes.worker("worker", "--pool=prefork", "--concurrency=1")
        wait_for(lambda: _blocked_by(holder), timeout=30, what="the delivery to reach the hold")
        [query] = _blocked_by(holder)
        assert query.startswith('UPDATE "escrow_hold"')
        [pool_process] = child_pids(worker.pid)
        os.kill(pool_process, signal.SIGKILL)
        killed = time.monotonic()
    finally:
        holder.close()  # the dead process's transaction rolls back once its statement ends
    # The parent sees its pool process lost and, with reject_on_worker_lost, puts the message back.
    wait_for(
        lambda: Order.objects.get(pk=order.pk).status == OrderStatus.DELIVERED, timeout=30, what="delivery"
    )
    delivered = time.monotonic() - killed
    _assert_delivered_once(order)
    assert worker.poll() is None  # the worker itself lived on, with a new pool process
    assert "exited with 'signal 9 (SIGKILL)'" in celery_processes.log("worker")
    with capsys.disabled():
        print(f"\n  pool process SIGKILLed mid-delivery: delivered once, {delivered:.1f} s after the kill")


def test_a_whole_worker_killed_mid_delivery_is_redelivered_by_the_broker_once(celery_processes, capsys):
    order = _paid_order()
    holder = _hold_locked(order)
    try:
        worker = celery_processes.worker("worker", "--pool=prefork", "--concurrency=1")
        wait_for(lambda: _blocked_by(holder), timeout=30, what="the delivery to reach the hold")
        kill(worker)  # the main process and its pool process: nobody is left to give the message back
        killed = time.monotonic()
    finally:
        holder.close()
    # Redis still holds the message as taken and unacknowledged; a worker started after the
    # visibility timeout restores it to the queue when it starts consuming.
    time.sleep(VISIBILITY_TIMEOUT)
    celery_processes.worker(
        "restarted",
        "--pool=prefork",
        "--concurrency=1",
        KABAO_BROKER_VISIBILITY_TIMEOUT_SECONDS=str(VISIBILITY_TIMEOUT),
    )
    wait_for(
        lambda: Order.objects.get(pk=order.pk).status == OrderStatus.DELIVERED, timeout=30, what="delivery"
    )
    delivered = time.monotonic() - killed
    _assert_delivered_once(order)
    with capsys.disabled():
        print(
            f"\n  worker SIGKILLed mid-delivery: redelivered by the broker, once, {delivered:.1f} s after the kill"
        )
