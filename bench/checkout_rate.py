"""Benchmark: checkouts per second through HTTP on the production stack, against a floor.

    .venv/bin/python bench/checkout_rate.py [--clients 16] [--seconds 20] [--repeat 3] [--web-workers 2]
    .venv/bin/python bench/checkout_rate.py --history 1000000 --reuse   # the shop with 1 M past sales

Not a test: it prints figures. It recreates its own database (`kabao_bench_http`), flushes its Redis
database (7), makes a shop with a product, stock and 64 buyers with API tokens, and starts the stack
(bench/_stack.py: gunicorn with sync workers, a Celery worker with 2 processes, beat). With
`--history N` the shop first gets N past orders, completed, with their codes, payments, webhook events,
holds, postings and timelines (bench/_history.py, bulk-loaded); with `--reuse` that database is kept
as a template and later runs (of this benchmark or payment_to_code.py) start from a copy. Then, per round:

- floor: `--clients` concurrent clients GET /bench/floor (one `SELECT 1` on the worker's kept
  connection, through the whole middleware stack) back to back for `--seconds`;
- checkout: the same clients each run checkouts back to back for `--seconds`: a buyer (each client
  cycles through its own buyers) POSTs /api/v1/orders/ (1 code, token auth; reserves the code and
  opens the simulated payment), then the simulated provider's webhook `payment.succeeded` for that
  payment, signed with KABAO_SIMULATED_WEBHOOK_SECRET, is POSTed to /api/v1/payments/webhooks/simulated/
  (stored once; a Celery task places the money in the escrow hold and delivery follows);
- it waits (bounded) until every order of the round has its hold (the time is reported: the web
  takes orders faster than 2 Celery processes place their holds), then until each is delivered.

The simulated provider's own record of each charge is set to succeeded (from this process, not
timed) before its webhook is sent, as the gateway page does: reconciliation then has nothing to do.
Besides rates and latencies it reports the CPU time the gunicorn and Celery workers spent per floor
request and per checkout (from /proc): a cost that does not depend on what else runs on the machine.

A checkout's latency is both requests; the rate is checkouts per second of client wall time.
Goal (issue 8): at 16 clients, at least 40% of the floor's request rate, and p99 under 100 ms.
"""

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import (
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    Load,
    Stack,
    closed_loop,
    history_arguments,
    machine,
    p50_p99_ms,
    request,
    shop_prepared,
    spread,
    stock_at_least,
)

BUYERS = 64
HOLD_TIMEOUT = 300


def charge_succeeded(reference: str) -> None:
    """The provider's side of the payment: its own record says succeeded before it sends the event
    (as the gateway page does), so that reconciliation finds nothing to do about the order."""
    from marketplace.models import SimulatedCharge, SimulatedChargeStatus

    SimulatedCharge.objects.filter(reference=reference).update(status=SimulatedChargeStatus.SUCCEEDED)


def webhook(reference: str, amount: int, currency: str) -> tuple[bytes, dict[str, str]]:
    """The simulated provider's event for a captured payment, signed as the provider signs it."""
    from marketplace.payments.simulated import SIGNATURE_HEADER, sign

    body = json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": "payment.succeeded",
            "created": int(time.time()),
            "data": {"reference": reference, "amount": amount, "currency": currency},
        },
        separators=(",", ":"),
    ).encode()
    return body, {SIGNATURE_HEADER: sign(body), "Content-Type": "application/json"}


async def floor_round(port: int, clients: int, seconds: float) -> Load:
    async def job(_client: int, _iteration: int, load: Load) -> None:
        status, _body, elapsed = await request(port, "GET", "/bench/floor")
        assert status == 200, status
        load.add("floor", elapsed)

    return await closed_loop(clients, seconds, job)


async def checkout_round(port: int, clients: int, seconds: float, shop, order_ids: list[int]) -> Load:
    order_body = json.dumps({"product": shop.product_id, "quantity": 1}).encode()

    async def job(client: int, iteration: int, load: Load) -> None:
        tokens = shop.buyer_tokens[client::clients]
        token = tokens[iteration % len(tokens)]
        started = time.perf_counter()
        status, body, elapsed = await request(
            port,
            "POST",
            "/api/v1/orders/",
            order_body,
            {"Authorization": f"Token {token}", "Content-Type": "application/json"},
        )
        assert status == 201, (status, body[:300])
        load.add("create order", elapsed)
        order = json.loads(body)
        reference = order["payment"]["pay_url"].rstrip("/").rsplit("/", 1)[1]
        # Not timed: the provider's work, in a thread of this process (its own database connection).
        paid_at_provider = time.perf_counter()
        await asyncio.to_thread(charge_succeeded, reference)
        started += time.perf_counter() - paid_at_provider
        event, headers = webhook(reference, order["amount"], order["currency"])
        status, body, elapsed = await request(
            port, "POST", "/api/v1/payments/webhooks/simulated/", event, headers
        )
        assert status == 200, (status, body[:300])
        load.add("webhook", elapsed)
        load.add("checkout", time.perf_counter() - started)
        order_ids.append(order["id"])

    return await closed_loop(clients, seconds, job)


