"""Shared steps of the merchants tests, each through the services a user's click would call."""

from django.db import transaction

from accounts.models import User
from marketplace.models import Order, OrderStatus, Product
from marketplace.services.orders import order_confirm, order_create
from marketplace.services.refunds import refund_locked_order
from marketplace.services.transitions import order_lock, order_transition
from merchants.models import Merchant
from merchants.services import payout_approve, payout_mark_paid, payout_request
from tests.factories import StaffFactory, owner_of


def completed_sale(buyer: User, product: Product, pay, quantity: int = 1) -> Order:
    """A paid, delivered and confirmed order: its price minus the fee is the shop's available money."""
    order = pay(order_create(buyer=buyer, product_id=product.pk, quantity=quantity))
    return order_confirm(order=order, actor=buyer)


def withdraw_everything(merchant: Merchant, amount: int) -> None:
    """The owner withdraws `amount` and staff send it: the shop's available money leaves the platform."""
    staff = StaffFactory()
    payout = payout_request(merchant=merchant, actor=owner_of(merchant), amount=amount)
    payout_mark_paid(payout=payout_approve(payout=payout, actor=staff), actor=staff)


def refund_after_release(order: Order, amount: int) -> Order:
    """An after-sale refund once the money was released: a dispute the shop lost (先行赔付 from the
    deposit when its available money cannot cover it)."""
    with transaction.atomic():
        locked = order_lock(order.pk)
        order_transition(order=locked, to=OrderStatus.DISPUTED)
        return refund_locked_order(order=locked, refund_amount=amount, reason="after_sale_claim")
