import pytest
from django.db import IntegrityError, connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from escrow.models import Account, AccountKind, Entry, Hold, HoldStatus, Posting
from escrow.services import (
    account_get_or_create,
    fee_split,
    hold_place,
    hold_set_frozen,
    hold_settle,
    posting_create,
)
from escrow.verify import LedgerViolation, ledger_verify
from kabao.errors import Conflict, DomainError

pytestmark = pytest.mark.django_db


def _accounts():
    world = account_get_or_create(
        code="test:world", kind=AccountKind.EXTERNAL, currency="CNY", allow_negative=True
    )
    alice = account_get_or_create(code="test:alice", kind=AccountKind.MERCHANT_AVAILABLE, currency="CNY")
    bob = account_get_or_create(code="test:bob", kind=AccountKind.MERCHANT_AVAILABLE, currency="CNY")
    return world, alice, bob


def _balance(account: Account) -> int:
    account.refresh_from_db()
    return account.balance


def test_a_posting_moves_money_and_updates_balances():
    world, alice, _bob = _accounts()
    with transaction.atomic():
        posting = posting_create(idempotency_key="p1", kind="test", lines=[(world, -500), (alice, 500)])
    assert _balance(world) == -500 and _balance(alice) == 500
    assert sorted(posting.entries.values_list("amount", flat=True)) == [-500, 500]
    assert len(posting.hash) == 64 and posting.prev_hash == "0" * 64


def test_the_same_key_twice_is_one_posting():
    world, alice, _bob = _accounts()
    with transaction.atomic():
        first = posting_create(idempotency_key="same", kind="test", lines=[(world, -500), (alice, 500)])
        again = posting_create(idempotency_key="same", kind="test", lines=[(world, -500), (alice, 500)])
    assert first.pk == again.pk
    assert Posting.objects.count() == 1 and _balance(alice) == 500


def test_the_same_key_for_other_lines_is_refused():
    world, alice, bob = _accounts()
    with transaction.atomic():
        posting_create(idempotency_key="same", kind="test", lines=[(world, -500), (alice, 500)])
        with pytest.raises(Conflict):
            posting_create(idempotency_key="same", kind="test", lines=[(world, -500), (bob, 500)])
    assert _balance(bob) == 0


def test_an_unbalanced_posting_is_refused_in_python():
    world, alice, _bob = _accounts()
    with transaction.atomic(), pytest.raises(DomainError) as refused:
        posting_create(idempotency_key="bad", kind="test", lines=[(world, -500), (alice, 499)])
    assert refused.value.code == "unbalanced_posting"
    assert Posting.objects.count() == 0 and _balance(alice) == 0


def test_floats_are_refused():
    world, alice, _bob = _accounts()
    with transaction.atomic(), pytest.raises(DomainError):
        posting_create(idempotency_key="f", kind="test", lines=[(world, -5.0), (alice, 5.0)])  # type: ignore[list-item]


def test_an_account_that_must_not_go_negative_cannot():
    _world, alice, bob = _accounts()
    with transaction.atomic(), pytest.raises(Conflict) as refused:
        posting_create(idempotency_key="over", kind="test", lines=[(alice, -1), (bob, 1)])
    assert refused.value.code == "insufficient_funds"
    assert _balance(alice) == 0 and _balance(bob) == 0


def test_the_database_refuses_a_negative_balance_even_without_the_service():
    _world, alice, _bob = _accounts()
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(pk=alice.pk).update(balance=-1)


def test_the_database_refuses_an_unbalanced_posting_at_commit():
    world, alice, _bob = _accounts()
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        posting = Posting.objects.create(idempotency_key="raw", kind="raw", prev_hash="0" * 64, hash="x" * 64)
        Entry.objects.create(posting=posting, account=world, amount=-10, currency="CNY")
        Entry.objects.create(posting=posting, account=alice, amount=9, currency="CNY")
        with connection.cursor() as cursor:  # what COMMIT does with deferred constraints
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert Posting.objects.count() == 0


def test_the_database_refuses_an_entry_added_later_to_a_balanced_posting():
    """The posting's own check ran when it was written; an entry slipped in afterwards is refused by
    the entry's trigger (append-only forbids UPDATE and DELETE, not INSERT)."""
    world, alice, _bob = _accounts()
    with transaction.atomic():
        posting = posting_create(idempotency_key="later", kind="test", lines=[(world, -10), (alice, 10)])
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        Entry.objects.create(posting=posting, account=alice, amount=5, currency="CNY")
        with connection.cursor() as cursor:  # what COMMIT does with deferred constraints
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert posting.entries.count() == 2


def test_the_database_refuses_a_posting_without_entries():
    with pytest.raises(IntegrityError, match="fewer than two"), transaction.atomic():
        Posting.objects.create(idempotency_key="empty", kind="raw", prev_hash="0" * 64, hash="y" * 64)
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE escrow_entry SET amount = amount * 2",
        "DELETE FROM escrow_entry",
        "UPDATE escrow_posting SET memo = 'edited'",
        "DELETE FROM escrow_posting",
    ],
)
def test_the_database_refuses_to_edit_or_delete_ledger_rows(statement):
    world, alice, _bob = _accounts()
    with transaction.atomic():
        posting_create(idempotency_key="p", kind="test", lines=[(world, -500), (alice, 500)])
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert sorted(Entry.objects.values_list("amount", flat=True)) == [-500, 500]


