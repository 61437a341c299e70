"""With the broker unreachable, what the database committed stays committed and the caller is
answered: a payment at the simulated gateway and a dispute message each commit and return normally;
the lost enqueue is logged, not raised after the commit (which would answer 500 for a change that
was made). What the message stood for is found again from the database: the payment by the
reconciliation sweep, the dispute's deadlines are columns the timers sweep."""

import logging
from datetime import timedelta

from django.utils import timezone

from disputes.models import DisputeEvent
from disputes.services.lifecycle import dispute_open, dispute_post_message
from marketplace.models import Order, OrderStatus, Payment
from marketplace.services.orders import order_create
from marketplace.services.payments import simulated_gateway_pay
from marketplace.services.sweeps import sweep_reconcile_unpaid
from tests.factories import MerchantFactory, ProductFactory, UserFactory, owner_of, stock
from tests.processes import free_port, publishing_to


def _lost_enqueues(caplog) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == "django.db.backends.base" and "on_commit" in r.getMessage()
    ]


def test_a_payment_and_a_dispute_message_commit_while_the_broker_is_down(transactional_db, caplog, pay):
    product = ProductFactory(merchant=MerchantFactory(), price=1500)
    stock(product, 2)
    buyer = UserFactory()
    delivered = pay(order_create(buyer=buyer, product_id=product.pk, quantity=1))
    dispute = dispute_open(order_id=delivered.pk, buyer=buyer, reason="invalid_code", message="Used")
    unpaid = order_create(buyer=buyer, product_id=product.pk, quantity=1)

    with publishing_to(f"redis://127.0.0.1:{free_port()}/0"):  # nothing listens there
        simulated_gateway_pay(reference=unpaid.payment.reference, outcome="succeeded", drop_webhook=False)
        dispute_post_message(dispute=dispute, actor=owner_of(product.merchant), message="Looking into it")

    assert Payment.objects.get(order=unpaid).status == "created"  # its webhook never left
    assert DisputeEvent.objects.filter(dispute=dispute, message="Looking into it").count() == 1
    lost = _lost_enqueues(caplog)
    assert len(lost) == 2 and all(record.levelno == logging.ERROR for record in lost), [
        record.getMessage() for record in caplog.records
    ]

    # The broker is back (eager again): reconciliation asks the gateway, which was paid.
    assert sweep_reconcile_unpaid(now=timezone.now() + timedelta(days=1)) == 1
    assert Order.objects.get(pk=unpaid.pk).status == OrderStatus.DELIVERED
