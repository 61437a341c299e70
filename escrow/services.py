"""Every movement of money goes through `posting_create`; holds are built on it.

Callers open the transaction (a service of a higher app, with `atomic(durable=True)`); these
functions refuse to run outside one so that a posting and the change it pays for commit together.
"""

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from django.db import connection
from django.db.models import F
from django.utils import timezone

from escrow.hashing import GENESIS_HASH, posting_hash
from escrow.models import Account, AccountKind, Entry, Hold, HoldStatus, Posting
from kabao.errors import Conflict, DomainError

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key that orders postings into one hash chain ("kabao" in ASCII).
LEDGER_CHAIN_LOCK = 0x6B6162616F
BPS_DENOMINATOR = 10_000


def _require_transaction() -> None:
    if not connection.in_atomic_block:
        raise RuntimeError("ledger writes must run inside the caller's transaction")


def account_get_or_create(
    *, code: str, kind: AccountKind, currency: str, allow_negative: bool = False
) -> Account:
    account, _ = Account.objects.get_or_create(
        code=code, defaults={"kind": kind, "currency": currency, "allow_negative": allow_negative}
    )
    if account.currency != currency:
        raise DomainError("currency_mismatch", f"account {code} is in {account.currency}")
    return account


def platform_fee_account(currency: str) -> Account:
    return account_get_or_create(
        code=f"platform:fees:{currency}", kind=AccountKind.PLATFORM, currency=currency
    )


def provider_account(provider: str, currency: str) -> Account:
    """Money received from (negative) or returned to a payment provider."""
    return account_get_or_create(
        code=f"provider:{provider}:{currency}",
        kind=AccountKind.EXTERNAL,
        currency=currency,
        allow_negative=True,
    )


def fee_split(amount: int, fee_bps: int) -> tuple[int, int]:
    """(fee, net) of an amount; the fee rounds down, in the merchant's favour."""
    if amount < 0 or not 0 <= fee_bps <= BPS_DENOMINATOR:
        raise ValueError("amount must be >= 0 and fee_bps within 0..10000")
    fee = amount * fee_bps // BPS_DENOMINATOR
    net = amount - fee
    assert fee + net == amount
    return fee, net