def test_fee_split_adds_up_and_rounds_down():
    assert fee_split(1999, 500) == (99, 1900)
    assert fee_split(0, 500) == (0, 0)
    assert fee_split(100, 10_000) == (100, 0)
    with pytest.raises(ValueError):
        fee_split(100, 10_001)


def test_a_hold_settles_once():
    world, alice, _bob = _accounts()
    with transaction.atomic():
        hold = hold_place(
            reference="order:x", amount=1000, currency="CNY", source=world, beneficiary=alice, refund_to=world
        )
        hold_settle(hold=hold, refund_amount=0, fee_bps=500)
        with pytest.raises(Conflict):
            hold_settle(hold=hold, refund_amount=1000, fee_bps=500)
    hold.refresh_from_db()
    assert hold.status == HoldStatus.RELEASED and hold.fee_amount == 50
    assert _balance(alice) == 950 and _balance(world) == -1000


def test_a_split_refunds_part_and_releases_the_rest_minus_fee():
    world, alice, _bob = _accounts()
    with transaction.atomic():
        hold = hold_place(
            reference="order:s", amount=1000, currency="CNY", source=world, beneficiary=alice, refund_to=world
        )
        hold = hold_settle(hold=hold, refund_amount=400, fee_bps=500)
    assert hold.status == HoldStatus.SPLIT and hold.refunded_amount == 400
    assert _balance(alice) == 570 and _balance(world) == -600
    assert Account.objects.get(code="platform:fees:CNY").balance == 30


def test_a_frozen_hold_is_only_settled_by_a_decision():
    world, alice, _bob = _accounts()
    with transaction.atomic():
        hold = hold_place(
            reference="order:f", amount=1000, currency="CNY", source=world, beneficiary=alice, refund_to=world
        )
        hold_set_frozen(hold=hold, is_frozen=True)
        with pytest.raises(Conflict) as refused:
            hold_settle(hold=hold, refund_amount=0, fee_bps=500)
        assert refused.value.code == "hold_frozen"
        hold_settle(hold=hold, refund_amount=1000, fee_bps=500, override_freeze=True)
    assert Hold.objects.get(pk=hold.pk).status == HoldStatus.REFUNDED
    assert _balance(alice) == 0 and _balance(world) == 0


def test_ledger_writes_outside_a_transaction_are_refused():
    world, alice, _bob = _accounts()
    with pytest.raises(RuntimeError):
        # pytest-django wraps the test in a transaction: leave it to prove the guard
        connection.in_atomic_block, saved = False, connection.in_atomic_block
        try:
            posting_create(idempotency_key="x", kind="test", lines=[(world, -1), (alice, 1)])
        finally:
            connection.in_atomic_block = saved


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(1, 10_000)), min_size=1, max_size=25)
)
def test_random_postings_keep_every_invariant(moves):
    """Random transfers between a source that may go negative and three that may not: each posting
    balances, refused ones change nothing, cached balances equal their entries, the chain verifies."""
    codes = ["h:world", "h:a", "h:b", "h:c"]
    with transaction.atomic():
        accounts = [
            account_get_or_create(
                code=code,
                kind=AccountKind.EXTERNAL if i == 0 else AccountKind.MERCHANT_AVAILABLE,
                currency="CNY",
                allow_negative=i == 0,
            )
            for i, code in enumerate(codes)
        ]
        expected = {a.pk: a.balance for a in Account.objects.filter(code__in=codes)}
        start = Posting.objects.count()
        made = 0
        for number, (source, target, amount) in enumerate(moves):
            if source == target:
                continue
            key = f"h:{start}:{number}"
            try:
                with transaction.atomic():
                    posting_create(
                        idempotency_key=key,
                        kind="random",
                        lines=[(accounts[source], -amount), (accounts[target], amount)],
                    )
            except Conflict:
                assert source != 0 and expected[accounts[source].pk] < amount
                continue
            expected[accounts[source].pk] -= amount
            expected[accounts[target].pk] += amount
            made += 1
            for account in Account.objects.filter(code__in=codes):
                assert account.balance == expected[account.pk]
                assert account.allow_negative or account.balance >= 0
        assert Posting.objects.count() == start + made
        ledger_verify()


def test_verify_names_the_first_altered_posting():
    world, alice, bob = _accounts()
    with transaction.atomic():
        for number in range(3):
            posting_create(idempotency_key=f"v{number}", kind="test", lines=[(world, -100), (alice, 100)])
    assert ledger_verify().postings == 3
    second = Posting.objects.order_by("id")[1]
    with connection.cursor() as cursor:  # someone with the database owner's rights edits history
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE escrow_entry DISABLE TRIGGER escrow_entry_append_only")
        cursor.execute(
            "UPDATE escrow_entry SET account_id = %s WHERE posting_id = %s AND amount > 0",
            [bob.pk, second.pk],
        )
        cursor.execute("ALTER TABLE escrow_entry ENABLE TRIGGER escrow_entry_append_only")
        cursor.execute("UPDATE escrow_account SET balance = 200 WHERE id = %s", [alice.pk])
        cursor.execute("UPDATE escrow_account SET balance = 100 WHERE id = %s", [bob.pk])
    with pytest.raises(LedgerViolation, match=f"posting {second.pk} was altered"):
        ledger_verify()


def test_verify_finds_a_cached_balance_that_lies():
    world, alice, _bob = _accounts()
    with transaction.atomic():
        posting_create(idempotency_key="b", kind="test", lines=[(world, -100), (alice, 100)])
    Account.objects.filter(pk=alice.pk).update(balance=101)
    with pytest.raises(LedgerViolation, match="caches 101"):
        ledger_verify()
