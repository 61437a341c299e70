"""GET /metrics: readable only by staff or the scraper's token; request metrics from django-prometheus;
business figures read from the database at scrape time; task failures counted by worker processes."""

from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from disputes.models import Dispute
from disputes.services.lifecycle import dispute_escalate, dispute_open, dispute_post_message, dispute_resolve
from disputes.services.remedies import dispute_offer
from disputes.services.transitions import next_deadline
from kabao.metrics import TASK_FAILURES_KEY, sla_breached_filter, task_failure_record, task_failures
from marketplace.services.orders import order_confirm, order_create
from marketplace.tasks import process_webhook_event_task
from tests.factories import MerchantFactory, ProductFactory, StaffFactory, UserFactory, owner_of, stock
from tests.operations.conftest import wait_for

TOKEN = "scrape-token-5f1c9a"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def metrics_token(settings):
    settings.KABAO_METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(client) -> Samples:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def of(samples: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: value for (sample, labels), value in samples.items() if sample == name}


# --- who may read ---------------------------------------------------------------------------------
@pytest.mark.django_db
def test_anyone_without_staff_or_the_token_sees_nothing_there(client, metrics_token):
    assert client.get("/metrics").status_code == 404
    client.force_login(UserFactory())
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Token not-a-bearer").status_code == 404


@pytest.mark.django_db
def test_a_wrong_or_empty_bearer_token_is_403(client, metrics_token, settings):
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token-5f1c9b").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403
    settings.KABAO_METRICS_TOKEN = ""  # no token configured: no bearer is ever right, not even an empty one
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer").status_code == 403


@pytest.mark.django_db
def test_staff_and_the_token_read_prometheus_text(client, metrics_token):
    by_token = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    client.force_login(StaffFactory())
    by_staff = client.get("/metrics")

    assert (by_token.status_code, by_staff.status_code) == (200, 200)
    assert by_token["Content-Type"] == "text/plain; version=1.0.0; charset=utf-8"
    assert b"# TYPE kabao_orders gauge" in by_staff.content
    assert client.post("/metrics").status_code == 405


@pytest.mark.django_db
def test_each_request_is_counted_by_view(client, metrics_token):
    name = "django_http_requests_total_by_view_transport_method_total"
    labels = (("method", "GET"), ("transport", "http"), ("view", "healthz"))
    before = of(scrape(client), name).get(labels, 0.0)

    client.get("/healthz")
    client.get("/healthz")

    assert of(scrape(client), name)[labels] == before + 2


# --- business figures -----------------------------------------------------------------------------
@pytest.fixture
def shop(db, pay):
    """One shop at 20.00 a code, a buyer, and `sold()` for a delivered order of one code."""
    merchant = MerchantFactory()
    product = ProductFactory(merchant=merchant, price=2000)
    stock(product, 10)
    buyer = UserFactory()

    def sold():
        return pay(order_create(buyer=buyer, product_id=product.pk, quantity=1))

    return {"merchant": owner_of(merchant), "product": product, "buyer": buyer, "sold": sold}


@pytest.fixture
def known_data(shop, settings, django_capture_on_commit_callbacks):
    """Eight orders and five disputes, each state built by the services as users would build it."""
    buyer, owner, sold = shop["buyer"], shop["merchant"], shop["sold"]

    def open_dispute(order):
        with django_capture_on_commit_callbacks(execute=True):
            return dispute_open(order_id=order.pk, buyer=buyer, reason="invalid_code", message="used")

    order_create(buyer=buyer, product_id=shop["product"].pk, quantity=1)  # pending_payment
    sold()  # delivered, 2000 held
    order_confirm(order=sold(), actor=buyer)  # completed, hold released
    open_dispute(sold())  # disputed at merchant level, hold frozen (still held)
    settings.KABAO_DISPUTE_MERCHANT_RESPONSE_SECONDS = 0
    breached = open_dispute(sold())  # the merchant's deadline is already past: an SLA breach
    settings.KABAO_DISPUTE_MERCHANT_RESPONSE_SECONDS = 43200
    escalated = open_dispute(sold())
    dispute_post_message(dispute=escalated, actor=owner, message="It worked when we sold it.")
    dispute_escalate(dispute=escalated, actor=buyer)  # platform level
    remedied = open_dispute(sold())
    with django_capture_on_commit_callbacks(execute=True):
        dispute_offer(dispute=remedied, actor=owner, kind="replacement")  # awaiting the buyer's objection
    refunded = open_dispute(sold())
    dispute_resolve(dispute=refunded, actor=StaffFactory(), outcome="refund", note="refund")  # resolved
    remedied.refresh_from_db()
    return {"breached": breached, "remedied": remedied}


