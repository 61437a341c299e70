"""A dispute nobody answers ends by itself: a real Celery worker and a real beat, as processes,
on short timers set through the environment, against the test database and Redis."""

import os
import signal
import subprocess
import time

import pytest

from disputes.models import Dispute, DisputeLevel, DisputeStatus, Resolution
from disputes.services.lifecycle import dispute_open
from escrow.selectors import account_balance
from escrow.verify import ledger_verify
from kabao.celery import app
from marketplace.services.orders import order_create
from marketplace.services.payments import simulated_gateway_pay
from tests.factories import MerchantFactory, ProductFactory, UserFactory, stock
from tests.processes import CELERY, ROOT, database_url

DEPOSIT = 100_000  # the factory shop's security deposit, paid in through the provider
SHORT_TIMERS = {
    "KABAO_DISPUTE_MERCHANT_RESPONSE_SECONDS": "3",
    "KABAO_DISPUTE_PLATFORM_FEEDBACK_SECONDS": "3",
    "KABAO_DISPUTE_DECISION_SECONDS": "10",
    "KABAO_SWEEP_INTERVAL_SECONDS": "1",
}


@pytest.fixture
def worker_and_beat(transactional_db, settings, tmp_path):
    for name, value in SHORT_TIMERS.items():
        setattr(settings, name, int(value))
    env = {
        **os.environ,
        **SHORT_TIMERS,
        "DJANGO_SETTINGS_MODULE": "kabao.settings_test",
        "DATABASE_URL": database_url(),
        "CELERY_TASK_ALWAYS_EAGER": "0",
    }
    with app.connection_for_write() as broker:
        broker.default_channel.queue_purge("celery")
    processes = [
        subprocess.Popen(
            [*CELERY, "worker", "--pool=solo", "--loglevel=WARNING"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "worker.log").open("w"),
        ),
        subprocess.Popen(
            [*CELERY, "beat", "--loglevel=WARNING", "--schedule", str(tmp_path / "beat-schedule")],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "beat.log").open("w"),
        ),
    ]
    try:
        yield
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait(dispute_id: int, predicate, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate(Dispute.objects.get(pk=dispute_id)):
            return time.monotonic()
        time.sleep(0.1)
    raise AssertionError("the timers did not act in time")


def test_an_unanswered_dispute_escalates_and_refunds_by_itself(worker_and_beat, capsys):
    product = ProductFactory(merchant=MerchantFactory())
    stock(product, 1)
    buyer = UserFactory()
    order = order_create(buyer=buyer, product_id=product.pk, quantity=1)
    simulated_gateway_pay(reference=order.payment.reference, outcome="succeeded", drop_webhook=False)
    dispute = dispute_open(order_id=order.pk, buyer=buyer, reason="not_received", message="Nothing came")
    opened = time.monotonic()

    escalated = _wait(dispute.pk, lambda d: d.level == DisputeLevel.PLATFORM, timeout=30)
    senior = _wait(dispute.pk, lambda d: d.level == DisputeLevel.SENIOR, timeout=30)
    refunded = _wait(dispute.pk, lambda d: d.status == DisputeStatus.RESOLVED, timeout=40)

    dispute.refresh_from_db()
    assert dispute.resolution == Resolution.REFUND and dispute.refunded_amount == order.amount
    assert dispute.compensation_amount == order.amount // 10
    assert account_balance("provider:simulated:CNY") == -DEPOSIT
    assert account_balance(f"buyer:{buyer.pk}:credit:CNY") == order.amount // 10
    ledger_verify()
    # Deadlines 3 s, +3 s, 10 s after opening; beat sweeps every second. Never early; the upper
    # bounds leave room for a loaded CI machine (the printed figures are the measurement).
    assert 3 <= escalated - opened < 15
    assert 6 <= senior - opened < 20
    assert 10 <= refunded - opened < 25
    with capsys.disabled():
        print(
            f"\n  dispute timers observed: escalated {escalated - opened:.1f} s (deadline 3), "
            f"senior {senior - opened:.1f} s (6), refunded {refunded - opened:.1f} s (10)"
        )
