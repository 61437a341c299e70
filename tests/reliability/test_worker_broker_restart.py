"""Redis restarted, losing every message, while orders are being paid: every paid order is delivered,
each once.

A private Redis without persistence is the broker of a real worker (prefork, one process) and a real
beat sweeping every second. 20 orders are paid at the gateway, whose webhooks are lost on the way
(掉单); the beat's reconciliation asks the gateway, captures them, and enqueues their 20 deliveries.
Those wait in Redis, because the test holds the orders' codes locked: the first delivery blocks on
them, the others queue behind it. Redis is then killed: the queued deliveries and sweeps are gone.
3 more orders are paid while it is down (their webhooks cannot even be sent: logged, not raised).
Redis comes back empty, the worker and the beat reconnect, the codes are let go. The sweeps recover
both losses: the delivery of an order paid but undelivered is sent again; a payment whose webhook
never arrived is found by asking the gateway.
"""

import time

import psycopg
from django.db import connection

from escrow.models import Posting
from escrow.verify import ledger_verify
from marketplace.models import Code, CodeStatus, Order, OrderStatus, WebhookEvent
from marketplace.services.orders import order_create
from marketplace.services.payments import simulated_gateway_pay
from tests.factories import MerchantFactory, ProductFactory, UserFactory, stock
from tests.processes import database_url, wait_for

PAID_BEFORE = 20
PAID_DURING = 3
SWEEPS = {"KABAO_SWEEP_INTERVAL_SECONDS": "1", "KABAO_RECONCILE_AFTER_SECONDS": "2"}


def _count(status: str, orders: list[Order]) -> int:
    return Order.objects.filter(pk__in=[order.pk for order in orders], status=status).count()


def _blocked_by(holder: psycopg.Connection) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
            [holder.info.backend_pid],
        )
        return int(cursor.fetchone()[0])


def test_every_order_paid_around_a_redis_restart_is_delivered_once(celery_processes, private_redis, capsys):
    product = ProductFactory(merchant=MerchantFactory(), price=1000)
    stock(product, PAID_BEFORE + PAID_DURING + 2)
    buyers = [UserFactory() for _ in range(4)]
    orders = [
        order_create(buyer=buyers[index % len(buyers)], product_id=product.pk, quantity=1)
        for index in range(PAID_BEFORE + PAID_DURING)
    ]
    before, during = orders[:PAID_BEFORE], orders[PAID_BEFORE:]
    holder = psycopg.connect(database_url())
    holder.execute(
        "SELECT id FROM marketplace_code WHERE order_id = ANY(%s) FOR UPDATE", [[o.pk for o in orders]]
    )
    try:
        for order in before:
            simulated_gateway_pay(reference=order.payment.reference, outcome="succeeded", drop_webhook=True)
        celery_processes.worker("worker", "--pool=prefork", "--concurrency=1", **SWEEPS)
        celery_processes.beat("beat", **SWEEPS)
        wait_for(lambda: _count(OrderStatus.PAID, before) == PAID_BEFORE, timeout=60, what="reconciliation")
        wait_for(
            lambda: _blocked_by(holder) >= 1, timeout=30, what="the first delivery to block on its codes"
        )

        private_redis.kill()  # no RDB, no AOF: the queued deliveries and sweeps are lost
        for order in during:  # the payment commits; its webhook cannot be sent (logged, not raised)
            simulated_gateway_pay(reference=order.payment.reference, outcome="succeeded", drop_webhook=False)
        private_redis.start()
        restarted = time.monotonic()
    finally:
        holder.close()
    wait_for(
        lambda: _count(OrderStatus.DELIVERED, orders) == len(orders), timeout=90, what="every order delivered"
    )
    recovered_in = time.monotonic() - restarted

    for order in orders:
        assert list(order.events.order_by("id").values_list("event", flat=True)) == [
            "created",
            "paid",
            "delivered",
        ]
        assert Code.objects.filter(order=order, status=CodeStatus.SOLD).count() == 1
        keys = Posting.objects.filter(idempotency_key__startswith=f"hold:{order.hold_reference}:")
        assert list(keys.values_list("idempotency_key", flat=True)) == [f"hold:{order.hold_reference}:place"]
    assert Code.objects.filter(product_id=product.pk, status=CodeStatus.SOLD).count() == len(orders)
    assert Code.objects.filter(product_id=product.pk, status=CodeStatus.AVAILABLE, order=None).count() == 2
    # No webhook ever arrived: reconciliation found every payment, each once.
    assert WebhookEvent.objects.count() == 0
    ledger_verify()
    log = celery_processes.log("worker")
    reconciled = log.count("reconciliation found a captured payment without its webhook")
    resent = log.count("its delivery task is sent again")
    for order in during:
        assert (
            f"reconciliation found a captured payment without its webhook: {order.payment.reference}" in log
        )
    assert reconciled == len(orders)
    assert resent >= PAID_BEFORE - 1  # all but the one delivery that was running when Redis died
    with capsys.disabled():
        print(
            f"\n  Redis killed with {PAID_BEFORE - 1} deliveries queued, {PAID_DURING} orders paid while it was down: "
            f"all {len(orders)} delivered once, {recovered_in:.1f} s after the restart "
            f"({resent} deliveries sent again by the sweep, {reconciled} payments found by reconciliation)"
        )