def test_business_figures_are_exact(client, known_data, metrics_token):
    samples = scrape(client)

    assert of(samples, "kabao_orders") == {
        (("status", "pending_payment"),): 1,
        (("status", "paid"),): 0,
        (("status", "delivered"),): 1,
        (("status", "completed"),): 1,
        (("status", "disputed"),): 4,
        (("status", "refunded"),): 1,
        (("status", "partially_refunded"),): 0,
        (("status", "cancelled"),): 0,
    }
    # Held: the delivered order and the four disputed ones, 20.00 each, in fen.
    assert of(samples, "kabao_escrow_held_minor_units") == {(("currency", "CNY"),): 5 * 2000}
    assert of(samples, "kabao_disputes_open") == {
        (("level", "merchant"),): 3,
        (("level", "platform"),): 1,
        (("level", "senior"),): 0,
    }
    assert of(samples, "kabao_disputes_sla_breached") == {(): 1}


def test_the_breach_query_agrees_with_each_disputes_current_deadline(known_data):
    """The SQL filter and the countdowns' `next_deadline` name the same disputes at every moment that
    matters: now, past the merchant's 12 h, the platform's 24 h, the decision's 72 h, the remedy's."""
    disputes = list(Dispute.objects.all())
    now = timezone.now()
    remedied = known_data["remedied"]
    # Its decision deadline (72 h from opening) has passed, its remedy window (72 h from the offer,
    # made a moment after opening) has not: the remedy's is the deadline that counts.
    just_before_the_remedy_is_due = remedied.remedy_objection_due_at - timedelta(microseconds=1)
    assert remedied.decision_due_at < just_before_the_remedy_is_due
    moments = [now, now + timedelta(hours=13), now + timedelta(hours=25)]
    moments += [just_before_the_remedy_is_due, now + timedelta(hours=73)]
    breached_by_moment = []
    for moment in moments:
        by_query = set(Dispute.objects.filter(sla_breached_filter(moment)).values_list("pk", flat=True))
        by_deadline = {d.pk for d in disputes if (deadline := next_deadline(d)) and deadline[1] <= moment}
        assert by_query == by_deadline, moment
        breached_by_moment.append(len(by_query))
    # 1 breached now; 2 once the merchant's 12 h pass; 3 after the platform's 24 h; the decision's
    # 72 h catch all but the remedy, then its own window ends too.
    assert breached_by_moment == [1, 2, 3, 3, 4]
    assert known_data["breached"].pk in by_query


# --- task failures, counted by a separate worker process ------------------------------------------
def test_a_task_that_fails_in_the_worker_is_counted_on_the_scrape(worker_process, client, metrics_token):
    store = redis.Redis.from_url(settings.REDIS_URL)
    store.delete(TASK_FAILURES_KEY)
    name = "kabao_celery_task_failures_total"
    labels = (("task", "marketplace.tasks.process_webhook_event_task"),)
    assert of(scrape(client), name) == {}

    process_webhook_event_task.delay(2**62)  # no such event: fails for good, no retry
    process_webhook_event_task.delay(2**62 - 1)

    wait_for(lambda: of(scrape(client), name) == {labels: 2}, "two failures on /metrics")
    failures = [line for line in worker_process() if line["level"] == "ERROR"]
    assert len(failures) == 2
    assert all("DoesNotExist" in line["message"] for line in failures)


def test_without_redis_the_embedded_run_counts_failures_in_a_locked_file(settings, tmp_path):
    settings.REDIS_URL = ""
    settings.VAR_DIR = tmp_path
    assert task_failures() == {}

    task_failure_record(task_name="marketplace.tasks.deliver_order_task")
    task_failure_record(task_name="marketplace.tasks.deliver_order_task")
    task_failure_record(task_name="disputes.tasks.sweep_dispute_deadlines_task")

    assert task_failures() == {
        "marketplace.tasks.deliver_order_task": 2,
        "disputes.tasks.sweep_dispute_deadlines_task": 1,
    }
    assert (tmp_path / "task-failures.json").exists()