def wait_for_holds(order_ids: list[int], redis_url: str) -> float:
    """Seconds from now until every order has its escrow hold; then waits (not counted) until each
    is delivered and the task queue is empty, and checks each hold holds its order's amount."""
    import redis

    from marketplace.models import Order, OrderStatus

    started = time.perf_counter()
    while True:
        waiting = Order.objects.filter(pk__in=order_ids, hold__isnull=True).count()
        if not waiting:
            break
        if time.perf_counter() - started > HOLD_TIMEOUT:
            raise RuntimeError(f"{waiting} orders still without a hold after {HOLD_TIMEOUT} s")
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    # Then let the pipeline finish (deliveries, the delivery tasks behind them) before the next
    # measurement starts, so that each round's CPU figures hold its own orders' work.
    broker = redis.Redis.from_url(redis_url)
    while Order.objects.filter(pk__in=order_ids, status=OrderStatus.PAID).exists() or broker.llen("celery"):
        if time.perf_counter() - started > HOLD_TIMEOUT:
            raise RuntimeError(f"orders still undelivered after {HOLD_TIMEOUT} s")
        time.sleep(0.05)
    orders = Order.objects.filter(pk__in=order_ids).select_related("hold")
    assert len(orders) == len(order_ids)
    for order in orders:
        assert order.status == OrderStatus.DELIVERED, (order.pk, order.status)
        assert order.hold is not None and order.hold.amount == order.amount, order.pk
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--web-workers", type=int, default=2)
    history_arguments(parser)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument(
        "--profile", type=Path, help="py-spy every worker during the checkouts, into this folder"
    )
    args = parser.parse_args()

    print(f"machine: {machine()}")
    shop = shop_prepared(
        args.database_url, args.redis_url, buyers=BUYERS, history=args.history, reuse=args.reuse
    )
    stack = Stack(web_workers=args.web_workers, celery_concurrency=2, redis_url=args.redis_url)
    print(f"database: {args.database_url}, {args.history:,} past orders · {stack.describe()}")
    print(f"{args.clients} clients, {args.seconds:g} s per measurement, {BUYERS} buyers")
    floors: list[Load] = []
    checkouts: list[Load] = []
    hold_waits: list[float] = []
    cpu_ratios: list[float] = []
    held_rates: list[float] = []
    with stack:
        for number in range(1, args.repeat + 1):
            stock_at_least(shop.product_id, int(args.seconds * 400) + 1000)
            cpu_start = stack.cpu_seconds()
            floor = asyncio.run(floor_round(stack.port, args.clients, args.seconds))
            cpu_floor = stack.cpu_seconds()
            order_ids: list[int] = []
            samplers = stack.profile(args.seconds, args.profile / f"round-{number}") if args.profile else []
            checkout = asyncio.run(checkout_round(stack.port, args.clients, args.seconds, shop, order_ids))
            hold_wait = wait_for_holds(order_ids, args.redis_url)
            cpu_end = stack.cpu_seconds()
            floor_cpu = (cpu_floor["web"] - cpu_start["web"]) * 1000 / floor.jobs
            checkout_web_cpu = (cpu_end["web"] - cpu_floor["web"]) * 1000 / checkout.jobs
            checkout_celery_cpu = (cpu_end["celery"] - cpu_floor["celery"]) * 1000 / checkout.jobs
            cpu_ratios.append((checkout_web_cpu + checkout_celery_cpu) / floor_cpu)
            for sampler in samplers:
                sampler.wait(timeout=60)
            floors.append(floor)
            checkouts.append(checkout)
            hold_waits.append(hold_wait)
            held_rates.append(checkout.jobs / (checkout.seconds + hold_wait))
            floor_p50, floor_p99 = p50_p99_ms(floor.latencies["floor"])
            parts = ", ".join(
                "{} p50 {:.1f} / p99 {:.1f} ms".format(part, *p50_p99_ms(checkout.latencies[part]))
                for part in ("create order", "webhook", "checkout")
            )
            print(
                f"round {number}: floor {floor.rate:.0f} req/s (p50 {floor_p50:.1f} / p99 {floor_p99:.1f} ms)"
                f" · checkout {checkout.rate:.1f} orders/s = {checkout.rate / floor.rate:.0%} of floor"
                f" · {parts} · all {checkout.jobs} holds placed {hold_wait:.1f} s after the last webhook"
                f" · CPU per floor request {floor_cpu:.2f} ms, per checkout {checkout_web_cpu:.1f} ms web"
                f" + {checkout_celery_cpu:.1f} ms Celery"
            )
    ratios = [checkout.rate / floor.rate for floor, checkout in zip(floors, checkouts, strict=True)]
    p99s = [p50_p99_ms(checkout.latencies["checkout"])[1] for checkout in checkouts]
    print(f"floor (GET /bench/floor): {spread([floor.rate for floor in floors], '{:.0f}')} req/s")
    print(f"checkout: {spread([checkout.rate for checkout in checkouts])} orders/s")
    print(f"ratio to floor: {spread([ratio * 100 for ratio in ratios], '{:.0f}')} %")
    print(
        f"orders held per second (first order to the last hold in escrow): {spread(held_rates)}"
        f" = {spread([held / floor.rate * 100 for held, floor in zip(held_rates, floors, strict=True)], '{:.0f}')} %"
        " of floor"
    )
    print(
        "checkout latency (order + webhook): p50 "
        + spread([p50_p99_ms(checkout.latencies["checkout"])[0] for checkout in checkouts])
        + " ms, p99 "
        + spread(p99s)
        + " ms"
    )
    print(
        "CPU of the web and Celery workers per checkout, in floor requests: "
        + spread(cpu_ratios, "{:.0f}")
        + f" (at most {1 / 0.40:.1f} would allow 40% of the floor's rate if CPU is what limits both)"
    )
    met = min(ratios) >= 0.40 and max(p99s) < 100
    print(
        f"goal (≥ 40% of floor, p99 < 100 ms at {args.clients} clients): "
        + ("met" if met else "MISSED")
        + f" — worst round {min(ratios):.0%} of floor, p99 {max(p99s):.1f} ms"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
