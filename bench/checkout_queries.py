"""Diagnosis for the HTTP benchmarks: the SQL statements and in-process time of each step of a checkout.

    .venv/bin/python bench/checkout_queries.py [--orders 20] [--show] [--explain] [--history N [--reuse]]

Not a benchmark of the server: it runs each step in this process (Django's test client for the
requests, the task's service functions called directly, so without gunicorn's or Celery's own
cost) on production settings and its own
database (`kabao_bench_http_queries`), counting statements with CaptureQueriesContext, with wall and CPU time:
create order (POST /api/v1/orders/), the webhook (POST /api/v1/payments/webhooks/simulated/), the
webhook's task (capture and hold, then delivery), a poll of the order while it is paid, and the
buyer's first read of the delivered order, then one run of the two deadline sweeps beat sends every
30 s. `--show` prints the statements of the last order; `--explain` runs each of them again under
EXPLAIN (ANALYZE, BUFFERS) in a transaction rolled back and prints its time, the buffers it touched
and its plan's scans: with `--history N` (bench/_history.py), whatever grows with the data shows.
"""

import argparse
import json
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import DEFAULT_REDIS_URL, history_arguments, shop_prepared, stock_at_least
from checkout_rate import charge_succeeded, webhook

DATABASE_URL = "postgres://postgres@127.0.0.1:5432/kabao_bench_http_queries"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20)
    parser.add_argument("--show", action="store_true", help="print the statements of the last order")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="EXPLAIN ANALYZE each statement of the last order again (rolled back): time, buffers, plan",
    )
    history_arguments(parser)
    args = parser.parse_args()
    # 64 buyers, as the benchmarks have: their shop's history (--reuse) is then the same template.
    shop = shop_prepared(DATABASE_URL, DEFAULT_REDIS_URL, buyers=64, history=args.history, reuse=args.reuse)
    stock_at_least(shop.product_id, args.orders)
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from disputes.services.timers import sweep_dispute_deadlines
    from marketplace.models import WebhookEvent
    from marketplace.services.orders import order_deliver
    from marketplace.services.payments import webhook_process
    from marketplace.services.sweeps import sweep_deadlines

    client = Client()
    steps: dict[str, list[tuple[int, float, float]]] = {}
    last: dict[str, list[str]] = {}

    @contextmanager
    def step(name: str) -> Iterator[None]:
        started, cpu_started = time.perf_counter(), time.process_time()
        with CaptureQueriesContext(connection) as queries:
            yield
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        steps.setdefault(name, []).append((len(queries), wall * 1000, cpu * 1000))
        last[name] = [query["sql"] for query in queries.captured_queries]

    for number in range(args.orders):
        auth = {"Authorization": f"Token {shop.buyer_tokens[number % 4]}"}
        body = json.dumps({"product": shop.product_id, "quantity": 1})
        with step("create order (request)"):
            answer = client.post("/api/v1/orders/", body, content_type="application/json", headers=auth)
        assert answer.status_code == 201, answer.content
        order = answer.json()
        reference = order["payment"]["pay_url"].rstrip("/").rsplit("/", 1)[1]
        charge_succeeded(reference)
        event, headers = webhook(reference, order["amount"], order["currency"])
        with step("webhook (request)"):
            answer = client.post(
                "/api/v1/payments/webhooks/simulated/",
                event,
                content_type="application/json",
                headers=headers,
            )
        assert answer.status_code == 200, answer.content
        stored = WebhookEvent.objects.order_by("-pk").first()
        assert stored is not None
        with step("capture and hold (task)"):
            order_id = webhook_process(event_pk=stored.pk)
        assert order_id is not None
        with step("order read while paid (request)"):
            client.get(f"/api/v1/orders/{order_id}/", headers=auth)
        with step("delivery (task)"):
            order_deliver(order_id=order_id)
        with step("first read with codes (request)"):
            answer = client.get(f"/api/v1/orders/{order_id}/", headers=auth)
        assert answer.json()["codes"], answer.content
    with step("deadline sweeps (beat, every 30 s)"):
        sweep_deadlines()
        sweep_dispute_deadlines()
    print(f"{args.orders} orders, in process, production settings; medians")
    for name, samples in steps.items():
        counts = sorted({count for count, _wall, _cpu in samples})
        print(
            f"  {name:<34} {'/'.join(map(str, counts)):>6} statements"
            f"  {statistics.median(wall for _count, wall, _cpu in samples):7.2f} ms"
            f"  {statistics.median(cpu for _count, _wall, cpu in samples):6.2f} ms CPU (this process)"
        )
    if args.show:
        for name, statements in last.items():
            print(f"\n{name}:")
            for sql in statements:
                print(f"  {sql[:160]}")
    if args.explain:
        for name, statements in last.items():
            print(f"\n{name}, explained (ms, buffers hit + read, scans):")
            for line in explained(statements):
                print(line)


def explained(statements: list[str]) -> Iterator[str]:
    """Each reading or writing statement again under EXPLAIN (ANALYZE, BUFFERS), rolled back."""
    from django.db import DatabaseError, connection, transaction

    def scans(node: dict[str, Any]) -> Iterator[str]:
        if "Scan" in node["Node Type"]:
            yield " ".join(
                part
                for part in (node["Node Type"], node.get("Index Name") or node.get("Relation Name"))
                if part
            )
        for child in node.get("Plans", []):
            yield from scans(child)

    for sql in statements:
        if sql.lstrip().split(None, 1)[0].upper() not in ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH"):
            continue
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)
                plan = cursor.fetchone()[0][0]
                transaction.set_rollback(True)
        except DatabaseError as exc:
            yield f"  not explained ({str(exc).splitlines()[0][:60]}): {sql[:100]}"
            continue
        top = plan["Plan"]
        buffers = top["Shared Hit Blocks"] + top["Shared Read Blocks"]
        yield (
            f"  {plan['Execution Time']:7.3f} ms {buffers:5} · {', '.join(scans(top)) or top['Node Type']}"
            f" · {sql[:100]}"
        )


if __name__ == "__main__":
    main()
