"""Benchmark: from the payment's webhook to the codes on the buyer's order, on the production stack.

    .venv/bin/python bench/payment_to_code.py [--orders 1000] [--concurrency 4] [--poll-ms 10]
    .venv/bin/python bench/payment_to_code.py --history 1000000 --reuse   # the shop with 1 M past sales

Not a test: it prints figures. It recreates its own database (`kabao_bench_http`), flushes its Redis
database (7), makes a shop with a product, stock and 64 buyers with API tokens, and starts the stack
(bench/_stack.py: gunicorn with 2 sync workers, a Celery worker — prefork, 2 processes — on the Redis
broker, and beat); `--history N` and `--reuse` as in checkout_rate.py (bench/_history.py). Then:

- floor: 200 round trips of a no-op task (Celery's built-in `celery.accumulate`) from this process
  through Redis to the worker and its result back through Redis, one at a time;
- `--orders` orders, at most `--concurrency` at a time: a buyer creates the order over HTTP (not
  timed), then the clock starts as the simulated provider's signed `payment.succeeded` webhook is
  sent to /api/v1/payments/webhooks/simulated/, and the buyer polls GET /api/v1/orders/{id}/ (the
  API a buyer's client reads; the browser page's live part reads the same order) every `--poll-ms`
  until it answers with the codes; the clock stops when that answer is in;
- the floor again, and the stages of each order from the server's own timestamps: webhook stored
  (`received_at`) → money held (`paid_at`, first task) → codes delivered (`delivered_at`, second
  task) → seen by the buyer.

Goal (issue 8): p99 under 500 ms.
"""

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import (
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    Shop,
    Stack,
    history_arguments,
    machine,
    percentile,
    request,
    shop_prepared,
    stock_at_least,
    task_round_trip,
)
from checkout_rate import charge_succeeded, webhook

BUYERS = 64
FLOOR_SAMPLES = 200
GIVE_UP_SECONDS = 60  # one order whose codes never show stops the run


def floor(samples: int) -> list[float]:
    return [task_round_trip() for _ in range(samples)]


async def orders_round(
    port: int, shop: Shop, orders: int, concurrency: int, poll_seconds: float
) -> dict[int, tuple[float, float, float, int]]:
    """order id -> (webhook sent, webhook answered, codes seen: perf_counter seconds; polls)."""
    body = json.dumps({"product": shop.product_id, "quantity": 1}).encode()
    results: dict[int, tuple[float, float, float, int]] = {}
    next_number = 0

    async def one(number: int) -> None:
        token = shop.buyer_tokens[number % len(shop.buyer_tokens)]
        auth = {"Authorization": f"Token {token}"}
        status, answer, _ = await request(
            port, "POST", "/api/v1/orders/", body, {**auth, "Content-Type": "application/json"}
        )
        assert status == 201, (status, answer[:300])
        order = json.loads(answer)
        reference = order["payment"]["pay_url"].rstrip("/").rsplit("/", 1)[1]
        await asyncio.to_thread(charge_succeeded, reference)
        event, headers = webhook(reference, order["amount"], order["currency"])
        sent = time.perf_counter()
        status, answer, _ = await request(
            port, "POST", "/api/v1/payments/webhooks/simulated/", event, headers
        )
        answered = time.perf_counter()
        assert status == 200, (status, answer[:300])
        polls = 0
        while True:
            status, answer, _ = await request(port, "GET", f"/api/v1/orders/{order['id']}/", headers=auth)
            polls += 1
            assert status == 200, (status, answer[:300])
            if json.loads(answer)["codes"]:
                break
            if time.perf_counter() - sent > GIVE_UP_SECONDS:
                raise RuntimeError(f"order {order['id']}: no codes {GIVE_UP_SECONDS} s after its webhook")
            await asyncio.sleep(poll_seconds)
        results[order["id"]] = (sent, answered, time.perf_counter(), polls)

    async def slot() -> None:
        nonlocal next_number
        while next_number < orders:
            number = next_number
            next_number += 1
            await one(number)

    await asyncio.gather(*(slot() for _ in range(concurrency)))
    return results


