"""Benchmark: the ledger at scale — balance reads and verify_ledger at 1×, 10× and 100× the data.

    .venv/bin/python bench/ledger_scale.py [--scale 1,10,100] [--database-url …]
    .venv/bin/python bench/ledger_scale.py --quick                 # --scale 1,10 (a few minutes)
    .venv/bin/python bench/ledger_scale.py --postings 10000,100000  # chosen sizes instead

`--scale` is in percent of the goal sizes: the balance read at 10,000,000 entries (5,000,000
two-entry postings) and verify_ledger over 1,000,000 postings. For each scale it loads two
databases' worth in turn: scale % of 5,000,000 postings (the balance read, and verify_ledger too)
and scale % of 1,000,000 (verify_ledger at its goal's scale, and the balance read too).

Not a test: it prints figures. For each size it recreates its own database, bulk-loads N postings
of two entries each (the provider account pays one of 1,000 merchant accounts, as captures do) with
COPY, computing the same SHA-256 chain as escrow.services.posting_create, and sets the cached
balances. The per-row "balanced at commit" triggers are disabled during the load only (verify_ledger
then checks every posting anyway), and enabled again. Then it measures, against a floor measured in
the same run (SELECT 1 from the same process):
- a balance read (`escrow.selectors.account_balance`, the cached balance by account code);
- recomputing one merchant account's balance from its entries (index escrow_entry_account_idx);
- `verify_ledger` over all postings (wall time).
Goals (issue 8): a balance read under 5 ms with 10,000,000 entries; verify over 1,000,000 postings
under 60 s.
"""

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import DEFAULT_DATABASE_URL, django_for, floor_select_one, summary, timed

MERCHANTS = 1_000


def load(postings: int) -> list[str]:
    from django.db import connection, transaction

    from escrow.hashing import GENESIS_HASH, posting_hash
    from escrow.models import Account, AccountKind

    provider = Account.objects.create(
        code="provider:simulated:CNY", kind=AccountKind.EXTERNAL, currency="CNY", allow_negative=True
    )
    merchants = Account.objects.bulk_create(
        Account(code=f"merchant:{i}:available:CNY", kind=AccountKind.MERCHANT_AVAILABLE, currency="CNY")
        for i in range(1, MERCHANTS + 1)
    )
    balances = {account.pk: 0 for account in merchants}
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rng = random.Random(8)
    prev = GENESIS_HASH
    with connection.cursor() as cursor:  # in their own transactions: FK checks queue events
        cursor.execute("ALTER TABLE escrow_entry DISABLE TRIGGER escrow_entry_balanced")
        cursor.execute("ALTER TABLE escrow_posting DISABLE TRIGGER escrow_posting_has_entries")
    with transaction.atomic(), connection.cursor() as cursor:
        with (
            cursor.copy(
                "COPY escrow_posting (id, idempotency_key, kind, reference, memo, created_at, prev_hash, hash)"
                " FROM STDIN"
            ) as posting_copy,
        ):
            entries = []
            for number in range(1, postings + 1):
                merchant = merchants[rng.randrange(MERCHANTS)]
                amount = rng.randrange(100, 100_000)
                created_at = start + timedelta(microseconds=number * 10)
                lines = [(provider.pk, -amount, "CNY"), (merchant.pk, amount, "CNY")]
                key = f"bench:{number}"
                digest = posting_hash(
                    prev_hash=prev,
                    idempotency_key=key,
                    kind="capture",
                    reference=f"order:{number}",
                    created_at=created_at,
                    entries=lines,
                )
                posting_copy.write_row(
                    (number, key, "capture", f"order:{number}", "", created_at, prev, digest)
                )
                prev = digest
                entries.append((number, provider.pk, -amount))
                entries.append((number, merchant.pk, amount))
                balances[merchant.pk] += amount
        with cursor.copy(
            "COPY escrow_entry (posting_id, account_id, amount, currency) FROM STDIN"
        ) as entry_copy:
            for posting_id, account_id, amount in entries:
                entry_copy.write_row((posting_id, account_id, amount, "CNY"))
        cursor.execute("SELECT setval('escrow_posting_id_seq', %s)", [postings])
        for account_id, balance in balances.items():
            Account.objects.filter(pk=account_id).update(balance=balance)
        Account.objects.filter(pk=provider.pk).update(balance=-sum(balances.values()))
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE escrow_entry ENABLE TRIGGER escrow_entry_balanced")
        cursor.execute("ALTER TABLE escrow_posting ENABLE TRIGGER escrow_posting_has_entries")
        cursor.execute("ANALYZE")
    return [account.code for account in merchants]


