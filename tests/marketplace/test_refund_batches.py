"""A batch of refunds at the simulated gateway and a batch of order moves: the same meaning as one at
a time (a key answered once, a refund never past its charge, every move checked against the table),
in a number of statements that does not grow with the batch."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from escrow.models import Posting
from kabao.errors import Conflict, DomainError, NotFound
from marketplace.models import (
    Order,
    OrderEvent,
    OrderStatus,
    Payment,
    PaymentStatus,
    SimulatedCharge,
    SimulatedRefund,
)
from marketplace.payments import ProviderRefund
from marketplace.payments.simulated import SimulatedProvider
from marketplace.services.orders import order_create
from marketplace.services.refunds import RefundRequest, refund_locked_orders
from marketplace.services.transitions import OrderMove, order_lock, orders_transition
from tests.factories import UserFactory, stock

pytestmark = pytest.mark.django_db


def _charges(count: int, amount: int = 1000) -> list[str]:
    provider = SimulatedProvider()
    return [
        provider.create_payment(
            label=f"t-{n}", amount=amount, currency="CNY", idempotency_key=f"t-{n}"
        ).reference
        for n in range(count)
    ]


def _state() -> tuple[list[tuple[str, int]], list[tuple[str, str, int]]]:
    charges = list(SimulatedCharge.objects.order_by("pk").values_list("reference", "refunded_amount"))
    refunds = list(
        SimulatedRefund.objects.order_by("pk").values_list("idempotency_key", "charge__reference", "amount")
    )
    return charges, refunds


def _refund_many(refunds: list[ProviderRefund]) -> int:
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        SimulatedProvider().refund_many(refunds)
    return len(captured.captured_queries)


def test_a_batch_refunds_each_charge_once_per_key():
    a, b, c = _charges(3)
    _refund_many(
        [
            ProviderRefund(reference=a, amount=1000, idempotency_key="k-a"),
            ProviderRefund(reference=b, amount=300, idempotency_key="k-b1"),
            ProviderRefund(reference=b, amount=200, idempotency_key="k-b2"),  # the same charge twice
            ProviderRefund(reference=a, amount=1000, idempotency_key="k-a"),  # a key repeated in the batch
        ]
    )
    assert _state() == (
        [(a, 1000), (b, 500), (c, 0)],
        [("k-a", a, 1000), ("k-b1", b, 300), ("k-b2", b, 200)],
    )


def test_the_same_batch_again_changes_nothing_and_costs_no_write():
    references = _charges(4)
    batch = [ProviderRefund(reference=r, amount=400, idempotency_key=f"k-{r}") for r in references]
    _refund_many(batch)
    before = _state()
    # savepoint, the charges locked, the keys read, release: nothing inserted or updated
    assert _refund_many(batch) == 4
    assert _state() == before


def test_old_and_new_keys_in_one_batch_refund_only_the_new():
    a, b = _charges(2)
    _refund_many([ProviderRefund(reference=a, amount=100, idempotency_key="k-1")])
    _refund_many(
        [
            # an old key answers as before, even with another amount
            ProviderRefund(reference=a, amount=999, idempotency_key="k-1"),
            ProviderRefund(reference=a, amount=200, idempotency_key="k-2"),
            ProviderRefund(reference=b, amount=300, idempotency_key="k-3"),
        ]
    )
    assert _state() == (
        [(a, 300), (b, 300)],
        [("k-1", a, 100), ("k-2", a, 200), ("k-3", b, 300)],
    )


@pytest.mark.parametrize(
    "batch",
    [
        # past the charge with what was refunded before
        [("a", 901, "k-new")],
        # each within the charge, together past it; the refusal comes after a good refund
        [("b", 100, "k-b"), ("a", 600, "k-x"), ("a", 301, "k-y")],
    ],
)
def test_a_refund_past_its_charge_refuses_the_whole_batch_and_writes_nothing(batch):
    a, b = _charges(2)
    _refund_many([ProviderRefund(reference=a, amount=100, idempotency_key="k-old")])
    before = _state()
    names = {"a": a, "b": b}
    refunds = [ProviderRefund(reference=names[r], amount=amount, idempotency_key=k) for r, amount, k in batch]
    with pytest.raises(Conflict) as refused, transaction.atomic():
        SimulatedProvider().refund_many(refunds)
    assert refused.value.code == "refund_exceeds_charge"
    assert _state() == before
    # a replayed key is not counted again against the charge: the charge's last 900 still go back
    _refund_many(
        [
            ProviderRefund(reference=a, amount=100, idempotency_key="k-old"),
            ProviderRefund(reference=a, amount=900, idempotency_key="k-rest"),
        ]
    )
    assert _state()[0] == [(a, 1000), (b, 0)]


def test_an_unknown_charge_refuses_the_batch():
    (a,) = _charges(1)
    with pytest.raises(NotFound), transaction.atomic():
        SimulatedProvider().refund_many(
            [
                ProviderRefund(reference=a, amount=100, idempotency_key="k-a"),
                ProviderRefund(reference="sim_nobody", amount=100, idempotency_key="k-x"),
            ]
        )
    assert _state() == ([(a, 0)], [])


def test_one_refund_is_the_batch_of_one():
    (a,) = _charges(1)
    provider = SimulatedProvider()
    with transaction.atomic():
        provider.refund(reference=a, amount=250, idempotency_key="k-1")
        provider.refund(reference=a, amount=250, idempotency_key="k-1")
    with pytest.raises(Conflict), transaction.atomic():
        provider.refund(reference=a, amount=751, idempotency_key="k-2")
    assert _state() == ([(a, 250)], [("k-1", a, 250)])


def test_a_batch_costs_the_same_statements_for_2_or_20_charges():
    small, large = _charges(2), _charges(20)
    counts = [
        _refund_many([ProviderRefund(reference=r, amount=10, idempotency_key=f"k-{r}") for r in references])
        for references in (small, large)
    ]
    # savepoint, the charges locked, the keys read, the refunds inserted, the charges updated, release
    assert counts == [6, 6]


def _paid_orders(count: int, pay, product) -> list[Order]:
    stock(product, count)
    return [pay(order_create(buyer=UserFactory(), product_id=product.pk, quantity=1)) for _ in range(count)]


def test_a_refusal_at_the_provider_rolls_the_batch_back(stocked_product, pay):
    orders = _paid_orders(3, pay, stocked_product)
    # the last charge was refunded at the gateway already (no webhook yet): the gateway refuses
    SimulatedCharge.objects.filter(reference=orders[2].payment.reference).update(refunded_amount=1)
    postings = Posting.objects.count()
    with pytest.raises(Conflict) as refused, transaction.atomic():
        locked = [order_lock(order.pk) for order in orders]
        refund_locked_orders(
            refunds=[RefundRequest(order=order, amount=order.amount, reason="test") for order in locked]
        )
    assert refused.value.code == "refund_exceeds_charge"
    assert Posting.objects.count() == postings
    assert (
        list(Order.objects.filter(pk__in=[o.pk for o in orders]).values_list("status", flat=True))
        == [OrderStatus.DELIVERED] * 3
    )
    assert not SimulatedRefund.objects.exists()
    assert set(Payment.objects.filter(order__in=orders).values_list("refunded_amount", "status")) == {
        (0, PaymentStatus.SUCCEEDED)
    }


def test_orders_move_together_each_with_its_event(stocked_product, pay):
    orders = _paid_orders(3, pay, stocked_product)
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        orders_transition(
            moves=[
                OrderMove(order=orders[0], to=OrderStatus.REFUNDED, note="r" * 300),
                OrderMove(order=orders[1], to=OrderStatus.PARTIALLY_REFUNDED, note="part"),
                OrderMove(order=orders[2], to=OrderStatus.DISPUTED),
            ]
        )
    # the orders; the timelines locked, their last hashes read, the events
    assert len(captured.captured_queries) == 4
    rows = {order.pk: order for order in Order.objects.filter(pk__in=[o.pk for o in orders])}
    assert [rows[o.pk].status for o in orders] == [
        OrderStatus.REFUNDED,
        OrderStatus.PARTIALLY_REFUNDED,
        OrderStatus.DISPUTED,
    ]
    closed = rows[orders[0].pk].closed_at
    assert closed is not None and rows[orders[1].pk].closed_at == closed
    assert rows[orders[2].pk].closed_at is None
    events = OrderEvent.objects.filter(order__in=orders, from_status=OrderStatus.DELIVERED).order_by(
        "order_id"
    )
    assert [(e.order_id, e.event, e.to_status, e.note, e.at) for e in events] == [
        (orders[0].pk, OrderStatus.REFUNDED, OrderStatus.REFUNDED, "r" * 200, closed),
        (orders[1].pk, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.PARTIALLY_REFUNDED, "part", closed),
        (orders[2].pk, OrderStatus.DISPUTED, OrderStatus.DISPUTED, "", events[2].at),
    ]


def test_a_move_outside_the_table_refuses_the_whole_batch(stocked_product, pay):
    orders = _paid_orders(2, pay, stocked_product)
    events = OrderEvent.objects.count()
    with pytest.raises(Conflict) as refused, transaction.atomic():
        orders_transition(
            moves=[
                OrderMove(order=orders[0], to=OrderStatus.REFUNDED),
                OrderMove(order=orders[1], to=OrderStatus.PAID),  # delivered cannot go back to paid
            ]
        )
    assert refused.value.code == "invalid_state"
    assert orders[0].status == OrderStatus.DELIVERED  # checked before anything was assigned
    assert set(Order.objects.filter(pk__in=[o.pk for o in orders]).values_list("status", flat=True)) == {
        OrderStatus.DELIVERED
    }
    assert OrderEvent.objects.count() == events
    with pytest.raises(DomainError), transaction.atomic():
        orders_transition(
            moves=[
                OrderMove(order=orders[0], to=OrderStatus.REFUNDED),
                OrderMove(order=orders[0], to=OrderStatus.REFUNDED),
            ]
        )
    assert OrderEvent.objects.count() == events