def last_webhook_event() -> int:
    from marketplace.models import WebhookEvent

    return WebhookEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def server_stages(order_ids: list[int], after_event: int) -> dict[str, list[float]]:
    """Milliseconds between the server's own timestamps of each order (its webhook event among
    those stored after `after_event`: not the history's)."""
    from marketplace.models import Order, WebhookEvent

    received: dict[str, datetime] = {
        event.payload["data"]["reference"]: event.received_at
        for event in WebhookEvent.objects.filter(
            pk__gt=after_event, provider="simulated", event_type="payment.succeeded"
        )
    }
    stages: dict[str, list[float]] = {"stored → held": [], "held → delivered": []}
    for order in Order.objects.filter(pk__in=order_ids).select_related("payment"):
        assert order.paid_at is not None and order.delivered_at is not None, order.pk
        stored = received[order.payment.reference]
        stages["stored → held"].append((order.paid_at - stored).total_seconds() * 1000)
        stages["held → delivered"].append((order.delivered_at - order.paid_at).total_seconds() * 1000)
    return stages


def p50_p99(samples: list[float]) -> str:
    return f"p50 {statistics.median(samples):.1f} / p99 {percentile(samples, 0.99):.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--poll-ms", type=float, default=10.0)
    parser.add_argument("--web-workers", type=int, default=2)
    history_arguments(parser)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument(
        "--profile", type=Path, help="py-spy every worker for 20 s of the run, into this folder"
    )
    args = parser.parse_args()

    print(f"machine: {machine()}")
    shop = shop_prepared(
        args.database_url, args.redis_url, buyers=BUYERS, history=args.history, reuse=args.reuse
    )
    stock_at_least(shop.product_id, args.orders + 100)
    stack = Stack(web_workers=args.web_workers, celery_concurrency=2, redis_url=args.redis_url)
    print(f"database: {args.database_url}, {args.history:,} past orders · {stack.describe()}")
    print(
        f"{args.orders} orders, at most {args.concurrency} at a time, the order polled every {args.poll_ms:g} ms"
    )
    with stack:
        before = floor(FLOOR_SAMPLES)
        samplers = stack.profile(20, args.profile) if args.profile else []
        after_event = last_webhook_event()
        started = time.perf_counter()
        results = asyncio.run(
            orders_round(stack.port, shop, args.orders, args.concurrency, args.poll_ms / 1000)
        )
        wall = time.perf_counter() - started
        after = floor(FLOOR_SAMPLES)
        for sampler in samplers:
            sampler.wait(timeout=60)
    floor_ms = before + after
    visible = [(seen - sent) * 1000 for sent, _answered, seen, _polls in results.values()]
    webhook_ms = [(answered - sent) * 1000 for sent, answered, _seen, _polls in results.values()]
    polls = [result[3] for result in results.values()]
    stages = server_stages(list(results), after_event)
    floor_p50, floor_p99 = statistics.median(floor_ms), percentile(floor_ms, 0.99)
    p50, p99 = statistics.median(visible), percentile(visible, 0.99)
    print(
        f"floor (no-op task round trip through Redis, {len(floor_ms)}): p50 {floor_p50:.1f} / p99 {floor_p99:.1f} ms"
        f" (before {statistics.median(before):.1f}, after {statistics.median(after):.1f})"
    )
    print(
        f"webhook sent → codes seen ({len(visible)} orders in {wall:.1f} s): p50 {p50:.1f} / p99 {p99:.1f} ms,"
        f" max {max(visible):.1f} ms = {p50 / floor_p50:.1f}× / {p99 / floor_p99:.1f}× the floor"
    )
    print(
        f"stages: webhook answered {p50_p99(webhook_ms)} · "
        + " · ".join(f"{name} {p50_p99(samples)}" for name, samples in stages.items())
        + f" · polls per order p50 {statistics.median(polls):.0f}"
    )
    met = p99 < 500
    print(f"goal (p99 < 500 ms): {'met' if met else 'MISSED'} — p99 {p99:.1f} ms")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
