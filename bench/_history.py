"""A shop's past sales for the HTTP benchmarks (`--history N`), bulk-loaded before the stack starts.

Each past order is what a checkout leaves behind once the buyer has confirmed it, as the services
write it (bench/_stack.py's shop, quantity 1, at the product's price):
- the order, `completed`, with every timestamp of its way set (paid, delivered, codes revealed,
  completed and closed); its one code `sold` to it, encrypted and fingerprinted as an upload does
  (marketplace.crypto, the bench's keys: the buyer could still reveal it);
- its payment (`succeeded`), the simulated gateway's charge (`succeeded`) and the provider's
  `payment.succeeded` webhook event, stored and processed;
- its escrow hold (`order:<id>`) on its own escrow account, placed and released: two postings, the
  place (provider → escrow) and the release (escrow → the shop's available account and the platform's
  fees, KABAO_PLATFORM_FEE_BPS), their entries, on the ledger's one hash chain (escrow/hashing.py) in
  the order of their times, continuing from the chain's head; the cached balances moved by the
  same sums (the escrow accounts end at 0);
- its timeline: created, paid, delivered, codes_revealed, completed (confirmed_by_buyer), hash-chained
  per order as kabao/chains.py links them.
The buyers are the shop's bench buyers and `N / 10` more (each buyer ~10 orders); one order every
30 s of the past, the last a day before now. So the tables, their indexes, the ledger's chain and
the timelines are as large as in a shop with N sales.

Set-based: the rows without hashes (users, escrow accounts, holds, orders, payments, charges,
webhook events) are INSERT … SELECT generate_series with ids computed from the order's number; the
codes (encrypted in Python), the postings and entries and the timelines (hashed in Python) go
through COPY. Two of the ledger's checks are switched off during the load only, as
bench/ledger_scale.py does: the deferred "posting balances" and "posting has entries" triggers
(postings and entries are copied in separate statements); `manage.py verify_history` checks both
afterwards, and every other constraint and foreign key is checked as rows go in.
"""

import base64
import heapq
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

STEP_US = 30_000_000  # one past order every 30 s: 1,000,000 of them span 347 days
ORDERS_PER_BUYER = 10
COPY_CHUNK = 200_000  # rows per COPY statement (each its own transaction: the deferred FK checks)

# When each step of a past order happened, in microseconds after its creation.
CREATED = 0
WEBHOOK_RECEIVED = 20_000_000
PAID = 20_010_000
HOLD_PLACED = 20_020_000
WEBHOOK_PROCESSED = 20_050_000
DELIVERED = 21_000_000
REVEALED = 60_000_000
COMPLETED = 300_000_000
UPLOADED = -86_400_000_000  # the code, the day before


def _at(offset: int) -> str:
    """SQL: the time of step `offset` of past order `n` (same arithmetic as `_time`)."""
    return f"(%(t0)s::timestamptz + (n * {STEP_US} + {offset}) * interval '1 microsecond')"


ORDER_ID = "(%(order_base)s::bigint + n)"
BUYER = "(%(buyers)s::bigint[])[1 + n %% cardinality(%(buyers)s::bigint[])]"
REFERENCE = f"('sim_order-' || {ORDER_ID} || '_' || left(md5(%(run)s::text || n), 16))"

