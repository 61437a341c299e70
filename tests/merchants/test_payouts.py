"""Payouts: every step one posting, refusals that move nothing, and the protections under them."""

import threading

import pytest
from django.db import IntegrityError, connection, transaction

from escrow.models import Posting
from escrow.selectors import account_balance
from escrow.services import posting_create
from escrow.verify import ledger_verify
from kabao.errors import Conflict, DomainError
from marketplace.services.orders import order_confirm, order_create
from merchants.models import Membership, MembershipRole, MerchantStatus, Payout, PayoutEvent, PayoutStatus
from merchants.services import (
    merchant_available_account,
    merchant_payout_pending_account,
    payout_approve,
    payout_mark_paid,
    payout_reject,
    payout_request,
)
from tests.api.helpers import database_state
from tests.factories import MerchantFactory, StaffFactory, UserFactory, owner_of, pay_deposit
from tests.merchants.helpers import completed_sale, refund_after_release, withdraw_everything

pytestmark = pytest.mark.django_db


@pytest.fixture
def earned(buyer, merchant, stocked_product, pay):
    """The shop sold two codes and the buyer confirmed: 3998 minus the 5 % fee (199) is available."""
    completed_sale(buyer, stocked_product, pay, quantity=2)
    assert account_balance(f"merchant:{merchant.pk}:available:CNY") == 3799
    return merchant


def money(merchant) -> dict[str, int]:
    prefix = f"merchant:{merchant.pk}"
    return {
        "available": account_balance(f"{prefix}:available:CNY"),
        "pending": account_balance(f"{prefix}:payout_pending:CNY"),
        "approved": account_balance(f"{prefix}:payout_approved:CNY"),
        "sent": account_balance("external:payouts:CNY"),
    }


def steps(payout: Payout) -> list[tuple[str, str, str]]:
    return [
        (event.from_status, event.to_status, event.note)
        for event in PayoutEvent.objects.filter(payout=payout).order_by("id")
    ]


def test_a_payout_moves_the_money_one_posting_per_step(
    earned, merchant_owner, mailoutbox, django_capture_on_commit_callbacks
):
    staff = StaffFactory()

    payout = payout_request(merchant=earned, actor=merchant_owner, amount=3000)
    assert money(earned) == {"available": 799, "pending": 3000, "approved": 0, "sent": 0}
    payout = payout_approve(payout=payout, actor=staff)
    assert money(earned) == {"available": 799, "pending": 0, "approved": 3000, "sent": 0}
    with django_capture_on_commit_callbacks(execute=True):
        payout = payout_mark_paid(payout=payout, actor=staff, external_reference=" BANK-42 ")
    assert money(earned) == {"available": 799, "pending": 0, "approved": 0, "sent": 3000}

    payout.refresh_from_db()
    assert (payout.status, payout.amount, payout.currency, payout.external_reference) == (
        PayoutStatus.PAID,
        3000,
        "CNY",
        "BANK-42",
    )
    assert payout.requested_by_id == merchant_owner.pk and payout.decided_at and payout.paid_at
    assert steps(payout) == [
        ("", "requested", ""),
        ("requested", "approved", ""),
        ("approved", "paid", "BANK-42"),
    ]
    assert list(
        Posting.objects.filter(reference=f"payout:{payout.pk}")
        .order_by("id")
        .values_list("idempotency_key", "kind")
    ) == [
        (f"payout:{payout.pk}:requested", "payout_requested"),
        (f"payout:{payout.pk}:approved", "payout_approved"),
        (f"payout:{payout.pk}:paid", "payout_paid"),
    ]
    assert [(mail.to, mail.subject) for mail in mailoutbox] == [
        ([merchant_owner.email], "您 ¥30.00 的提现已打款")
    ]
    ledger_verify()


@pytest.mark.parametrize("at", [PayoutStatus.REQUESTED, PayoutStatus.APPROVED])
def test_a_rejected_payout_returns_the_money(
    earned, merchant_owner, at, mailoutbox, django_capture_on_commit_callbacks
):
    staff = StaffFactory()
    payout = payout_request(merchant=earned, actor=merchant_owner, amount=3799)
    if at == PayoutStatus.APPROVED:
        payout = payout_approve(payout=payout, actor=staff)

    with django_capture_on_commit_callbacks(execute=True):
        payout = payout_reject(payout=payout, actor=staff, reason="The bank account name does not match.")

    assert money(earned) == {"available": 3799, "pending": 0, "approved": 0, "sent": 0}
    payout.refresh_from_db()
    assert (payout.status, payout.rejection_reason) == (
        PayoutStatus.REJECTED,
        "The bank account name does not match.",
    )
    assert steps(payout)[-1] == (at, "rejected", "The bank account name does not match.")
    assert [mail.subject for mail in mailoutbox] == ["您 ¥37.99 的提现申请被拒绝"]
    assert mailoutbox[0].body == (
        "原因：The bank account name does not match.\n\n款项已退回您的可提现余额：http://127.0.0.1:8000/merchant/"
    )
    ledger_verify()


