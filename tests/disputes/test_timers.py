"""Each timer with time injected: one second before, nothing; at the deadline, exactly one action."""

import threading
from datetime import timedelta

import pytest
from django.db import connection

from disputes.models import Dispute, DisputeEvent, DisputeLevel, DisputeStatus, EventKind, Resolution
from disputes.services.lifecycle import (
    dispute_open,
    dispute_post_message,
)
from disputes.services.remedies import dispute_offer
from disputes.services.timers import (
    sweep_decision_deadline,
    sweep_dispute_deadlines,
    sweep_merchant_silence,
    sweep_platform_silence,
    sweep_remedy_objection,
)
from escrow.selectors import account_balance
from escrow.verify import ledger_verify
from marketplace.models import OrderStatus
from marketplace.services.orders import order_create
from marketplace.services.payments import simulated_gateway_pay
from tests.factories import MerchantFactory, ProductFactory, StaffFactory, UserFactory, stock

SECOND = timedelta(seconds=1)
# Every factory shop has paid the minimum security deposit in through the simulated provider.
DEPOSIT = 100_000
pytestmark = pytest.mark.django_db


def test_merchant_silence_escalates_once(open_dispute):
    due = open_dispute.merchant_response_due_at
    assert sweep_merchant_silence(now=due - SECOND) == 0
    assert sweep_merchant_silence(now=due) == 1
    assert sweep_merchant_silence(now=due + SECOND) == 0
    open_dispute.refresh_from_db()
    assert open_dispute.level == DisputeLevel.PLATFORM and open_dispute.status == DisputeStatus.ESCALATED
    kinds = list(open_dispute.events.values_list("kind", flat=True))
    assert kinds == [EventKind.OPENED, EventKind.DEADLINE_MISSED, EventKind.ESCALATED]


def test_an_answer_before_the_deadline_stops_escalation(open_dispute, merchant_owner):
    dispute_post_message(dispute=open_dispute, actor=merchant_owner, message="Looking")
    assert sweep_merchant_silence(now=open_dispute.merchant_response_due_at + SECOND) == 0


def test_platform_silence_raises_to_senior_once(open_dispute):
    sweep_merchant_silence(now=open_dispute.merchant_response_due_at)
    open_dispute.refresh_from_db()
    due = open_dispute.platform_feedback_due_at
    assert sweep_platform_silence(now=due - SECOND) == 0
    assert sweep_platform_silence(now=due) == 1
    assert sweep_platform_silence(now=due + SECOND) == 0
    open_dispute.refresh_from_db()
    assert open_dispute.level == DisputeLevel.SENIOR


def test_staff_feedback_stops_the_senior_timer(open_dispute):
    sweep_merchant_silence(now=open_dispute.merchant_response_due_at)
    dispute_post_message(dispute=open_dispute, actor=StaffFactory(), message="We are on it")
    open_dispute.refresh_from_db()
    assert sweep_platform_silence(now=open_dispute.platform_feedback_due_at + SECOND) == 0


def test_the_decision_deadline_refunds_the_buyer_and_compensates(open_dispute, buyer, delivered_order):
    due = open_dispute.decision_due_at
    assert sweep_decision_deadline(now=due - SECOND) == 0
    assert sweep_decision_deadline(now=due) == 1
    assert sweep_decision_deadline(now=due + SECOND) == 0
    open_dispute.refresh_from_db()
    assert open_dispute.resolution == Resolution.REFUND and open_dispute.refunded_amount == 1999
    assert open_dispute.compensation_amount == 199  # 10 % of 1999, rounded down
    assert account_balance(f"buyer:{buyer.pk}:credit:CNY") == 199
    assert account_balance("platform:compensation:CNY") == -199
    delivered_order.refresh_from_db()
    assert delivered_order.status == OrderStatus.REFUNDED
    ledger_verify()


def test_a_delivered_remedy_unanswered_closes_as_resolved(open_dispute, merchant_owner, merchant):
    dispute = dispute_offer(dispute=open_dispute, actor=merchant_owner, kind="replacement")
    due = dispute.remedy_objection_due_at
    # the decision deadline does not refund a dispute whose remedy waits for the buyer
    assert sweep_decision_deadline(now=dispute.decision_due_at + SECOND) == 0
    assert sweep_remedy_objection(now=due - SECOND) == 0
    assert sweep_remedy_objection(now=due) == 1
    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.RESOLVED and dispute.resolution == Resolution.REPLACEMENT
    assert account_balance(f"merchant:{merchant.pk}:available:CNY") == 1900


def test_a_quiet_buyer_does_not_close_an_unremedied_dispute(open_dispute, merchant_owner):
    dispute_post_message(dispute=open_dispute, actor=merchant_owner, message="Works for me")
    report = sweep_dispute_deadlines(now=open_dispute.opened_at + timedelta(hours=71))
    assert report == {
        "escalated": 0,
        "raised_to_senior": 0,
        "refunded_by_deadline": 0,
        "closed_after_remedy": 0,
    }
    open_dispute.refresh_from_db()
    assert open_dispute.status == DisputeStatus.AWAITING_BUYER


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_and_a_buyer_escalation_racing_give_one_outcome(django_capture_on_commit_callbacks):
    product = ProductFactory(merchant=MerchantFactory())
    stock(product, 30)
    disputes = []
    for _ in range(30):
        buyer = UserFactory()
        order = order_create(buyer=buyer, product_id=product.pk, quantity=1)
        simulated_gateway_pay(reference=order.payment.reference, outcome="succeeded", drop_webhook=False)
        disputes.append(dispute_open(order_id=order.pk, buyer=buyer, reason="not_received", message="?"))
    later = max(d.decision_due_at for d in disputes) + SECOND
    barrier = threading.Barrier(3)
    results: list = []

    def sweep() -> None:
        try:
            barrier.wait()
            results.append(sweep_decision_deadline(now=later))
        except Exception as exc:  # a sweep that trips over another's work is a failure
            results.append(exc)
        finally:
            connection.close()

    def buyer_acts() -> None:
        try:
            barrier.wait()
            first = Dispute.objects.select_related("buyer").get(pk=disputes[0].pk)
            results.append(dispute_post_message(dispute=first, actor=first.buyer, message="still nothing"))
        except Exception as exc:  # the dispute may already be resolved: a clear refusal is fine
            results.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=sweep),
        threading.Thread(target=sweep),
        threading.Thread(target=buyer_acts),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    swept = [r for r in results if isinstance(r, int)]
    assert len(swept) == 2, results  # both sweeps finished cleanly
    # A row the buyer held locked was skipped, not waited for: the next sweep takes it.
    later_sweep = sweep_decision_deadline(now=later)
    assert sum(swept) + later_sweep == 30
    assert Dispute.objects.filter(status=DisputeStatus.RESOLVED, resolution=Resolution.REFUND).count() == 30
    assert DisputeEvent.objects.filter(kind=EventKind.RESOLVED).count() == 30
    assert account_balance("provider:simulated:CNY") == -DEPOSIT
    assert account_balance("platform:compensation:CNY") == -30 * 199
    ledger_verify()
