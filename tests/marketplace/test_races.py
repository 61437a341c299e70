"""Concurrency: real threads, real PostgreSQL transactions."""

import threading
from collections import Counter

import pytest
from django.db import connection

from escrow.models import Hold
from kabao.errors import Conflict
from marketplace.models import Code, CodeStatus, Order
from marketplace.services.orders import order_create
from tests.factories import MerchantFactory, ProductFactory, UserFactory, stock


def run_together(count: int, work) -> list:
    results: list = []
    barrier = threading.Barrier(count)

    def runner(index: int) -> None:
        try:
            barrier.wait()
            results.append(work(index))
        except Exception as exc:  # collected and asserted on by the test
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_forty_buyers_on_ten_codes_make_ten_orders_and_no_code_twice():
    product = ProductFactory(merchant=MerchantFactory())
    stock(product, 10)
    buyers = [UserFactory() for _ in range(40)]

    results = run_together(40, lambda i: order_create(buyer=buyers[i], product_id=product.pk, quantity=1))

    orders = [r for r in results if isinstance(r, Order)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(orders) == 10
    assert len(refused) == 30 and {r.code for r in refused} == {"out_of_stock"}
    reserved = list(Code.objects.filter(status=CodeStatus.RESERVED).values_list("id", "order_id"))
    assert len(reserved) == 10
    assert len({code_id for code_id, _ in reserved}) == 10
    assert Counter(order_id for _, order_id in reserved) == Counter({order.pk: 1 for order in orders})
    assert Code.objects.filter(status=CodeStatus.AVAILABLE).count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_same_idempotency_key_from_eight_requests_makes_one_order():
    product = ProductFactory(merchant=MerchantFactory())
    stock(product, 10)
    buyer = UserFactory()

    results = run_together(
        8,
        lambda i: order_create(
            buyer=buyer, product_id=product.pk, quantity=1, idempotency_key="double-click"
        ),
    )

    assert all(isinstance(r, Order) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert Code.objects.filter(status=CodeStatus.RESERVED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_twenty_replays_of_a_webhook_make_one_hold():
    from marketplace.models import SimulatedCharge
    from marketplace.payments.simulated import SIGNATURE_HEADER, event_body, sign
    from marketplace.services.payments import webhook_receive

    product = ProductFactory(merchant=MerchantFactory())
    stock(product, 1)
    order = order_create(buyer=UserFactory(), product_id=product.pk, quantity=1)
    charge = SimulatedCharge.objects.get(reference=order.payment.reference)
    charge.status = "succeeded"
    charge.save()
    body = event_body(charge)

    results = run_together(
        20,
        lambda i: webhook_receive(
            provider_name="simulated", body=body, headers={SIGNATURE_HEADER: sign(body)}
        ),
    )

    assert sum(1 for _event, is_new in results if is_new) == 1
    assert Hold.objects.count() == 1
    order.refresh_from_db()
    assert order.status == "delivered"