def test_repeating_a_decision_changes_nothing(earned, merchant_owner):
    staff = StaffFactory()
    payout = payout_approve(
        payout=payout_request(merchant=earned, actor=merchant_owner, amount=100), actor=staff
    )
    before = database_state(), list(PayoutEvent.objects.values_list("id", flat=True))

    payout_approve(payout=payout, actor=staff)

    assert (database_state(), list(PayoutEvent.objects.values_list("id", flat=True))) == before
    payout_mark_paid(payout=payout, actor=staff)
    paid = database_state(), list(PayoutEvent.objects.values_list("id", flat=True))
    payout_mark_paid(payout=payout, actor=staff, external_reference="again")
    assert (database_state(), list(PayoutEvent.objects.values_list("id", flat=True))) == paid


@pytest.mark.parametrize(
    ("first", "then", "message"),
    [
        ("requested", "paid", "A requested payout cannot become paid."),
        ("paid", "rejected", "A paid payout cannot become rejected."),
        ("rejected", "approved", "A rejected payout cannot become approved."),
        ("rejected", "paid", "A rejected payout cannot become paid."),
        ("paid", "approved", "A paid payout cannot become approved."),
    ],
)
def test_a_payout_moves_only_forward(earned, merchant_owner, first, then, message):
    staff = StaffFactory()
    payout = payout_request(merchant=earned, actor=merchant_owner, amount=500)
    if first == "paid":
        payout = payout_mark_paid(payout=payout_approve(payout=payout, actor=staff), actor=staff)
    elif first == "rejected":
        payout = payout_reject(payout=payout, actor=staff, reason="no")
    before = database_state(), money(earned), steps(payout)

    with pytest.raises(Conflict) as refused:
        if then == "paid":
            payout_mark_paid(payout=payout, actor=staff)
        elif then == "approved":
            payout_approve(payout=payout, actor=staff)
        else:
            payout_reject(payout=payout, actor=staff, reason="late")

    assert (refused.value.code, refused.value.message) == ("invalid_state", message)
    assert (database_state(), money(earned), steps(payout)) == before


# --- refusals -------------------------------------------------------------------------------


def test_a_payout_above_the_available_balance_is_refused(earned, merchant_owner):
    before = database_state(), money(earned)

    with pytest.raises(Conflict) as refused:
        payout_request(merchant=earned, actor=merchant_owner, amount=3800)

    assert (refused.value.code, refused.value.status, refused.value.message) == (
        "insufficient_available",
        409,
        "The payout exceeds the available balance (3799 minor units).",
    )
    assert (database_state(), money(earned)) == before
    assert not Payout.objects.exists()


def test_money_still_in_escrow_cannot_be_withdrawn(buyer, merchant, merchant_owner, stocked_product, pay):
    pay(order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1))  # delivered, not confirmed

    with pytest.raises(Conflict) as refused:
        payout_request(merchant=merchant, actor=merchant_owner, amount=1)

    assert refused.value.code == "insufficient_available"
    assert not Payout.objects.exists()


@pytest.mark.parametrize("amount", [0, -100, 10**12 + 1, True, 19.99, "100"])
def test_a_payout_is_a_positive_whole_amount(earned, merchant_owner, amount):
    with pytest.raises(DomainError) as refused:
        payout_request(merchant=earned, actor=merchant_owner, amount=amount)

    assert (refused.value.code, refused.value.status, refused.value.fields) == (
        "invalid_amount",
        400,
        {"amount": ["an integer from 1 to 1000000000000"]},
    )
    assert not Payout.objects.exists()


