"""Request ids: kept when sane, made when not, on every log line of the request and of the tasks it
enqueues (in a real worker process); JSON lines; no credentials or codes in any line."""

import logging
import os
import re
import subprocess
import sys
from datetime import datetime

import pytest
from django.urls import reverse

from accounts.services import api_token_create
from kabao.celery import app as celery_app
from kabao.observability.logs import REDACTED
from marketplace.models import Order, OrderStatus
from marketplace.services.orders import order_create
from tests.factories import MerchantFactory, ProductFactory, UserFactory, stock
from tests.operations.conftest import ROOT, closed_port, wait_for

GENERATED = re.compile(r"[0-9a-f]{32}")


def _summary(lines: list[dict]) -> list[tuple[str, str, str, str]]:
    return [(line["logger"], line["level"], line["message"], line["request_id"]) for line in lines]


@pytest.mark.django_db
def test_every_line_of_a_request_carries_its_sane_id(client, monkeypatch, log_lines):
    # The broker is down, so the view itself logs a warning and Django logs the 503.
    monkeypatch.setattr(celery_app.conf, "broker_url", f"redis://127.0.0.1:{closed_port()}/0")

    response = client.get("/healthz", HTTP_X_REQUEST_ID="edge-7f3a.42:a_b")

    assert response.status_code == 503
    assert response["X-Request-ID"] == "edge-7f3a.42:a_b"
    lines = log_lines()
    assert _summary(lines) == [
        ("kabao.health", "WARNING", "healthz: broker unreachable (OperationalError)", "edge-7f3a.42:a_b"),
        ("kabao.request", "INFO", "GET healthz 503", "edge-7f3a.42:a_b"),
        # Written by Django after the middleware has returned: the id is still set.
        ("django.request", "ERROR", "Service Unavailable: /healthz", "edge-7f3a.42:a_b"),
    ]
    access = lines[1]
    assert set(access) == {
        "time",
        "level",
        "logger",
        "message",
        "request_id",
        "method",
        "route",
        "status",
        "duration_ms",
    }
    assert (access["method"], access["route"], access["status"]) == ("GET", "healthz", 503)
    assert datetime.fromisoformat(access["time"]).utcoffset().total_seconds() == 0
    assert lines[2]["status_code"] == 503  # Django's extra field; its `request` object is left out
    assert "request" not in lines[2]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "offered",
    ["has space", "x" * 65, "new\nline", '"},{"level":"forged', "<script>", "引号", ""],
)
def test_an_unsafe_id_is_replaced_by_one_of_ours(client, log_lines, offered):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=offered)

    used = response["X-Request-ID"]
    assert GENERATED.fullmatch(used)
    assert [line["request_id"] for line in log_lines()] == [used]
    assert offered not in str(log_lines()) or offered == ""


@pytest.mark.django_db
def test_without_an_id_each_request_gets_its_own(client, log_lines):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]

    assert GENERATED.fullmatch(first) and GENERATED.fullmatch(second) and first != second
    assert [line["request_id"] for line in log_lines()] == [first, second]


@pytest.mark.django_db
def test_credentials_never_reach_a_log_line(client, log_lines):
    buyer = UserFactory()
    _token, key = api_token_create(user=buyer)
    client.force_login(buyer)
    session_id = client.cookies["sessionid"].value
    before = len(log_lines())  # the login's own line, outside any request

    refused = client.get("/api/v1/orders/", HTTP_AUTHORIZATION="Token wrong-token-0123456789abcdef")
    allowed = client.get("/api/v1/orders/", HTTP_AUTHORIZATION=f"Token {key}")
    logging.getLogger("kabao.test").info(
        "a careless call",
        extra={
            "authorization": f"Token {key}",
            "session_key": session_id,
            "order_id": 7,
            "request": object(),
        },
    )

    assert (refused.status_code, allowed.status_code) == (401, 200)
    lines = log_lines()[before:]
    assert _summary(lines)[:3] == [
        ("kabao.request", "INFO", "GET api/v1/orders/ 401", refused["X-Request-ID"]),
        ("django.request", "WARNING", "Unauthorized: /api/v1/orders/", refused["X-Request-ID"]),
        ("kabao.request", "INFO", "GET api/v1/orders/ 200", allowed["X-Request-ID"]),
    ]
    careless = lines[3]
    assert careless["request_id"] == "-"  # logged after the requests: no id left behind
    assert (careless["authorization"], careless["session_key"], careless["order_id"]) == (
        REDACTED,
        REDACTED,
        7,
    )
    assert "request" not in careless
    text = str(log_lines())
    assert key not in text and "wrong-token-0123456789abcdef" not in text and session_id not in text


