"""Check every invariant of the ledger; used by `manage.py verify_ledger` and the tests."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, F, Q, Sum

from escrow.hashing import GENESIS_HASH, posting_hash
from escrow.models import Account, Entry, Hold, HoldStatus, Posting

CHUNK = 5_000


class LedgerViolation(Exception):
    pass


@dataclass
class VerifyReport:
    postings: int = 0
    entries: int = 0
    accounts: int = 0
    holds: int = 0


def _unbalanced_postings() -> Iterator[str]:
    rows = (
        Entry.objects.values("posting_id", "currency")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
        .order_by("posting_id")[:1]
    )
    for row in rows:
        yield f"posting {row['posting_id']} does not balance in {row['currency']}: {row['total']}"
    thin = Posting.objects.annotate(n=Count("entries")).filter(n__lt=2).order_by("id").first()
    if thin is not None:
        yield f"posting {thin.pk} has fewer than two entries"


def _balances() -> Iterator[str]:
    sql = """
        SELECT a.id, a.code, a.balance, COALESCE(SUM(e.amount), 0) AS total
        FROM escrow_account a LEFT JOIN escrow_entry e ON e.account_id = a.id
        GROUP BY a.id, a.code, a.balance
        HAVING a.balance <> COALESCE(SUM(e.amount), 0)
        ORDER BY a.id LIMIT 1
    """
    with connection.cursor() as cursor:
        cursor.execute(sql)
        for account_id, code, balance, total in cursor.fetchall():
            yield f"account {account_id} ({code}) caches {balance} but its entries sum to {total}"
    negative = Account.objects.filter(allow_negative=False, balance__lt=0).order_by("id").first()
    if negative is not None:
        yield f"account {negative.code} is negative: {negative.balance}"


def _broken_link(*, posting_id: int, previous_id: int, is_self_consistent: bool) -> str:
    """Name the first break: a posting whose own hash still covers its `prev_hash` was not edited,
    so the posting it links to is gone; otherwise its `prev_hash` itself was rewritten."""
    if not is_self_consistent:
        return f"posting {posting_id} was altered: its prev_hash does not link to posting {previous_id}"
    after = f"after posting {previous_id}" if previous_id else "at the start of the ledger"
    missing = range(previous_id + 1, posting_id)
    if not missing:
        return f"posting {posting_id} links to a posting that is not in the ledger (chain broken {after})"
    ids = str(missing[0]) if len(missing) == 1 else f"{missing[0]} to {missing[-1]}"
    return (
        f"posting {ids} is missing (deleted): posting {posting_id} links to a posting that is "
        f"not in the ledger (chain broken {after})"
    )


def _chain(report: VerifyReport) -> Iterator[str]:
    prev_hash = GENESIS_HASH
    previous_id = 0
    last_id = 0
    columns = ("id", "idempotency_key", "kind", "reference", "created_at", "prev_hash", "hash")
    while True:
        # Plain tuples, not model instances: at a million postings the instances cost more than
        # the hashing.
        postings = list(Posting.objects.filter(id__gt=last_id).order_by("id").values_list(*columns)[:CHUNK])
        if not postings:
            return
        entries: dict[int, list[tuple[int, int, str]]] = {}
        for posting_id, account_id, amount, currency in Entry.objects.filter(
            posting_id__gte=postings[0][0], posting_id__lte=postings[-1][0]
        ).values_list("posting_id", "account_id", "amount", "currency"):
            entries.setdefault(posting_id, []).append((account_id, amount, currency))
        for posting_id, key, kind, reference, created_at, stored_prev, stored_hash in postings:
            report.postings += 1
            lines = entries.get(posting_id, [])
            report.entries += len(lines)
            expected = posting_hash(
                prev_hash=stored_prev,
                idempotency_key=key,
                kind=kind,
                reference=reference,
                created_at=created_at,
                entries=lines,
            )
            if stored_prev != prev_hash:
                yield _broken_link(
                    posting_id=posting_id,
                    previous_id=previous_id,
                    is_self_consistent=expected == stored_hash,
                )
                return
            if expected != stored_hash:
                yield f"posting {posting_id} was altered: its hash does not match its content"
                return
            prev_hash = stored_hash
            previous_id = posting_id
        last_id = postings[-1][0]


def _holds(report: VerifyReport) -> Iterator[str]:
    report.holds = Hold.objects.count()
    bad_held = Hold.objects.filter(status=HoldStatus.HELD).exclude(account__balance=F("amount")).first()
    if bad_held is not None:
        yield f"hold {bad_held.reference} is held but its account holds {bad_held.account.balance}"
    bad_settled = Hold.objects.filter(~Q(status=HoldStatus.HELD), ~Q(account__balance=0)).first()
    if bad_settled is not None:
        yield f"hold {bad_settled.reference} is {bad_settled.status} but its account is not empty"


def ledger_verify(progress: Callable[[str], None] = lambda _line: None) -> VerifyReport:
    """Raise LedgerViolation naming the first broken invariant; return what was checked."""
    report = VerifyReport(accounts=Account.objects.count())
    # The chain first: a row rewritten behind the triggers' back is then named by its posting,
    # even when the rewrite also unbalanced a posting or left a cached balance behind.
    checks: list[tuple[str, Callable[[], Iterator[str]]]] = [
        ("the hash chain over postings is unbroken", lambda: _chain(report)),
        ("every posting balances per currency and has two or more entries", _unbalanced_postings),
        ("every cached balance equals its entries; no account that must not be negative is", _balances),
        ("every hold matches its escrow account", lambda: _holds(report)),
    ]
    for description, check in checks:
        for violation in check():
            raise LedgerViolation(violation)
        progress(f"ok  {description}")
    return report