FILL = f"""
INSERT INTO escrow_account (id, code, kind, currency, balance, allow_negative, created_at)
    SELECT %(account_base)s::bigint + n, 'escrow:order:' || {ORDER_ID}, 'escrow', %(currency)s, 0, false,
           {_at(HOLD_PLACED)}
    FROM generate_series(1::bigint, %(n)s) n;
INSERT INTO escrow_hold (id, reference, account_id, beneficiary_id, refund_to_id, amount, currency, status,
        release_at, is_frozen, refunded_amount, fee_amount, created_at, settled_at)
    SELECT %(hold_base)s::bigint + n, 'order:' || {ORDER_ID}, %(account_base)s::bigint + n,
           %(available)s, %(provider)s, %(amount)s, %(currency)s, 'released',
           {_at(DELIVERED)} + %(auto_confirm)s * interval '1 second', false, 0, %(fee)s,
           {_at(HOLD_PLACED)}, {_at(COMPLETED)}
    FROM generate_series(1::bigint, %(n)s) n;
INSERT INTO marketplace_order (id, buyer_id, product_id, merchant_id, quantity, unit_price, amount, currency,
        status, idempotency_key, hold_id, auto_confirm_seconds, created_at, expires_at, paid_at,
        delivery_due_at, delivered_at, auto_confirm_at, completed_at, closed_at, codes_revealed_at)
    SELECT {ORDER_ID}, {BUYER}, %(product)s, %(merchant)s, 1, %(amount)s, %(amount)s, %(currency)s,
           'completed', NULL, %(hold_base)s::bigint + n, %(auto_confirm)s, {_at(CREATED)},
           {_at(CREATED)} + %(unpaid_expiry)s * interval '1 second', {_at(PAID)},
           {_at(PAID)} + %(delivery_deadline)s * interval '1 second', {_at(DELIVERED)},
           {_at(DELIVERED)} + %(auto_confirm)s * interval '1 second', {_at(COMPLETED)}, {_at(COMPLETED)},
           {_at(REVEALED)}
    FROM generate_series(1::bigint, %(n)s) n;
INSERT INTO marketplace_payment (purpose, order_id, merchant_id, payer_id, provider, reference, status, amount,
        currency, refunded_amount, created_at, captured_at)
    SELECT 'order', {ORDER_ID}, NULL, {BUYER}, 'simulated', {REFERENCE}, 'succeeded', %(amount)s,
           %(currency)s, 0, {_at(CREATED)}, {_at(PAID)}
    FROM generate_series(1::bigint, %(n)s) n;
INSERT INTO marketplace_simulatedcharge (reference, amount, currency, status, refunded_amount, created_at)
    SELECT {REFERENCE}, %(amount)s, %(currency)s, 'succeeded', 0, {_at(CREATED)}
    FROM generate_series(1::bigint, %(n)s) n;
INSERT INTO marketplace_webhookevent (provider, event_id, event_type, payload, received_at, processed_at)
    SELECT 'simulated', e.id, 'payment.succeeded',
           jsonb_build_object('id', e.id, 'type', 'payment.succeeded',
                              'created', extract(epoch FROM {_at(WEBHOOK_RECEIVED)})::bigint,
                              'data', jsonb_build_object('reference', {REFERENCE}, 'amount', %(amount)s,
                                                         'currency', %(currency)s::text)),
           {_at(WEBHOOK_RECEIVED)}, {_at(WEBHOOK_PROCESSED)}
    FROM generate_series(1::bigint, %(n)s) n, LATERAL (SELECT 'evt_' || md5(%(run)s::text || 'evt' || n) AS id) e;
"""  # noqa: S608 - constants and placeholders only


def _next_id(cursor: Any, table: str) -> int:
    cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608 - our own table names
    return int(cursor.fetchone()[0])


def _move_sequence(cursor: Any, table: str) -> None:
    cursor.execute(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"  # noqa: S608
    )


def _copy(cursor: Any, statement: str, rows: Iterable[tuple[Any, ...]]) -> int:
    """COPY the rows, COPY_CHUNK per statement (each its own transaction); returns how many."""
    written = 0
    iterator = iter(rows)
    while True:
        with cursor.copy(statement) as copy:
            count = 0
            for row in iterator:
                copy.write_row(row)
                count += 1
                if count == COPY_CHUNK:
                    break
        written += count
        if count < COPY_CHUNK:
            return written


