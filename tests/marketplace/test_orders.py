from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from escrow.models import Account, HoldStatus
from escrow.selectors import account_balance
from kabao.errors import Conflict, DomainError
from marketplace.models import Code, CodeStatus, OrderStatus, PaymentStatus, SimulatedCharge
from marketplace.services.orders import order_codes, order_confirm, order_create, payment_captured
from marketplace.services.transitions import ALLOWED_TRANSITIONS, order_transition
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_checkout_reserves_codes_and_opens_a_payment(buyer, stocked_product):
    order = order_create(buyer=buyer, product_id=stocked_product.pk, quantity=3)

    assert order.status == OrderStatus.PENDING_PAYMENT
    assert order.amount == 3 * 1999
    assert order.payment.status == PaymentStatus.CREATED
    assert Code.objects.filter(order=order, status=CodeStatus.RESERVED).count() == 3
    assert Code.objects.filter(product=stocked_product, status=CodeStatus.AVAILABLE).count() == 7
    assert list(order.events.values_list("event", flat=True)) == ["created"]


def test_full_purchase_moves_money_through_escrow_to_the_merchant(buyer, stocked_product, merchant, pay):
    order = order_create(buyer=buyer, product_id=stocked_product.pk, quantity=2)

    order = pay(order)

    assert order.status == OrderStatus.DELIVERED
    assert order.hold.amount == 3998 and order.hold.status == HoldStatus.HELD
    assert order.hold.release_at == order.auto_confirm_at
    # the shop paid its deposit through the same provider
    assert account_balance("provider:simulated:CNY") == -3998 - settings.KABAO_MIN_MERCHANT_DEPOSIT
    assert account_balance(f"merchant:{merchant.pk}:available:CNY") == 0
    codes = order_codes(order=order, actor=buyer)
    assert len(codes) == 2 and all(code.startswith("CODE-") for code in codes)
    order.refresh_from_db()
    assert order.codes_revealed_at is not None

    order = order_confirm(order=order, actor=buyer)

    assert order.status == OrderStatus.COMPLETED
    # 5 % platform fee (500 bps) rounds down: 199.9 -> 199 fen
    assert account_balance(f"merchant:{merchant.pk}:available:CNY") == 3998 - 199
    assert account_balance("platform:fees:CNY") == 199
    assert account_balance(f"escrow:order:{order.pk}") == 0
    assert list(order.events.values_list("event", flat=True)) == [
        "created",
        "paid",
        "delivered",
        "codes_revealed",
        "completed",
    ]


def test_codes_are_only_for_the_buyer_after_delivery(buyer, stocked_product, merchant_owner, pay):
    order = order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1)
    assert order_codes(order=order, actor=buyer) == []  # not paid yet
    order = pay(order)
    assert order_codes(order=order, actor=merchant_owner) == []
    assert order_codes(order=order, actor=UserFactory()) == []
    assert len(order_codes(order=order, actor=buyer)) == 1


def test_out_of_stock_is_refused_and_reserves_nothing(buyer, stocked_product):
    with pytest.raises(Conflict) as refused:
        order_create(buyer=buyer, product_id=stocked_product.pk, quantity=11)
    assert refused.value.code == "out_of_stock"
    assert Code.objects.filter(status=CodeStatus.AVAILABLE).count() == 10
    assert not buyer.orders.exists()


@pytest.mark.parametrize("quantity", [0, -1, 21, 1.5, True, "2"])
def test_bad_quantities_are_refused(buyer, stocked_product, quantity):
    with pytest.raises(DomainError) as refused:
        order_create(buyer=buyer, product_id=stocked_product.pk, quantity=quantity)
    assert refused.value.code == "invalid_quantity"
    assert not buyer.orders.exists()


def test_the_same_idempotency_key_gives_the_same_order(buyer, stocked_product):
    first = order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1, idempotency_key="k1")
    again = order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1, idempotency_key="k1")
    assert again.pk == first.pk
    assert Code.objects.filter(status=CodeStatus.RESERVED).count() == 1
    with pytest.raises(Conflict):
        order_create(buyer=buyer, product_id=stocked_product.pk, quantity=2, idempotency_key="k1")


def test_a_merchant_cannot_buy_from_its_own_shop(merchant_owner, stocked_product):
    with pytest.raises(Conflict):
        order_create(buyer=merchant_owner, product_id=stocked_product.pk, quantity=1)


def test_only_the_buyer_confirms_and_only_once(buyer, stocked_product, pay):
    order = pay(order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1))
    with pytest.raises(DomainError):
        order_confirm(order=order, actor=UserFactory())
    order_confirm(order=order, actor=buyer)
    with pytest.raises(Conflict):
        order_confirm(order=order, actor=buyer)
    assert account_balance("platform:fees:CNY") == 99


def test_confirm_before_delivery_is_refused(buyer, stocked_product):
    order = order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1)
    with pytest.raises(Conflict):
        order_confirm(order=order, actor=buyer)
    assert not Account.objects.filter(code="platform:fees:CNY").exists()


def test_a_failed_payment_leaves_the_order_waiting(buyer, stocked_product, pay):
    order = pay(order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1), outcome="failed")
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert order.payment.status == PaymentStatus.FAILED
    order = pay(order)  # the buyer tries again
    assert order.status == OrderStatus.DELIVERED


def test_a_payment_after_cancellation_is_refunded(buyer, stocked_product, django_capture_on_commit_callbacks):
    from marketplace.services.sweeps import sweep_expire_unpaid

    order = order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1)
    sweep_expire_unpaid(now=timezone.now() + timedelta(hours=1))
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED

    with django_capture_on_commit_callbacks(execute=True):
        payment_captured(reference=order.payment.reference, amount=order.amount, currency="CNY")

    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED
    assert order.hold.status == HoldStatus.REFUNDED
    assert account_balance("provider:simulated:CNY") == -settings.KABAO_MIN_MERCHANT_DEPOSIT  # the deposit
    assert SimulatedCharge.objects.get(reference=order.payment.reference).refunded_amount == order.amount


def test_a_capture_of_the_wrong_amount_is_refunded(
    buyer, stocked_product, django_capture_on_commit_callbacks
):
    order = order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1)
    with django_capture_on_commit_callbacks(execute=True):
        payment_captured(reference=order.payment.reference, amount=1, currency="CNY")
    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED
    assert account_balance("provider:simulated:CNY") == -settings.KABAO_MIN_MERCHANT_DEPOSIT  # the deposit
    assert Code.objects.filter(status=CodeStatus.AVAILABLE).count() == 10


def test_every_transition_outside_the_table_is_refused(buyer, stocked_product):
    order = order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1)
    for target in OrderStatus.values:
        if target in ALLOWED_TRANSITIONS[OrderStatus.PENDING_PAYMENT]:
            continue
        with pytest.raises(Conflict):
            order_transition(order=order, to=target)
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert order.events.count() == 1
