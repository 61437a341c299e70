"""The ledger under real concurrency: threads with their own PostgreSQL connections, started
together at a barrier, through the real services (TigerBeetle's invariants, Stripe's idempotency)."""

from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from disputes.models import Dispute, DisputeReason
from disputes.services.lifecycle import dispute_open
from escrow.models import Account, AccountKind, Hold, HoldStatus, Posting
from escrow.services import account_get_or_create, fee_split, hold_place, hold_settle, posting_create
from escrow.verify import ledger_verify
from kabao.errors import Conflict
from marketplace.models import Order, OrderStatus
from marketplace.services.orders import order_confirm, order_create, payment_captured
from marketplace.services.sweeps import sweep_auto_confirm
from merchants.models import Payout, PayoutStatus
from merchants.services import (
    merchant_available_account,
    merchant_payout_pending_account,
    payout_approve,
    payout_mark_paid,
    payout_request,
    payouts_sent_account,
)
from tests.factories import MerchantFactory, ProductFactory, StaffFactory, UserFactory, owner_of, stock
from tests.reliability.threads import run_at_once

CURRENCY = settings.KABAO_CURRENCY
FEE_BPS = settings.KABAO_PLATFORM_FEE_BPS


def _balance(code: str) -> int:
    return Account.objects.get(code=code).balance


def _world_and_shops() -> tuple[Account, Account, Account]:
    with transaction.atomic():
        world = account_get_or_create(
            code="race:world", kind=AccountKind.EXTERNAL, currency=CURRENCY, allow_negative=True
        )
        alice = account_get_or_create(
            code="race:alice", kind=AccountKind.MERCHANT_AVAILABLE, currency=CURRENCY
        )
        bob = account_get_or_create(code="race:bob", kind=AccountKind.MERCHANT_AVAILABLE, currency=CURRENCY)
    return world, alice, bob


def _delivered_order(product, buyer) -> Order:
    """Ordered and paid; the delivery task runs when the capture commits (eager Celery)."""
    order = order_create(buyer=buyer, product_id=product.pk, quantity=1)
    payment_captured(reference=order.payment.reference, amount=order.amount, currency=order.currency)
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    return order


@pytest.mark.django_db(transaction=True)
def test_the_same_posting_key_from_twenty_threads_is_one_posting():
    world, alice, _bob = _world_and_shops()

    def post(_index: int) -> int:
        with transaction.atomic(durable=True):
            lines = [(world, -500), (alice, 500)]
            return posting_create(idempotency_key="race:same", kind="test", lines=lines).pk

    results = run_at_once(20, post)

    assert all(isinstance(result, int) for result in results), results
    assert len(set(results)) == 1
    assert Posting.objects.filter(idempotency_key="race:same").count() == 1
    assert Posting.objects.get(pk=results[0]).entries.count() == 2
    assert (_balance("race:world"), _balance("race:alice")) == (-500, 500)
    assert ledger_verify().postings == 1


@pytest.mark.django_db(transaction=True)
def test_twenty_threads_settling_one_hold_settle_it_once():
    """The escrow layer on its own, without the order's lock above it: 10 threads release a hold,
    10 refund it, at once. The hold's row lock and status check let exactly one through; every
    other is told the hold is already settled (not a second posting, not the same one again)."""
    world, alice, _bob = _world_and_shops()
    with transaction.atomic():
        hold = hold_place(
            reference="race:hold",
            amount=1000,
            currency=CURRENCY,
            source=world,
            beneficiary=alice,
            refund_to=world,
        )

    def settle(index: int) -> str:
        with transaction.atomic(durable=True):
            hold_settle(hold=hold, refund_amount=0 if index % 2 else 1000, fee_bps=500)
        return "settled"

    results = run_at_once(20, settle)

    assert results.count("settled") == 1, results
    refusals = [result for result in results if result != "settled"]
    assert {(type(r), getattr(r, "code", None)) for r in refusals} == {(Conflict, "hold_already_settled")}
    hold.refresh_from_db()
    assert Posting.objects.filter(idempotency_key="hold:race:hold:settle").count() == 1
    if hold.status == HoldStatus.RELEASED:
        assert (_balance("race:world"), _balance("race:alice")) == (-1000, 950)
    else:
        assert hold.status == HoldStatus.REFUNDED and _balance("race:world") == 0
    assert ledger_verify().holds == 1


@pytest.mark.django_db(transaction=True)
def test_the_same_key_with_other_lines_from_other_threads_is_refused_not_written():
    """Stripe's rule: the same key with other parameters is an error, never a second effect."""
    world, alice, bob = _world_and_shops()

    def post(index: int) -> int:
        target = alice if index % 2 else bob
        with transaction.atomic(durable=True):
            return posting_create(
                idempotency_key="race:mixed", kind="test", lines=[(world, -700), (target, 700)]
            ).pk

    results = run_at_once(20, post)

    winner = Posting.objects.get(idempotency_key="race:mixed")
    paid = "race:alice" if winner.entries.filter(account=alice).exists() else "race:bob"
    for index, result in enumerate(results):
        if (index % 2 == 1) == (paid == "race:alice"):  # the winner's lines: its posting again
            assert result == winner.pk, result
        else:
            assert isinstance(result, Conflict) and result.code == "idempotency_key_reused", result
    assert _balance("race:alice") + _balance("race:bob") == 700 and _balance(paid) == 700
    assert Posting.objects.count() == 1
    ledger_verify()


