"""The deposit on the ledger, and the request to top it up after it paid a buyer (先行赔付)."""

import pytest
from django.db import transaction

from escrow.models import Posting
from escrow.selectors import account_balance
from escrow.services import provider_account
from kabao.errors import DomainError
from merchants.models import Merchant
from merchants.services import merchant_deposit_credit, merchant_deposit_topup_notify
from tests.factories import MerchantFactory, pay_deposit
from tests.merchants.helpers import completed_sale, refund_after_release, withdraw_everything

pytestmark = pytest.mark.django_db


def credit(merchant: Merchant, amount: int, key: str) -> None:
    with transaction.atomic():
        merchant_deposit_credit(
            merchant=merchant,
            amount=amount,
            currency="CNY",
            source=provider_account("simulated", "CNY"),
            idempotency_key=key,
            reference=f"deposit:{merchant.pk}",
        )


def test_a_credit_with_the_same_key_is_one_posting():
    shop = MerchantFactory(deposit=0)

    credit(shop, 700, "deposit-key-1")
    credit(shop, 700, "deposit-key-1")

    assert account_balance(f"merchant:{shop.pk}:deposit:CNY") == 700
    assert Posting.objects.filter(idempotency_key="deposit-key-1").count() == 1


@pytest.mark.parametrize("amount", [0, -1, True])
def test_a_credit_is_positive(amount):
    shop = MerchantFactory(deposit=0)

    with pytest.raises(DomainError) as refused:
        credit(shop, amount, "deposit-key-2")

    assert refused.value.code == "invalid_amount"
    assert not Posting.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_credits_need_the_callers_transaction():
    shop = MerchantFactory(deposit=0)

    with pytest.raises(RuntimeError, match="inside the caller's transaction"):
        merchant_deposit_credit(
            merchant=shop,
            amount=1,
            currency="CNY",
            source=provider_account("simulated", "CNY"),
            idempotency_key="k",
            reference="r",
        )


@pytest.fixture
def drained(buyer, merchant, stocked_product, pay, django_capture_on_commit_callbacks):
    """The shop withdrew its sale's money, then lost an after-sale claim: the deposit paid 1999, and
    the refund itself asked the owner to top up."""
    order = completed_sale(buyer, stocked_product, pay)
    withdraw_everything(merchant, 1900)
    with django_capture_on_commit_callbacks(execute=True):
        refund_after_release(order, 1999)
    return merchant


def test_the_owner_is_asked_once_to_top_up(
    drained, merchant_owner, mailoutbox, django_capture_on_commit_callbacks
):
    assert account_balance(f"merchant:{drained.pk}:deposit:CNY") == 98_001

    with django_capture_on_commit_callbacks(execute=True):
        again = merchant_deposit_topup_notify(merchant=drained)

    assert again is False  # the refund that drew on the deposit asked already
    assert len(mailoutbox) == 1
    assert (mailoutbox[0].to, mailoutbox[0].subject) == (
        [merchant_owner.email],
        f"请为 {drained.shop_name} 补缴保证金",
    )
    assert mailoutbox[0].body == (
        f"{drained.shop_name} 的保证金已用于先行赔付买家，目前余额为 ¥980.01，低于要求的 ¥1,000.00。"
        "在您补缴 ¥19.99 之前，商品将下架、提现将暂停：http://127.0.0.1:8000/merchant/"
    )
    drained.refresh_from_db()
    assert drained.deposit_topup_requested_at is not None


def test_a_top_up_clears_the_request_so_the_next_shortfall_asks_again(
    drained, buyer, stocked_product, pay, mailoutbox, django_capture_on_commit_callbacks
):
    pay_deposit(drained, 1999)

    drained.refresh_from_db()
    assert drained.deposit_topup_requested_at is None
    order = completed_sale(buyer, stocked_product, pay)
    withdraw_everything(drained, 1900)
    with django_capture_on_commit_callbacks(execute=True):
        refund_after_release(order, 1999)
    drained.refresh_from_db()
    assert drained.deposit_topup_requested_at is not None
    assert len(mailoutbox) == 2


def test_a_shop_at_the_minimum_is_not_asked(merchant, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert merchant_deposit_topup_notify(merchant=merchant) is False

    assert mailoutbox == []
    merchant.refresh_from_db()
    assert merchant.deposit_topup_requested_at is None


def test_the_request_can_be_made_inside_a_callers_transaction(
    drained, mailoutbox, django_capture_on_commit_callbacks
):
    Merchant.objects.filter(pk=drained.pk).update(deposit_topup_requested_at=None)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        assert merchant_deposit_topup_notify(merchant=drained) is True

    assert len(mailoutbox) == 2