def _lock_chain() -> str:
    """Serialise postings so the chain has one order; return the hash to link to."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LEDGER_CHAIN_LOCK])
    # SQLite (the embedded run) serialises writers itself with IMMEDIATE transactions.
    last = Posting.objects.order_by("-id").values_list("hash", flat=True).first()
    return last or GENESIS_HASH


def _same_lines(posting: Posting, totals: dict[int, int]) -> bool:
    stored = dict(posting.entries.values_list("account_id", "amount"))
    return stored == {account_id: amount for account_id, amount in totals.items() if amount}


def posting_create(
    *,
    idempotency_key: str,
    kind: str,
    lines: Sequence[tuple[Account, int]],
    reference: str = "",
    memo: str = "",
) -> Posting:
    """Write one balanced posting and update the balances it moves. The same key twice is one posting.

    `lines` are (account, signed amount); amounts on the same account are added together.
    Raises DomainError `unbalanced_posting` (a bug in the caller) or Conflict `insufficient_funds`.
    """
    _require_transaction()
    if not idempotency_key:
        raise DomainError("missing_idempotency_key", "a posting needs an idempotency key")
    totals: dict[int, int] = defaultdict(int)
    accounts: dict[int, Account] = {}
    sums: dict[str, int] = defaultdict(int)
    for account, amount in lines:
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise DomainError("invalid_amount", "amounts are integer minor units")
        totals[account.pk] += amount
        accounts[account.pk] = account
        sums[account.currency] += amount
    if any(total != 0 for total in sums.values()):
        raise DomainError(
            "unbalanced_posting", f"posting {idempotency_key} does not sum to zero: {dict(sums)}"
        )
    if sum(1 for amount in totals.values() if amount) < 2:
        raise DomainError("empty_posting", "a posting moves money between at least two accounts")

    prev_hash = _lock_chain()
    existing = Posting.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        if not _same_lines(existing, totals):
            raise Conflict("idempotency_key_reused", f"key {idempotency_key} was used for another posting")
        return existing

    # Lock the touched accounts in primary-key order, then check "never negative" before writing.
    locked = {a.pk: a for a in Account.objects.select_for_update().filter(pk__in=totals).order_by("pk")}
    for account_id, amount in sorted(totals.items()):
        account = locked[account_id]
        if not account.allow_negative and account.balance + amount < 0:
            raise Conflict("insufficient_funds", f"account {account.code} cannot cover {-amount}")

    created_at = timezone.now()
    entries = [
        (account_id, amount, accounts[account_id].currency) for account_id, amount in totals.items() if amount
    ]
    posting = Posting.objects.create(
        idempotency_key=idempotency_key,
        kind=kind,
        reference=reference,
        memo=memo[:200],
        created_at=created_at,
        prev_hash=prev_hash,
        hash=posting_hash(
            prev_hash=prev_hash,
            idempotency_key=idempotency_key,
            kind=kind,
            reference=reference,
            created_at=created_at,
            entries=entries,
        ),
    )
    Entry.objects.bulk_create(
        Entry(posting=posting, account_id=account_id, amount=amount, currency=currency)
        for account_id, amount, currency in entries
    )
    for account_id, amount, _currency in sorted(entries):
        Account.objects.filter(pk=account_id).update(balance=F("balance") + amount)
    logger.info("posting %s kind=%s key=%s", posting.pk, kind, idempotency_key)
    return posting


# --- holds -------------------------------------------------------------------------------------


def hold_place(
    *,
    reference: str,
    amount: int,
    currency: str,
    source: Account,
    beneficiary: Account,
    refund_to: Account,
    release_at: datetime | None = None,
) -> Hold:
    """Move `amount` from `source` into a new escrow account. Idempotent by reference."""
    _require_transaction()
    if amount <= 0:
        raise DomainError("invalid_amount", "a hold must be positive")
    existing = Hold.objects.filter(reference=reference).first()
    if existing is not None:
        return existing
    account = account_get_or_create(code=f"escrow:{reference}", kind=AccountKind.ESCROW, currency=currency)
    posting_create(
        idempotency_key=f"hold:{reference}:place",
        kind="hold_place",
        reference=reference,
        lines=[(source, -amount), (account, amount)],
    )
    return Hold.objects.create(
        reference=reference,
        account=account,
        beneficiary=beneficiary,
        refund_to=refund_to,
        amount=amount,
        currency=currency,
        release_at=release_at,
    )


def hold_lock(hold_id: int) -> Hold:
    return (
        Hold.objects.select_for_update().select_related("account", "beneficiary", "refund_to").get(pk=hold_id)
    )


def hold_settle(*, hold: Hold, refund_amount: int, fee_bps: int, override_freeze: bool = False) -> Hold:
    """Settle a hold once: `refund_amount` back to `refund_to`, the rest to the beneficiary minus fee.

    refund_amount == 0 is a release, == amount a full refund, anything between a split.
    A frozen hold (a dispute is open) is only settled by a decision (`override_freeze`).
    """
    _require_transaction()
    hold = hold_lock(hold.pk)
    if hold.status != HoldStatus.HELD:
        raise Conflict("hold_already_settled", f"hold {hold.reference} is already {hold.status}")
    if hold.is_frozen and not override_freeze:
        raise Conflict("hold_frozen", f"hold {hold.reference} is frozen by a dispute")
    if not 0 <= refund_amount <= hold.amount:
        raise DomainError("invalid_amount", "the refund must be between 0 and the held amount")
    fee, net = fee_split(hold.amount - refund_amount, fee_bps)
    lines: list[tuple[Account, int]] = [(hold.account, -hold.amount)]
    if refund_amount:
        lines.append((hold.refund_to, refund_amount))
    if net:
        lines.append((hold.beneficiary, net))
    if fee:
        lines.append((platform_fee_account(hold.currency), fee))
    if refund_amount == 0:
        status = HoldStatus.RELEASED
    elif refund_amount == hold.amount:
        status = HoldStatus.REFUNDED
    else:
        status = HoldStatus.SPLIT
    posting_create(
        idempotency_key=f"hold:{hold.reference}:settle",
        kind=f"hold_{status}",
        reference=hold.reference,
        lines=lines,
    )
    hold.status = status
    hold.refunded_amount = refund_amount
    hold.fee_amount = fee
    hold.settled_at = timezone.now()
    hold.save(update_fields=["status", "refunded_amount", "fee_amount", "settled_at"])
    return hold


def hold_set_frozen(*, hold: Hold, is_frozen: bool) -> Hold:
    _require_transaction()
    hold = hold_lock(hold.pk)
    if hold.status == HoldStatus.HELD and hold.is_frozen != is_frozen:
        hold.is_frozen = is_frozen
        hold.save(update_fields=["is_frozen"])
    return hold


def hold_set_release_at(*, hold: Hold, release_at: datetime | None) -> Hold:
    _require_transaction()
    Hold.objects.filter(pk=hold.pk, status=HoldStatus.HELD).update(release_at=release_at)
    hold.release_at = release_at
    return hold