@pytest.mark.django_db(transaction=True)
def test_confirm_auto_confirm_and_a_dispute_racing_resolve_each_hold_once():
    """Thirty rounds: the buyer confirms, the auto-confirm sweep runs (the protection window already
    over) and the buyer opens a dispute, all at once on one delivered order. Each hold ends released
    exactly once (then the dispute is an after-sale claim) or frozen by the dispute, never both."""
    rounds = 30
    merchant = MerchantFactory()
    product = ProductFactory(merchant=merchant, price=1999)
    stock(product, rounds)
    buyer = UserFactory()
    available = merchant_available_account(merchant, CURRENCY)
    fee, net = fee_split(1999, FEE_BPS)
    later = timezone.now() + timedelta(days=30)
    tally: Counter[str] = Counter()

    for _round in range(rounds):
        order = _delivered_order(product, buyer)
        actions = [
            lambda: order_confirm(order=order, actor=buyer),
            lambda: sweep_auto_confirm(now=later),
            lambda: dispute_open(
                order_id=order.pk, buyer=buyer, reason=DisputeReason.NOT_RECEIVED, message="no code"
            ),
        ]
        confirmed, swept, dispute = run_at_once(3, lambda index: actions[index]())

        assert isinstance(dispute, Dispute), dispute  # before completion, or as an after-sale claim
        if isinstance(confirmed, Conflict):
            assert confirmed.code == "invalid_state"
        else:
            assert isinstance(confirmed, Order), confirmed
        assert swept in (0, 1)
        released = int(isinstance(confirmed, Order)) + swept
        assert order.hold_id is not None
        hold = Hold.objects.get(pk=order.hold_id)
        order.refresh_from_db()
        settlements = Posting.objects.filter(reference=hold.reference).exclude(kind="hold_place").count()
        assert order.status == OrderStatus.DISPUTED
        if dispute.is_after_sale:  # released first, by exactly one of the two
            assert released == 1
            assert (hold.status, hold.is_frozen, hold.fee_amount, settlements) == (
                HoldStatus.RELEASED,
                False,
                fee,
                1,
            )
            assert order.completed_at is not None
            tally["confirmed" if swept == 0 else "auto-confirmed"] += 1
        else:  # the dispute came first: the money stays in escrow, frozen
            assert released == 0
            assert (hold.status, hold.is_frozen, settlements) == (HoldStatus.HELD, True, 0)
            assert hold.account.balance == 1999
            tally["disputed first"] += 1

    print(f"30 three-way races on one hold each: {dict(tally)}")
    available.refresh_from_db()
    released_rounds = tally["confirmed"] + tally["auto-confirmed"]
    assert available.balance == released_rounds * net
    assert Account.objects.get(code=f"platform:fees:{CURRENCY}").balance == released_rounds * fee
    assert Hold.objects.filter(status=HoldStatus.HELD, is_frozen=True).count() == tally["disputed first"]
    ledger_verify()


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_payouts_never_overdraw_the_available_balance():
    merchant = MerchantFactory()
    owner, staff = owner_of(merchant), StaffFactory()
    product = ProductFactory(merchant=merchant, price=20_000)
    stock(product, 1)
    order = _delivered_order(product, UserFactory())
    order_confirm(order=order, actor=order.buyer)
    balance = _balance(f"merchant:{merchant.pk}:available:{CURRENCY}")
    assert balance == 19_000  # 20,000 less the 5 % fee
    amounts = [2_000 + 97 * index for index in range(20)]  # 58,430 asked of 19,000

    results = run_at_once(
        20, lambda index: payout_request(merchant=merchant, actor=owner, amount=amounts[index])
    )

    pairs = list(zip(amounts, results, strict=True))
    granted = [amount for amount, result in pairs if isinstance(result, Payout)]
    refused = [(amount, result) for amount, result in pairs if not isinstance(result, Payout)]
    assert {getattr(result, "code", repr(result)) for _amount, result in refused} == {
        "insufficient_available"
    }
    available = merchant_available_account(merchant, CURRENCY)
    assert 0 < sum(granted) <= balance
    assert available.balance == balance - sum(granted) >= 0
    # The balance only went down, so each refused request asked more than what is left at the end.
    assert all(amount > available.balance for amount, _result in refused)
    assert merchant_payout_pending_account(merchant, CURRENCY).balance == sum(granted)
    print(f"payouts: {len(granted)} granted ({sum(granted)} of {balance}), {len(refused)} refused")

    for payout in Payout.objects.filter(merchant_id=merchant.pk):
        payout_mark_paid(payout=payout_approve(payout=payout, actor=staff), actor=staff)
    assert Payout.objects.filter(merchant_id=merchant.pk, status=PayoutStatus.PAID).count() == len(granted)
    assert payouts_sent_account(CURRENCY).balance == sum(granted) <= balance
    ledger_verify()
