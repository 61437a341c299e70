"""The deadline sweeps act on a batch at once: same rows, money and notices as one by one, with a
number of statements that does not grow with the batch."""

from datetime import datetime

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from disputes.models import Dispute, DisputeEvent, DisputeStatus, EventKind, Resolution
from disputes.services.lifecycle import dispute_open
from disputes.services.timers import sweep_decision_deadline, sweep_merchant_silence
from escrow.models import Hold, HoldStatus, Posting
from escrow.selectors import account_balance
from escrow.verify import ledger_verify
from marketplace.models import OrderEvent, OrderStatus, Payment, PaymentStatus
from marketplace.services.orders import order_create
from tests.factories import MerchantFactory, ProductFactory, StaffFactory, UserFactory, stock

pytestmark = pytest.mark.django_db


def _disputes(count: int, pay, *, product=None) -> list[Dispute]:
    product = product or ProductFactory(merchant=MerchantFactory())
    stock(product, count)
    disputes = []
    for _ in range(count):
        buyer = UserFactory()
        order = pay(order_create(buyer=buyer, product_id=product.pk, quantity=1))
        disputes.append(dispute_open(order_id=order.pk, buyer=buyer, reason="not_received", message="?"))
    return disputes


def _latest(disputes: list[Dispute], deadline: str) -> datetime:
    return max(getattr(dispute, deadline) for dispute in disputes)


def _statements(sweep, now) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        acted = sweep(now=now)
    return acted, len(captured.captured_queries)


def test_escalating_a_batch_costs_the_same_statements_for_2_or_8(pay):
    small, large = _disputes(2, pay), _disputes(8, pay)
    # the small group due first, then the large one
    Dispute.objects.filter(pk__in=[d.pk for d in small]).update(merchant_response_due_at=small[0].opened_at)
    first, first_statements = _statements(sweep_merchant_silence, small[0].opened_at)
    second, second_statements = _statements(
        sweep_merchant_silence, _latest(large, "merchant_response_due_at")
    )
    assert (first, second) == (2, 8)
    # transaction, take the batch, lock the timelines, read their last hashes, events, disputes
    # (one statement each) — 8 rows as cheap as 2
    assert first_statements == second_statements == 7
    for dispute in small + large:
        assert list(dispute.events.values_list("kind", flat=True)) == [
            EventKind.OPENED,
            EventKind.DEADLINE_MISSED,
            EventKind.ESCALATED,
        ]
    assert Dispute.objects.filter(status=DisputeStatus.ESCALATED).count() == 10


def test_one_notice_task_per_batch_one_email_per_recipient(pay, django_capture_on_commit_callbacks):
    staff = [StaffFactory(), StaffFactory()]
    disputes = _disputes(3, pay)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert sweep_merchant_silence(now=_latest(disputes, "merchant_response_due_at")) == 3
    assert len(callbacks) == 1  # one enqueue for the batch, not one per dispute
    assert sorted(message.to[0] for message in mail.outbox) == sorted(str(user.email) for user in staff)
    for message in mail.outbox:
        assert message.subject == "[Kabao] 3 disputes need your attention"
        assert [f"Dispute #{d.pk} on order #{d.order_id}" in message.body for d in disputes] == [True] * 3


def test_the_decision_deadline_refunds_a_batch_each_once(pay, django_capture_on_commit_callbacks):
    disputes = _disputes(6, pay)
    now = max(d.decision_due_at for d in disputes)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert sweep_decision_deadline(now=now) == 6
    assert len(callbacks) == 1
    assert sweep_decision_deadline(now=now) == 0
    for dispute in disputes:
        dispute.refresh_from_db()
        assert (dispute.status, dispute.resolution) == (DisputeStatus.RESOLVED, Resolution.REFUND)
        assert (dispute.refunded_amount, dispute.compensation_amount) == (1999, 199)
        assert list(dispute.events.values_list("kind", "amount")) == [
            (EventKind.OPENED, None),
            (EventKind.DEADLINE_MISSED, None),
            (EventKind.RESOLVED, 1999),
        ]
        assert account_balance(f"buyer:{dispute.buyer_id}:credit:CNY") == 199
        payment = Payment.objects.get(order_id=dispute.order_id)
        assert (payment.refunded_amount, payment.status) == (1999, PaymentStatus.REFUNDED)
        assert list(
            OrderEvent.objects.filter(order_id=dispute.order_id, to_status=OrderStatus.REFUNDED).values_list(
                "note", flat=True
            )
        ) == [f"dispute_{dispute.pk}_refund"]
        keys = set(
            Posting.objects.filter(
                reference__in=[f"order:{dispute.order_id}", f"dispute:{dispute.pk}"]
            ).values_list("idempotency_key", flat=True)
        )
        assert {f"hold:order:{dispute.order_id}:settle", f"dispute:{dispute.pk}:compensation"} <= keys
    orders = [d.order_id for d in disputes]
    assert (
        list(
            Hold.objects.filter(reference__in=[f"order:{o}" for o in orders]).values_list("status", flat=True)
        )
        == [HoldStatus.REFUNDED] * 6
    )
    assert account_balance("platform:compensation:CNY") == -6 * 199
    assert DisputeEvent.objects.filter(kind=EventKind.RESOLVED).count() == 6
    # each buyer one e-mail; the shop's owner one listing the six
    assert sorted(len(m.to) for m in mail.outbox) == [1] * 7
    digests = [m for m in mail.outbox if m.subject == "[Kabao] 6 disputes need your attention"]
    assert len(digests) == 1
    ledger_verify()


def test_a_refund_batch_costs_the_same_statements_for_10_or_50(pay):
    product = ProductFactory(merchant=MerchantFactory())
    warm, small, large = (_disputes(n, pay, product=product) for n in (1, 10, 50))
    # due one group after the other; the first sweep also makes the platform's compensation account
    Dispute.objects.filter(pk=warm[0].pk).update(decision_due_at=warm[0].opened_at)
    Dispute.objects.filter(pk__in=[d.pk for d in small]).update(decision_due_at=small[0].opened_at)
    counts = [
        _statements(sweep_decision_deadline, when)
        for when in (warm[0].opened_at, small[0].opened_at, max(d.decision_due_at for d in large))
    ]
    assert [acted for acted, _ in counts] == [1, 10, 50]
    # nothing grows with the batch: the simulated provider refunds it in four statements and a
    # savepoint, the orders move in two (their rows, their events); 39 in all when this was written
    # (the bound leaves room for a fixed few more per batch, never a few per dispute)
    assert counts[1][1] == counts[2][1] <= 60
    for dispute in small + large:
        assert Payment.objects.get(order_id=dispute.order_id).refunded_amount == 1999
        assert (
            list(OrderEvent.objects.filter(order_id=dispute.order_id).values_list("to_status", flat=True))[-1]
            == OrderStatus.REFUNDED
        )
    ledger_verify()
