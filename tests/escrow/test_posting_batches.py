"""Several postings through the one door at once (`postings_create`): the same guarantees as one."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from escrow.hashing import GENESIS_HASH
from escrow.models import Account, AccountKind, Hold, HoldStatus, Posting
from escrow.services import (
    PostingSpec,
    account_get_or_create,
    hold_place,
    holds_settle,
    posting_create,
    postings_create,
)
from escrow.verify import ledger_verify
from kabao.errors import Conflict

pytestmark = pytest.mark.django_db


def _accounts(count: int) -> tuple[Account, list[Account]]:
    world = account_get_or_create(
        code="test:world", kind=AccountKind.EXTERNAL, currency="CNY", allow_negative=True
    )
    shops = [
        account_get_or_create(code=f"test:shop:{n}", kind=AccountKind.MERCHANT_AVAILABLE, currency="CNY")
        for n in range(count)
    ]
    return world, shops


def _balances(*accounts: Account) -> list[int]:
    return [Account.objects.get(pk=account.pk).balance for account in accounts]


def test_a_batch_is_chained_in_its_order_and_balances_move_once_per_account():
    world, shops = _accounts(3)
    with transaction.atomic():
        posting_create(idempotency_key="before", kind="test", lines=[(world, -1), (shops[0], 1)])
        specs = [
            PostingSpec(
                idempotency_key=f"k{n}",
                kind="test",
                lines=[(world, -100 * (n + 1)), (shops[n % 3], 100 * (n + 1))],
            )
            for n in range(6)
        ]
        created = postings_create(postings=specs)
    assert [p.idempotency_key for p in created] == [f"k{n}" for n in range(6)]
    chain = list(Posting.objects.order_by("id").values_list("idempotency_key", "prev_hash", "hash"))
    assert [key for key, _, _ in chain] == ["before", "k0", "k1", "k2", "k3", "k4", "k5"]
    assert chain[0][1] == GENESIS_HASH
    assert all(chain[i][1] == chain[i - 1][2] for i in range(1, len(chain)))
    # shop 0: 1 + 100 + 400; shop 1: 200 + 500; shop 2: 300 + 600
    assert _balances(world, *shops) == [-2101, 501, 700, 900]
    ledger_verify()


def test_a_batch_costs_the_same_statements_whatever_its_size():
    world, shops = _accounts(40)

    def statements(keys: range) -> int:
        with CaptureQueriesContext(connection) as captured, transaction.atomic():
            postings_create(
                postings=[
                    PostingSpec(idempotency_key=f"s{n}", kind="test", lines=[(world, -5), (shops[n], 5)])
                    for n in keys
                ]
            )
        return len(captured.captured_queries)

    # chain lock, last hash, known keys, account locks, postings, entries, balances + savepoint pair
    assert statements(range(0, 2)) == statements(range(2, 40)) == 9
    assert _balances(world) == [-200]
    ledger_verify()


def test_a_key_already_written_or_repeated_in_the_batch_is_one_posting():
    world, shops = _accounts(2)
    with transaction.atomic():
        first = posting_create(idempotency_key="once", kind="test", lines=[(world, -50), (shops[0], 50)])
        again = postings_create(
            postings=[
                PostingSpec(idempotency_key="once", kind="test", lines=[(world, -50), (shops[0], 50)]),
                PostingSpec(idempotency_key="twice", kind="test", lines=[(world, -7), (shops[1], 7)]),
                PostingSpec(idempotency_key="twice", kind="test", lines=[(world, -7), (shops[1], 7)]),
            ]
        )
    assert again[0].pk == first.pk and again[1].pk == again[2].pk
    assert Posting.objects.count() == 2
    assert _balances(world, *shops) == [-57, 50, 7]
    ledger_verify()


def test_a_key_repeated_in_the_batch_for_other_lines_refuses_the_batch():
    world, shops = _accounts(2)
    with pytest.raises(Conflict) as caught, transaction.atomic():
        postings_create(
            postings=[
                PostingSpec(idempotency_key="k", kind="test", lines=[(world, -7), (shops[0], 7)]),
                PostingSpec(idempotency_key="k", kind="test", lines=[(world, -7), (shops[1], 7)]),
            ]
        )
    assert caught.value.code == "idempotency_key_reused"
    assert Posting.objects.count() == 0 and _balances(world, *shops) == [0, 0, 0]


def test_never_negative_counts_the_earlier_postings_of_the_batch():
    world, shops = _accounts(2)
    with transaction.atomic():
        posting_create(idempotency_key="fund", kind="test", lines=[(world, -100), (shops[0], 100)])
    # Each posting alone is covered by the stored balance (100); the two together are not.
    with pytest.raises(Conflict) as caught, transaction.atomic():
        postings_create(
            postings=[
                PostingSpec(idempotency_key="a", kind="test", lines=[(shops[0], -60), (shops[1], 60)]),
                PostingSpec(idempotency_key="b", kind="test", lines=[(shops[0], -60), (shops[1], 60)]),
            ]
        )
    assert caught.value.code == "insufficient_funds"
    assert Posting.objects.count() == 1 and _balances(*shops) == [100, 0]


def test_holds_settled_together_each_once():
    world, shops = _accounts(1)
    with transaction.atomic():
        holds = [
            hold_place(
                reference=f"order:{n}",
                amount=1000,
                currency="CNY",
                source=world,
                beneficiary=shops[0],
                refund_to=world,
            )
            for n in range(3)
        ]
        holds_settle(settlements=[(holds[0], 1000), (holds[1], 0), (holds[2], 400)], fee_bps=500)
    statuses = list(Hold.objects.order_by("reference").values_list("status", "refunded_amount", "fee_amount"))
    assert statuses == [
        (HoldStatus.REFUNDED, 1000, 0),
        (HoldStatus.RELEASED, 0, 50),
        (HoldStatus.SPLIT, 400, 30),
    ]
    assert _balances(shops[0]) == [950 + 570]
    assert (
        account_get_or_create(code="platform:fees:CNY", kind=AccountKind.PLATFORM, currency="CNY").balance
        == 80
    )
    with pytest.raises(Conflict) as caught, transaction.atomic():
        holds_settle(settlements=[(holds[2], 0)], fee_bps=500)
    assert caught.value.code == "hold_already_settled"
    ledger_verify()
