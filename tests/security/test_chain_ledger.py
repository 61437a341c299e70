"""The ledger's hash chain catches what a database owner can do behind the triggers' back.

The append-only triggers themselves (UPDATE/DELETE refused on entries and postings, an unbalanced
posting refused at commit) are proved in tests/escrow/test_ledger.py; here the triggers are switched
off as a DBA would (`session_replication_role = replica`, inside the test's transaction) and history
is rewritten so that every cached balance still adds up: only the chain can tell.
"""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from escrow.models import Account, AccountKind, Entry, Posting
from escrow.services import account_get_or_create, posting_create
from escrow.verify import LedgerViolation, ledger_verify

pytestmark = pytest.mark.django_db

POSTINGS = 50
MIDDLE = 25  # the 25th of 50 postings is the one tampered with


def _ledger_of_fifty() -> list[int]:
    """50 postings of 100 + n fen from the outside world to Alice; their ids in order."""
    world = account_get_or_create(
        code="chain:world", kind=AccountKind.EXTERNAL, currency="CNY", allow_negative=True
    )
    alice = account_get_or_create(code="chain:alice", kind=AccountKind.MERCHANT_AVAILABLE, currency="CNY")
    with transaction.atomic():
        for number in range(POSTINGS):
            posting_create(
                idempotency_key=f"chain:{number}",
                kind="test",
                reference=f"chain:{number}",
                lines=[(world, -(100 + number)), (alice, 100 + number)],
            )
    with connection.cursor() as cursor:  # the balance checks a COMMIT would run, run now
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    ids = list(Posting.objects.order_by("id").values_list("id", flat=True))
    assert len(ids) == POSTINGS and ledger_verify().postings == POSTINGS
    return ids


def _as_dba(*statements: tuple[str, list]) -> None:
    """Run SQL with every trigger off (ordinary triggers do not fire for a replica session)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        for sql, params in statements:
            cursor.execute(sql, params)
        cursor.execute("SET LOCAL session_replication_role = origin")


def _verify_ledger_command() -> str:
    with pytest.raises(CommandError) as failure:
        call_command("verify_ledger", stdout=io.StringIO())
    return str(failure.value)


def _balances() -> dict[str, int]:
    return dict(Account.objects.filter(code__startswith="chain:").values_list("code", "balance"))


def test_an_edited_amount_in_the_middle_of_fifty_postings_is_named():
    ids = _ledger_of_fifty()
    target = ids[MIDDLE - 1]
    # Posting 25 moved 124 fen; the DBA makes it 1,124 on both sides (it still balances) and moves
    # the cached balances along, so every check but the chain passes.
    _as_dba(
        ("UPDATE escrow_entry SET amount = amount * 1124 / 124 WHERE posting_id = %s", [target]),
        ("UPDATE escrow_account SET balance = balance + 1000 WHERE code = 'chain:alice'", []),
        ("UPDATE escrow_account SET balance = balance - 1000 WHERE code = 'chain:world'", []),
    )
    assert sorted(Entry.objects.filter(posting_id=target).values_list("amount", flat=True)) == [-1124, 1124]
    total = sum(100 + n for n in range(POSTINGS)) + 1000
    assert _balances() == {"chain:world": -total, "chain:alice": total}

    with pytest.raises(LedgerViolation) as violation:
        ledger_verify()
    assert str(violation.value) == f"posting {target} was altered: its hash does not match its content"
    assert _verify_ledger_command() == (
        f"ledger violation: posting {target} was altered: its hash does not match its content"
    )


def test_a_deleted_posting_in_the_middle_of_fifty_is_named():
    ids = _ledger_of_fifty()
    target = ids[MIDDLE - 1]
    assert ids[MIDDLE - 2] == target - 1 and ids[MIDDLE] == target + 1
    _as_dba(
        ("DELETE FROM escrow_entry WHERE posting_id = %s", [target]),
        ("DELETE FROM escrow_posting WHERE id = %s", [target]),
    )
    assert Posting.objects.count() == POSTINGS - 1
    expected = (
        f"posting {target} is missing (deleted): posting {target + 1} links to a posting that is "
        f"not in the ledger (chain broken after posting {target - 1})"
    )
    # Named whether the DBA leaves the cached balances as they were…
    with pytest.raises(LedgerViolation) as violation:
        ledger_verify()
    assert str(violation.value) == expected

    # …or takes posting 25's 124 fen out of them too, so that every other check passes.
    _as_dba(
        ("UPDATE escrow_account SET balance = balance - 124 WHERE code = 'chain:alice'", []),
        ("UPDATE escrow_account SET balance = balance + 124 WHERE code = 'chain:world'", []),
    )
    with pytest.raises(LedgerViolation) as violation:
        ledger_verify()
    assert str(violation.value) == expected
    assert _verify_ledger_command() == f"ledger violation: {expected}"


def test_a_one_sided_edit_is_named_by_its_posting_before_the_balances_it_breaks():
    """Doubling only Alice's side unbalances posting 25 and Alice's cached balance: the posting is named."""
    ids = _ledger_of_fifty()
    target = ids[MIDDLE - 1]
    _as_dba(("UPDATE escrow_entry SET amount = amount * 2 WHERE posting_id = %s AND amount > 0", [target]))
    with pytest.raises(LedgerViolation) as violation:
        ledger_verify()
    assert str(violation.value) == f"posting {target} was altered: its hash does not match its content"


def test_a_rewritten_link_is_named_as_an_altered_posting():
    """Rewriting a posting's prev_hash (to splice the chain) breaks that posting's own hash."""
    ids = _ledger_of_fifty()
    target = ids[MIDDLE - 1]
    _as_dba(("UPDATE escrow_posting SET prev_hash = %s WHERE id = %s", ["f" * 64, target]))
    with pytest.raises(LedgerViolation) as violation:
        ledger_verify()
    assert str(violation.value) == (
        f"posting {target} was altered: its prev_hash does not link to posting {target - 1}"
    )
