"""Two beats running at once (a second beat started by mistake, or during a deploy): every deadline is
still acted on exactly once.

Two real `celery beat` processes send both sweeps every second to a real worker of four processes.
Due are: unpaid orders past their expiry, delivered orders past their protection window, and
disputes whose merchant stayed silent past its deadline. To make the sweeps race for certain, the
test holds the order and dispute tables locked until four sweeps are waiting on them (two of each
kind), then lets them all go at once; SELECT … FOR UPDATE SKIP LOCKED must split the rows between
them.
"""

import time
from datetime import timedelta

import psycopg
import redis
from django.db import connection
from django.utils import timezone

from disputes.models import Dispute, DisputeEvent, DisputeLevel, EventKind
from disputes.services.lifecycle import dispute_open
from escrow.models import Posting
from escrow.selectors import account_balance
from escrow.verify import ledger_verify
from marketplace.models import Code, CodeStatus, Order, OrderStatus
from marketplace.services.orders import order_create, order_deliver, payment_captured
from tests.factories import MerchantFactory, ProductFactory, UserFactory, stock
from tests.processes import database_url, wait_for

EACH = 8  # deadlines of each kind
PRICE = 1000
SWEEPS = {"KABAO_SWEEP_INTERVAL_SECONDS": "1"}


def _delivered(product_pk: int, buyer) -> Order:
    order = order_create(buyer=buyer, product_id=product_pk, quantity=1)
    payment_captured(reference=order.payment.reference, amount=order.amount, currency=order.currency)
    return order_deliver(order_id=order.pk)


def _waiting_sweeps() -> tuple[int, int]:
    """(sweeps waiting for a lock on orders, on disputes): behind the test's lock, or each other's."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT query FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        queries = [row[0] for row in cursor.fetchall()]
    # pg_stat_activity keeps the first 1 kB of a query; a dispute sweep's names the dispute table first.
    on_disputes = sum('"disputes_dispute"' in query for query in queries)
    return len(queries) - on_disputes, on_disputes


def _events(order: Order) -> list[str]:
    return list(order.events.order_by("id").values_list("event", flat=True))


def test_two_beats_act_on_every_deadline_once(celery_processes, private_redis, capsys):
    merchant = MerchantFactory()
    product = ProductFactory(merchant=merchant, price=PRICE)
    stock(product, 3 * EACH)
    buyer = UserFactory()
    past = timezone.now() - timedelta(seconds=1)
    unpaid = [order_create(buyer=buyer, product_id=product.pk, quantity=1) for _ in range(EACH)]
    Order.objects.filter(pk__in=[o.pk for o in unpaid]).update(expires_at=past)
    confirming = [_delivered(product.pk, buyer) for _ in range(EACH)]
    Order.objects.filter(pk__in=[o.pk for o in confirming]).update(auto_confirm_at=past)
    disputes = [
        dispute_open(
            order_id=_delivered(product.pk, buyer).pk, buyer=buyer, reason="not_received", message="None"
        )
        for _ in range(EACH)
    ]
    Dispute.objects.filter(pk__in=[d.pk for d in disputes]).update(merchant_response_due_at=past)
    # Setup's own tasks (deliveries already done, emails) are dropped: only the sweeps run here.
    redis.Redis.from_url(private_redis.url).flushall()

    holder = psycopg.connect(database_url())
    holder.execute("LOCK TABLE marketplace_order, disputes_dispute IN EXCLUSIVE MODE")
    try:
        celery_processes.worker("worker", "--pool=prefork", "--concurrency=4", **SWEEPS)
        celery_processes.beat("beat-1", **SWEEPS)
        celery_processes.beat("beat-2", **SWEEPS)
        wait_for(lambda: sum(_waiting_sweeps()) == 4, timeout=60, what="four sweeps racing")
        racing = _waiting_sweeps()
    finally:
        holder.close()
    released = time.monotonic()

    def done() -> bool:
        return (
            Order.objects.filter(pk__in=[o.pk for o in unpaid], status=OrderStatus.CANCELLED).count() == EACH
            and Order.objects.filter(pk__in=[o.pk for o in confirming], status=OrderStatus.COMPLETED).count()
            == EACH
            and Dispute.objects.filter(pk__in=[d.pk for d in disputes], level=DisputeLevel.PLATFORM).count()
            == EACH
        )

    wait_for(done, timeout=60, what="every deadline acted on")
    acted_in = time.monotonic() - released
    time.sleep(2)  # two more rounds from each beat: nothing may be acted on a second time

    for order in unpaid:
        assert _events(order) == ["created", "cancelled"]
    assert Code.objects.filter(product_id=product.pk, status=CodeStatus.AVAILABLE, order=None).count() == EACH
    for order in confirming:
        assert _events(order) == ["created", "paid", "delivered", "completed"]
        keys = Posting.objects.filter(idempotency_key__startswith=f"hold:{order.hold_reference}:")
        assert sorted(keys.values_list("idempotency_key", flat=True)) == [
            f"hold:{order.hold_reference}:place",
            f"hold:{order.hold_reference}:settle",
        ]
    assert account_balance(f"merchant:{merchant.pk}:available:CNY") == EACH * PRICE * 95 // 100
    for dispute in disputes:
        kinds = list(
            DisputeEvent.objects.filter(dispute=dispute).order_by("id").values_list("kind", flat=True)
        )
        assert kinds == [EventKind.OPENED, EventKind.DEADLINE_MISSED, EventKind.ESCALATED]
    ledger_verify()
    assert all(process.poll() is None for process in celery_processes.processes)
    with capsys.disabled():
        print(
            f"\n  two beats, four sweeps let go at once ({racing[0]} on orders, {racing[1]} on disputes) on "
            f"{3 * EACH} due deadlines: each acted on once, "
            f"all within {acted_in:.1f} s"
        )
