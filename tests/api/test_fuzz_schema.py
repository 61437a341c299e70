"""Schemathesis against the schema the app publishes: every operation, as four callers.

Each generated request is sent four times (anonymous, a buyer, the shop's owner, staff) to the WSGI
app in this process, on the test database, with path ids that half the time name real objects (a
listed shop with stock, a disputed, a completed and an unpaid order, a payout, a deposit payment,
an attachment).
Each call runs in a savepoint that is rolled back, so every request meets the same world and a
failure replays exactly. The checks: no 5xx, the status documented, the body, content type and
headers as the schema says for that status, and input the schema refuses refused.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field

import hypothesis
import pytest
import schemathesis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck
from hypothesis import strategies as st
from rest_framework.test import APIClient
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.services import api_token_create
from disputes.services.lifecycle import dispute_open
from kabao.wsgi import application
from marketplace.models import Payment
from marketplace.services.orders import order_confirm, order_create
from merchants.services.payouts import payout_request
from tests.api.helpers import assert_error, database_state
from tests.factories import MerchantFactory, ProductFactory, StaffFactory, UserFactory, owner_of, stock

ROLES = ("anonymous", "buyer", "merchant", "staff")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    # A body or parameter the schema refuses is refused (4xx) and not acted on.
    negative_data_rejection,
]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@dataclass
class World:
    """Ids of real objects (by path parameter name) and each role's token."""

    ids: dict[str, list[int]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)


WORLD = World()
SENT: dict[str, int] = {}  # requests sent per operation, for the figures in docs/reliability.md


@pytest.fixture(scope="module", autouse=True)
def report_figures():
    yield
    print(f"\nschemathesis: {len(SENT)} operations, {sum(SENT.values())} requests")


# The document the app serves at /api/schema/, fetched as a client would (no database needed).
# Examples and fuzzing (valid and invalid input) only: the coverage phase's boundary cases of every
# field more than doubled the requests in a trial (8,448 against 3,520 at 20 examples), past the
# suite's budget; what it found is fixed and pinned by the tests below.
schema = schemathesis.openapi.from_wsgi(
    "/api/schema/?format=json",
    application,
    config=schemathesis.Config.from_dict({"phases": {"coverage": {"enabled": False}}}),
)


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """Half of the requests name a real object; the rest keep the generated (mostly unknown) ids."""
    if not path_parameters:  # an operation without path parameters
        return st.just(path_parameters)
    real = {name: st.sampled_from(WORLD.ids[name]) for name in path_parameters if name in WORLD.ids}
    if not real or not all(isinstance(value, int) for value in path_parameters.values()):
        return st.just(path_parameters)
    return st.one_of(st.just(path_parameters), st.fixed_dictionaries({**path_parameters, **real}))


@pytest.fixture
def world(db, pay, django_capture_on_commit_callbacks) -> Iterator[World]:
    staff = StaffFactory()
    merchant = MerchantFactory()
    owner = owner_of(merchant)
    product = ProductFactory(merchant=merchant)
    stock(product, 6)
    buyer = UserFactory()
    disputed = pay(order_create(buyer=buyer, product_id=product.pk, quantity=1))
    completed = pay(order_create(buyer=buyer, product_id=product.pk, quantity=1))
    order_confirm(order=completed, actor=buyer)
    pending = order_create(buyer=buyer, product_id=product.pk, quantity=1)
    with django_capture_on_commit_callbacks(execute=True):
        dispute = dispute_open(
            order_id=disputed.pk,
            buyer=buyer,
            reason="invalid_code",
            message="Already used",
            attachments=[SimpleUploadedFile("proof.png", PNG, content_type="image/png")],
        )
    payout = payout_request(merchant=merchant, actor=owner, amount=100)
    deposit_payment = Payment.objects.filter(merchant_id=merchant.pk).order_by("pk").first()
    WORLD.ids = {
        "merchant_id": [merchant.pk],
        "product_id": [product.pk],
        "order_id": [disputed.pk, completed.pk, pending.pk],
        "dispute_id": [dispute.pk],
        "attachment_id": list(
            dispute.events.values_list("attachments__id", flat=True).exclude(attachments=None)
        ),
        "payout_id": [payout.pk],
        "payment_id": [deposit_payment.pk],
    }
    WORLD.tokens = {
        role: api_token_create(user=user)[1]
        for role, user in (("buyer", buyer), ("merchant", owner), ("staff", staff))
    }
    # The app runs in this thread, inside the test's transaction: as Django's test client does,
    # keep the request signals from closing that connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield WORLD
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
    WORLD.ids, WORLD.tokens = {}, {}


def rolled_back() -> transaction.Atomic:
    """A savepoint undone after the call. Marked as the test case's own block, so a service's
    `atomic(durable=True)` inside still runs as the outermost transaction it is in production."""
    block = transaction.atomic()
    block._from_testcase = True
    return block


@schema.parametrize()
@hypothesis.settings(
    max_examples=15,
    derandomize=True,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_every_operation_answers_as_its_schema_says(case, world):
    SENT[case.operation.label] = SENT.get(case.operation.label, 0) + len(ROLES)
    for role in ROLES:
        headers = {"Authorization": f"Token {world.tokens[role]}"} if role in world.tokens else {}
        with rolled_back():
            case.call_and_validate(headers=headers, checks=CHECKS)
            transaction.set_rollback(True)


@pytest.mark.parametrize(
    ("role", "path", "body", "field"),
    [
        ("buyer", "/api/v1/merchants/", {"shop_name": 0}, "shop_name"),
        ("merchant", "/api/v1/merchant/products/", {"title": 12, "price": 100}, "title"),
        ("buyer", "/api/v1/orders/{order}/disputes/", {"reason": "other", "message": 1.5}, "message"),
    ],
)
def test_a_number_where_the_schema_says_string_is_refused_and_changes_nothing(world, role, path, body, field):
    """Fuzzing at the suite's budget seldom sends a number for a text field (the coverage phase did,
    and DRF's CharField took 0 as "0"); these three calls pin StrictCharField."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[role]}")
    before = database_state()

    response = client.post(path.format(order=world.ids["order_id"][1]), body, format="json")

    assert_error(response, 400, "invalid", "The request is not valid.", {field: ["Not a valid string."]})
    assert database_state() == before


def test_a_text_over_its_maximum_is_refused_even_when_trimming_would_shorten_it(world):
    """Found by the coverage phase: DRF trimmed, then counted, so U+001E and 500 characters passed
    a 500-character reason (the schema counts the string as sent)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens['staff']}")
    before = database_state()

    response = client.post(
        f"/api/v1/admin/payouts/{world.ids['payout_id'][0]}/reject/",
        {"reason": "\x1e" + "*" * 500},
        format="json",
    )

    assert_error(
        response,
        400,
        "invalid",
        "The request is not valid.",
        {"reason": ["Ensure this field has no more than 500 characters."]},
    )
    assert database_state() == before
