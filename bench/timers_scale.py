"""Benchmark: dispute timers with many open disputes and holds in the tables.

    .venv/bin/python bench/timers_scale.py [--background 10000,100000,1000000] [--due 1000]

Not a test: it prints figures. Tasks (the e-mail notices) are enqueued to Redis as in production
(database 10, purged at the end); no worker runs. For each size it recreates its own database and fills it with that
many open disputes (each with its order and a frozen escrow hold) whose deadlines are far away,
written with INSERT … SELECT generate_series. Then it makes `--due` disputes the real way (order,
payment at the simulated gateway, delivery, dispute_open — so their holds hold real money) and
moves time past their deadlines. It times, against a floor measured in the same run (SELECT 1):
- the merchant-silence sweep escalating the due disputes (`sweep_merchant_silence`);
- the decision-deadline sweep refunding them in full with compensation (`sweep_decision_deadline`);
and prints the query plans of both "what is due" queries (they must use the partial indexes).
Goal (issue 8): a sweep that acts on 1,000 due ones among 1,000,000 in under 2 s.
"""

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import DEFAULT_DATABASE_URL, django_for, floor_select_one, summary

FILL = """
INSERT INTO escrow_account (code, kind, currency, balance, allow_negative, created_at)
    SELECT 'escrow:bench:' || n, 'escrow', 'CNY', 0, false, now() FROM generate_series(1, %(n)s) n;
INSERT INTO marketplace_order (buyer_id, product_id, merchant_id, quantity, unit_price, amount, currency,
        status, auto_confirm_seconds, created_at, expires_at, paid_at, delivered_at)
    SELECT %(buyer)s, %(product)s, %(merchant)s, 1, 1999, 1999, 'CNY', 'disputed', 86400,
           now() - interval '1 hour', now(), now(), now() FROM generate_series(1, %(n)s);
INSERT INTO escrow_hold (reference, account_id, beneficiary_id, refund_to_id, amount, currency, status,
        is_frozen, refunded_amount, fee_amount, created_at)
    SELECT 'bench:' || a.id, a.id, %(beneficiary)s, %(refund_to)s, 1999, 'CNY', 'held', true, 0, 0, now()
    FROM escrow_account a WHERE a.code LIKE 'escrow:bench:%%';
INSERT INTO disputes_dispute (order_id, buyer_id, merchant_id, reason, is_after_sale, status, level,
        opened_at, merchant_response_due_at, decision_due_at, refunded_amount, compensation_amount,
        decision_note, resolution)
    SELECT o.id, o.buyer_id, o.merchant_id, 'invalid_code', false, 'awaiting_merchant', 'merchant',
           now(), now() + interval '30 days', now() + interval '60 days', 0, 0, '', ''
    FROM marketplace_order o WHERE o.status = 'disputed';
ANALYZE;
"""


REDIS_URL = "redis://127.0.0.1:6379/10"


def measure(background: int, due: int, database_url: str) -> dict[str, str]:
    django_for(database_url, fresh=True, redis_url=REDIS_URL)
    from django.db import connection
    from django.utils import timezone

    from disputes.models import Dispute, DisputeLevel, DisputeStatus
    from disputes.services.lifecycle import dispute_open
    from disputes.services.timers import sweep_decision_deadline, sweep_merchant_silence
    from escrow.services import provider_account
    from kabao.celery import app
    from marketplace.services.orders import order_create, order_deliver, payment_captured
    from marketplace.services.payments import simulated_gateway_pay
    from merchants.services import merchant_available_account
    from tests.factories import MerchantFactory, ProductFactory, UserFactory, stock

    merchant = MerchantFactory()
    product = ProductFactory(merchant=merchant)
    filler_buyer = UserFactory()
    started = time.perf_counter()
    from django.db import transaction

    with transaction.atomic():
        clearing = provider_account("simulated", "CNY")
        available = merchant_available_account(merchant, "CNY")
    with connection.cursor() as cursor:
        cursor.execute(
            FILL,
            {
                "n": background,
                "buyer": filler_buyer.pk,
                "product": product.pk,
                "merchant": merchant.pk,
                "beneficiary": available.pk,
                "refund_to": clearing.pk,
            },
        )
    fill_seconds = time.perf_counter() - started
    stock(product, due)
    due_ids = []
    for _ in range(due):
        buyer = UserFactory()
        order = order_create(buyer=buyer, product_id=product.pk, quantity=1)
        # The webhook and delivery tasks would need a worker: call their services directly.
        simulated_gateway_pay(reference=order.payment.reference, outcome="succeeded", drop_webhook=True)
        payment_captured(reference=order.payment.reference, amount=order.amount, currency=order.currency)
        order_deliver(order_id=order.pk)
        due_ids.append(dispute_open(order_id=order.pk, buyer=buyer, reason="not_received", message="?").pk)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    later = timezone.now() + timedelta(days=5)
    floor = floor_select_one()

    started = time.perf_counter()
    escalated = sweep_merchant_silence(now=later)
    escalate_seconds = time.perf_counter() - started
    assert escalated == due
    assert Dispute.objects.filter(pk__in=due_ids, level=DisputeLevel.PLATFORM).count() == due

    started = time.perf_counter()
    refunded = sweep_decision_deadline(now=later)
    refund_seconds = time.perf_counter() - started
    assert refunded == due
    assert Dispute.objects.filter(pk__in=due_ids, status=DisputeStatus.RESOLVED).count() == due

    with connection.cursor() as cursor:
        plans = []
        for sql in (
            "EXPLAIN SELECT id FROM disputes_dispute WHERE status = 'awaiting_merchant' AND level = 'merchant'"
            " AND merchant_first_response_at IS NULL AND merchant_response_due_at <= now()"
            " ORDER BY merchant_response_due_at LIMIT 200 FOR UPDATE SKIP LOCKED",
            "EXPLAIN SELECT id FROM disputes_dispute WHERE NOT status = 'resolved' AND decision_due_at <= now()"
            " ORDER BY decision_due_at LIMIT 200 FOR UPDATE SKIP LOCKED",
        ):
            cursor.execute(sql)
            plans.append(" / ".join(row[0].strip() for row in cursor.fetchall()))
    connection.close()
    with app.connection_for_write() as broker:  # the notices nobody will send
        broker.default_channel.queue_purge("celery")
    return {
        "open disputes in the tables": f"{background + due:,}",
        "fill": f"{fill_seconds:.1f} s",
        "floor (SELECT 1)": summary(floor),
        f"escalate {due} due (merchant silence)": f"{escalate_seconds:.2f} s ({escalate_seconds / due * 1000:.2f} ms each)",
        f"refund {due} due (decision deadline)": f"{refund_seconds:.2f} s ({refund_seconds / due * 1000:.2f} ms each)",
        "plan, merchant silence": plans[0],
        "plan, decision deadline": plans[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--background", default="10000,100000,1000000")
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL.replace("scale", "timers"))
    args = parser.parse_args()
    for size in [int(part) for part in args.background.split(",")]:
        print(f"\n== {size:,} open disputes in the tables, {args.due:,} due")
        for name, value in measure(size, args.due, args.database_url).items():
            print(f"  {name:<42} {value}")


if __name__ == "__main__":
    main()