def history_load(
    *, product_id: int, buyer_ids: list[int], orders: int, progress: Callable[[str], None]
) -> None:
    """Append `orders` completed past orders of the product's shop (see the module's docstring)."""
    from django.conf import settings
    from django.db import connection, transaction
    from django.db.models import F

    from escrow.hashing import GENESIS_HASH, posting_hash
    from escrow.models import Account, Posting
    from escrow.services import fee_split, platform_fee_account, provider_account
    from kabao.chains import GENESIS_HASH as TIMELINE_GENESIS
    from kabao.chains import link_hash
    from marketplace.crypto import code_fingerprint, encrypt_code, mask_code
    from marketplace.models import Order, OrderEvent, Product
    from merchants.services.ledger import merchant_available_account

    product = Product.objects.select_related("merchant").get(pk=product_id)
    amount, currency = product.price, product.currency
    fee, net = fee_split(amount, settings.KABAO_PLATFORM_FEE_BPS)
    auto_confirm = product.auto_confirm_seconds or settings.KABAO_AUTO_CONFIRM_SECONDS
    with transaction.atomic():
        provider = provider_account("simulated", currency)
        available = merchant_available_account(product.merchant, currency)
        fees = platform_fee_account(currency)
    run = uuid.uuid4().hex[:8]
    now = datetime.now(UTC).replace(microsecond=0)
    t0 = now - timedelta(microseconds=(orders + 1) * STEP_US + COMPLETED) - timedelta(days=1)

    def when(n: int, offset: int) -> datetime:
        return t0 + timedelta(microseconds=n * STEP_US + offset)

    started = time.perf_counter()
    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor  # psycopg's own, for COPY
        cursor.execute(
            "INSERT INTO accounts_user (password, is_superuser, email, display_name, is_staff, is_active,"
            " date_joined) SELECT '!', false, 'past-buyer-' || %(run)s::text || '-' || n || '@kabao.local', '',"
            " false, true, %(t0)s FROM generate_series(1, %(n)s) n RETURNING id",
            {"run": run, "t0": t0, "n": max(0, orders // ORDERS_PER_BUYER - len(buyer_ids))},
        )
        buyers = buyer_ids + [row[0] for row in cursor.fetchall()]
        order_base, account_base = _next_id(cursor, "marketplace_order"), _next_id(cursor, "escrow_account")
        hold_base, posting_base = _next_id(cursor, "escrow_hold"), _next_id(cursor, "escrow_posting")
        parameters = {
            "n": orders,
            "t0": t0,
            "run": run,
            "buyers": buyers,
            "order_base": order_base,
            "account_base": account_base,
            "hold_base": hold_base,
            "product": product.pk,
            "merchant": product.merchant_id,
            "amount": amount,
            "currency": currency,
            "fee": fee,
            "available": available.pk,
            "provider": provider.pk,
            "auto_confirm": auto_confirm,
            "unpaid_expiry": settings.KABAO_UNPAID_EXPIRY_SECONDS,
            "delivery_deadline": settings.KABAO_DELIVERY_DEADLINE_SECONDS,
        }
        for statement in FILL.split(";"):
            if statement.strip():
                cursor.execute(statement, parameters)
        for table in ("escrow_account", "escrow_hold", "marketplace_order"):
            _move_sequence(cursor, table)
        progress(
            f"users, accounts, holds, orders, payments, charges, webhooks {time.perf_counter() - started:.1f} s"
        )

        # The SQL and Python clocks agree (the timelines' and postings' hashes cover the times).
        last = Order.objects.get(pk=order_base + orders)
        assert (last.created_at, last.completed_at) == (when(orders, CREATED), when(orders, COMPLETED))
        assert last.buyer_id == buyers[orders % len(buyers)], (last.buyer_id, orders)

        def codes() -> Iterator[tuple[Any, ...]]:
            for n in range(1, orders + 1):
                code = base64.b32encode(secrets.token_bytes(10)).decode()
                fingerprint = code_fingerprint(code)
                yield (
                    product.pk,
                    product.merchant_id,
                    fingerprint,
                    encrypt_code(code, fingerprint=fingerprint),
                    mask_code(code),
                    "sold",
                    order_base + n,
                    when(n, UPLOADED),
                    when(n, DELIVERED),
                )

        _copy(
            cursor,
            "COPY marketplace_code (product_id, merchant_id, fingerprint, ciphertext, masked, status,"
            " order_id, created_at, sold_at) FROM STDIN",
            codes(),
        )
        progress(f"codes {time.perf_counter() - started:.1f} s")

        # The ledger: each order's place and release postings, all in time order, on one chain.
        lines_of = {
            "place": lambda n: [(provider.pk, -amount, currency), (account_base + n, amount, currency)],
            "release": lambda n: [
                (account_base + n, -amount, currency),
                (available.pk, net, currency),
                (fees.pk, fee, currency),
            ],
        }
        kinds = {"place": ("hold_place", "place"), "release": ("hold_released", "settle")}
        steps = heapq.merge(
            ((n * STEP_US + HOLD_PLACED, n, "place") for n in range(1, orders + 1)),
            ((n * STEP_US + COMPLETED, n, "release") for n in range(1, orders + 1)),
        )
        head = Posting.objects.order_by("-id").values_list("hash", flat=True).first() or GENESIS_HASH
        numbered = enumerate(steps, start=posting_base + 1)
        with connection.cursor() as admin:
            admin.execute("ALTER TABLE escrow_entry DISABLE TRIGGER escrow_entry_balanced")
            admin.execute("ALTER TABLE escrow_posting DISABLE TRIGGER escrow_posting_has_entries")
        try:
            while chunk := list(islice(numbered, COPY_CHUNK)):
                postings: list[tuple[Any, ...]] = []
                entries: list[tuple[Any, ...]] = []
                for number, (offset, n, step) in chunk:
                    kind, suffix = kinds[step]
                    reference = f"order:{order_base + n}"
                    key = f"hold:{reference}:{suffix}"
                    created_at = t0 + timedelta(microseconds=offset)
                    lines = lines_of[step](n)
                    digest = posting_hash(
                        prev_hash=head,
                        idempotency_key=key,
                        kind=kind,
                        reference=reference,
                        created_at=created_at,
                        entries=lines,
                    )
                    postings.append((number, key, kind, reference, "", created_at, head, digest))
                    entries.extend((number, *line) for line in lines)
                    head = digest
                _copy(
                    cursor,
                    "COPY escrow_posting (id, idempotency_key, kind, reference, memo, created_at, prev_hash,"
                    " hash) FROM STDIN",
                    postings,
                )
                _copy(
                    cursor, "COPY escrow_entry (posting_id, account_id, amount, currency) FROM STDIN", entries
                )
        finally:
            with connection.cursor() as admin:
                admin.execute("ALTER TABLE escrow_entry ENABLE TRIGGER escrow_entry_balanced")
                admin.execute("ALTER TABLE escrow_posting ENABLE TRIGGER escrow_posting_has_entries")
        _move_sequence(cursor, "escrow_posting")
        with transaction.atomic():
            for account_id, delta in ((provider.pk, -amount), (available.pk, net), (fees.pk, fee)):
                Account.objects.filter(pk=account_id).update(balance=F("balance") + delta * orders)
        progress(f"postings and entries {time.perf_counter() - started:.1f} s")

        # The timelines, each chained from the genesis hash as kabao.chains links them.
        def timeline(n: int) -> list[tuple[str, str, str, int | None, str, int]]:
            buyer = buyers[n % len(buyers)]
            return [
                ("created", "", "", buyer, "", CREATED),
                ("paid", "pending_payment", "paid", None, "", PAID),
                ("delivered", "paid", "delivered", None, "", DELIVERED),
                ("codes_revealed", "", "", buyer, "", REVEALED),
                ("completed", "delivered", "completed", buyer, "confirmed_by_buyer", COMPLETED),
            ]

        def events() -> Iterator[tuple[Any, ...]]:
            for n in range(1, orders + 1):
                order_id = order_base + n
                prev = TIMELINE_GENESIS
                for event, from_status, to_status, actor, note, offset in timeline(n):
                    at = when(n, offset)
                    content = {
                        "order": order_id,
                        "event": event,
                        "from": from_status,
                        "to": to_status,
                        "actor": actor,
                        "note": note,
                        "at": at.isoformat(timespec="microseconds"),
                    }
                    digest = link_hash(prev, content)
                    yield (order_id, event, from_status, to_status, actor, note, at, prev, digest)
                    prev = digest

        sample = OrderEvent(order_id=order_base + 1, event="created", actor_id=buyers[1 % len(buyers)])
        sample.at = when(1, CREATED)
        assert sample.chain_content() == {
            "order": order_base + 1,
            "event": "created",
            "from": "",
            "to": "",
            "actor": buyers[1 % len(buyers)],
            "note": "",
            "at": when(1, CREATED).isoformat(timespec="microseconds"),
        }, "the timeline's hashed content changed: update bench/_history.py"
        _copy(
            cursor,
            "COPY marketplace_orderevent (order_id, event, from_status, to_status, actor_id, note, at,"
            " prev_hash, hash) FROM STDIN",
            events(),
        )
        progress(f"timelines {time.perf_counter() - started:.1f} s")
        cursor.execute("VACUUM ANALYZE")
        progress(f"vacuum and analyze {time.perf_counter() - started:.1f} s")