def test_no_payout_while_the_deposit_is_short(buyer, merchant, merchant_owner, stocked_product, pay):
    sold = completed_sale(buyer, stocked_product, pay, quantity=2)  # 3799 available
    held = pay(order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1))  # 1999 in escrow
    withdraw_everything(merchant, 3799)
    refund_after_release(sold, 1999)  # nothing available: the deposit pays, and is now short
    order_confirm(order=held, actor=buyer)  # 1900 available again
    assert money(merchant)["available"] == 1900
    before = database_state()

    with pytest.raises(Conflict) as refused:
        payout_request(merchant=merchant, actor=merchant_owner, amount=100)

    assert (refused.value.code, refused.value.status) == ("deposit_required", 409)
    assert database_state() == before
    pay_deposit(merchant, 1999)
    assert (
        payout_request(merchant=merchant, actor=merchant_owner, amount=100).status == PayoutStatus.REQUESTED
    )


def test_only_the_owner_requests_a_payout(earned):
    shop_staff = UserFactory()
    Membership.objects.create(merchant=earned, user_id=shop_staff.pk, role=MembershipRole.STAFF)

    for outsider in (shop_staff, UserFactory(), owner_of(MerchantFactory())):
        with pytest.raises(DomainError) as refused:
            payout_request(merchant=earned, actor=outsider, amount=100)
        assert (refused.value.code, refused.value.status) == ("permission_denied", 403)
    assert not Payout.objects.exists()


def test_a_suspended_shop_cannot_withdraw(earned, merchant_owner):
    earned.status = MerchantStatus.SUSPENDED
    earned.save(update_fields=["status"])

    with pytest.raises(DomainError) as refused:
        payout_request(merchant=earned, actor=merchant_owner, amount=100)

    assert (refused.value.code, refused.value.status) == ("merchant_not_active", 403)


@pytest.mark.parametrize("decide", ["approve", "reject", "paid"])
def test_only_staff_decide_payouts(earned, merchant_owner, decide):
    payout = payout_request(merchant=earned, actor=merchant_owner, amount=100)
    before = database_state(), steps(payout)

    with pytest.raises(DomainError) as refused:
        if decide == "approve":
            payout_approve(payout=payout, actor=merchant_owner)
        elif decide == "reject":
            payout_reject(payout=payout, actor=merchant_owner, reason="no")
        else:
            payout_mark_paid(payout=payout, actor=merchant_owner)

    assert (refused.value.code, refused.value.status, refused.value.message) == (
        "permission_denied",
        403,
        "Only staff decide payouts.",
    )
    assert (database_state(), steps(payout)) == before


@pytest.mark.parametrize("reason", ["", "  ", "r" * 501])
def test_a_rejection_says_why(earned, merchant_owner, reason):
    payout = payout_request(merchant=earned, actor=merchant_owner, amount=100)
    staff = StaffFactory()
    before = database_state(), steps(payout)

    with pytest.raises(DomainError) as refused:
        payout_reject(payout=payout, actor=staff, reason=reason)

    assert (refused.value.code, refused.value.fields) == ("invalid", {"reason": ["1 to 500 characters"]})
    assert (database_state(), steps(payout)) == before


# --- the protections under the service ------------------------------------------------------


def test_the_ledger_refuses_a_withdrawal_above_available_even_without_the_service_check(earned):
    """Remove the service's balance check and the ledger still refuses: an available account never
    goes negative (posting_create, and a check constraint in PostgreSQL under it)."""
    available = merchant_available_account(earned, "CNY")
    pending = merchant_payout_pending_account(earned, "CNY")
    before = database_state()

    with pytest.raises(Conflict) as refused, transaction.atomic():
        posting_create(
            idempotency_key="bypass", kind="payout_requested", lines=[(available, -3800), (pending, 3800)]
        )

    assert refused.value.code == "insufficient_funds"
    assert database_state() == before
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE escrow_account SET balance = -1 WHERE id = %s", [available.pk])


def test_the_database_refuses_a_payout_of_nothing(earned, merchant_owner):
    with pytest.raises(IntegrityError), transaction.atomic():
        Payout.objects.create(merchant=earned, amount=0, currency="CNY", requested_by=merchant_owner)


@pytest.mark.django_db(transaction=True)
def test_two_payouts_racing_for_the_same_money_cannot_both_take_it(buyer, merchant, stocked_product, pay):
    completed_sale(buyer, stocked_product, pay, quantity=2)  # 3799 available
    owner = owner_of(merchant)
    barrier = threading.Barrier(2)
    results: list[object] = []

    def request() -> None:
        try:
            barrier.wait()
            results.append(payout_request(merchant=merchant, actor=owner, amount=3000))
        except Conflict as exc:
            results.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(type(result).__name__ for result in results) == ["Payout", "str"]
    assert "insufficient_available" in results
    assert money(merchant) == {"available": 799, "pending": 3000, "approved": 0, "sent": 0}
    assert Payout.objects.count() == 1
    ledger_verify()