def test_log_format_is_json_in_production_plain_on_the_embedded_run_and_checked():
    script = (
        "import importlib, os\n"
        "from django.core.exceptions import ImproperlyConfigured\n"
        "import kabao.settings as s\n"
        "for debug, fmt in (('0', ''), ('1', ''), ('0', 'plain'), ('1', 'json'), ('0', 'xml')):\n"
        "    os.environ['DEBUG'] = debug\n"
        "    os.environ['LOG_FORMAT'] = fmt\n"
        "    if not fmt: del os.environ['LOG_FORMAT']\n"
        "    try:\n"
        "        print(importlib.reload(s).LOGGING['handlers']['console']['formatter'])\n"
        "    except ImproperlyConfigured as exc:\n"
        "        print(exc)\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "LOG_FORMAT"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )

    assert result.stdout.splitlines() == [
        "json",
        "plain",
        "plain",
        "json",
        "LOG_FORMAT must be 'json' or 'plain'",
    ]


def test_a_tasks_lines_carry_the_id_of_the_request_that_enqueued_it(worker_process, client, log_lines):
    product = ProductFactory(merchant=MerchantFactory(), price=2500)
    codes = stock(product, 2)
    order = order_create(buyer=UserFactory(), product_id=product.pk, quantity=1)
    pay_url = reverse("simulated-gateway", kwargs={"reference": order.payment.reference})

    response = client.post(
        pay_url, {"outcome": "succeeded"}, content_type="application/json", HTTP_X_REQUEST_ID="checkout-41"
    )

    assert response.status_code == 200
    wait_for(lambda: Order.objects.get(pk=order.pk).status == OrderStatus.DELIVERED, "the delivery")
    chain = {
        "marketplace.tasks.deliver_simulated_webhook_task",
        "marketplace.tasks.process_webhook_event_task",
        "marketplace.tasks.deliver_order_task",
    }

    def succeeded_with_the_id() -> set[str]:
        return {
            line["message"].split("[", 1)[0].removeprefix("Task ")
            for line in worker_process()
            if line["logger"] == "celery.app.trace"
            and " succeeded in " in line["message"]
            and line["request_id"] == "checkout-41"
        }

    # The first task was published by the request; the two after it by tasks, which pass the id on.
    wait_for(lambda: succeeded_with_the_id() == chain, "the three tasks' lines")
    worker_lines = worker_process()
    postings = [line for line in worker_lines if line["logger"] == "escrow.services"]
    assert [line["request_id"] for line in postings] == ["checkout-41"]
    assert postings[0]["message"].startswith("posting ")
    # Lines outside any task (start-up, "received") carry no id; none carries another request's.
    assert {line["request_id"] for line in worker_lines} == {"-", "checkout-41"}
    web_lines = log_lines()
    assert [line for line in _summary(web_lines) if line[3] != "-"] == [
        ("kabao.request", "INFO", "POST pay/simulated/<str:reference>/ 200", "checkout-41")
    ]
    every_line = str(worker_lines) + str(web_lines)
    for code in codes:
        assert code not in every_line
    assert order.payment.reference not in str(web_lines)
    assert "test-webhook-secret" not in every_line