def measure(postings: int, database_url: str) -> dict[str, Any]:
    django_for(database_url, fresh=True)
    from django.db import connection
    from django.db.models import Sum

    from escrow.models import Account, Entry
    from escrow.selectors import account_balance
    from escrow.verify import ledger_verify

    started = time.perf_counter()
    codes = load(postings)
    load_seconds = time.perf_counter() - started
    floor = floor_select_one()
    rng = random.Random(1)
    reads = timed(lambda: account_balance(rng.choice(codes)), 2000)
    some = Account.objects.get(code=codes[0])
    recompute = timed(lambda: Entry.objects.filter(account=some).aggregate(s=Sum("amount")), 200)
    started = time.perf_counter()
    report = ledger_verify()
    verify_seconds = time.perf_counter() - started
    assert report.postings == postings
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN SELECT SUM(amount) FROM escrow_entry WHERE account_id = %s", [some.pk])
        plan = " / ".join(row[0].strip() for row in cursor.fetchall()[:3])
    connection.close()
    return {
        "postings": f"{postings:,}",
        "entries": f"{2 * postings:,}",
        "load": f"{load_seconds:.1f} s",
        "floor (SELECT 1)": summary(floor),
        "balance read": summary(reads),
        "recompute one merchant's balance": summary(recompute),
        "verify_ledger": f"{verify_seconds:.1f} s ({postings / verify_seconds:,.0f} postings/s)",
        "plan": plan,
        "_floor": statistics.median(floor),
        "_read_p50": statistics.median(reads),
        "_read_p99": sorted(reads)[int(len(reads) * 0.99)],
        "_verify": verify_seconds,
    }


READ_GOAL_POSTINGS = 5_000_000  # 10,000,000 entries
VERIFY_GOAL_POSTINGS = 1_000_000


def sizes_for(scales: list[float]) -> list[int]:
    sizes = set()
    for scale in scales:
        sizes.add(int(READ_GOAL_POSTINGS * scale / 100))
        sizes.add(int(VERIFY_GOAL_POSTINGS * scale / 100))
    return sorted(sizes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="1,10,100", help="percent of the goal sizes, a comma list")
    parser.add_argument("--quick", action="store_true", help="--scale 1,10")
    parser.add_argument("--postings", default="", help="postings per size, a comma list (instead of --scale)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()
    if args.postings:
        sizes = [int(part) for part in args.postings.split(",")]
    else:
        sizes = sizes_for([float(part) for part in ("1,10" if args.quick else args.scale).split(",")])
    rows = []
    for size in sizes:
        print(f"\n== {size:,} postings", flush=True)
        result = measure(size, args.database_url)
        rows.append(result)
        for name, value in result.items():
            if not name.startswith("_"):
                print(f"  {name:<34} {value}", flush=True)
    print("\ngrowth: postings, entries, floor p50, balance read p50/p99, verify_ledger (µs per posting)")
    for row in rows:
        print(
            f"  {row['postings']:>10} {row['entries']:>11}  {row['_floor']:.3f} ms  "
            f"{row['_read_p50']:.3f} / {row['_read_p99']:.3f} ms  {row['_verify']:.1f} s "
            f"({row['_verify'] / int(row['postings'].replace(',', '')) * 1e6:.1f} µs)"
        )


if __name__ == "__main__":
    main()
