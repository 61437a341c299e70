"""Orders' and disputes' timelines are append-only and hash-chained, each per order or dispute.

PostgreSQL refuses UPDATE and DELETE on both tables; behind the triggers' back (a DBA's
`session_replication_role = replica`) a rewritten or deleted event is named by `verify_history`,
timeline by timeline; writers racing on one timeline never fork it (an advisory lock per timeline).
"""

import io
from itertools import pairwise

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction

from disputes.models import DisputeEvent
from disputes.services.lifecycle import dispute_open, dispute_post_message
from kabao.chains import GENESIS_HASH, link_hash
from marketplace.models import Order, OrderEvent, OrderStatus
from marketplace.services.orders import order_create
from marketplace.services.transitions import order_record
from tests.factories import MerchantFactory, ProductFactory, UserFactory, owner_of, stock
from tests.reliability.threads import run_at_once


@pytest.fixture
def delivered_order(pay):
    """Makes delivered orders: paid at the simulated gateway, webhook, capture and delivery run."""

    def make() -> Order:
        product = ProductFactory(merchant=MerchantFactory(), price=1000)
        stock(product, 2)
        order = pay(order_create(buyer=UserFactory(), product_id=product.pk, quantity=1))
        assert order.status == OrderStatus.DELIVERED
        return order

    return make


def _history_broken() -> str:
    with pytest.raises(CommandError) as failure:
        call_command("verify_history", stdout=io.StringIO())
    return str(failure.value)


def _history_ok() -> str:
    out = io.StringIO()
    call_command("verify_history", stdout=out)
    return out.getvalue()


def _as_dba(sql: str, params: list) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)
        cursor.execute("SET LOCAL session_replication_role = origin")


def _linked(events: list) -> None:
    assert events[0].prev_hash == GENESIS_HASH
    for before, after in pairwise(events):
        assert after.prev_hash == before.hash


@pytest.mark.django_db(transaction=True)
def test_an_order_and_its_dispute_are_chained_and_their_rows_cannot_change(delivered_order):
    order = delivered_order()
    dispute = dispute_open(
        order_id=order.pk, buyer=order.buyer, reason="invalid_code", message="Already used"
    )
    dispute_post_message(dispute=dispute, actor=owner_of(order.merchant), message="Sending another")
    order_events = list(OrderEvent.objects.filter(order=order).order_by("id"))
    dispute_events = list(DisputeEvent.objects.filter(dispute=dispute).order_by("id"))
    assert [e.event for e in order_events] == ["created", "paid", "delivered", "disputed"]
    assert len(dispute_events) == 2
    _linked(order_events)
    _linked(dispute_events)
    assert "history ok" in _history_ok()

    for event in (order_events[1], dispute_events[0]):
        table = event._meta.db_table
        for sql in (f"UPDATE {table} SET at = at WHERE id = %s", f"DELETE FROM {table} WHERE id = %s"):
            with (
                pytest.raises(IntegrityError, match="append-only"),
                transaction.atomic(),
                connection.cursor() as cursor,
            ):
                cursor.execute(sql, [event.pk])
    assert OrderEvent.objects.filter(order=order).count() == 4


@pytest.mark.django_db
def test_an_edited_order_event_is_named_and_other_timelines_stay_clean(delivered_order):
    first, second = delivered_order(), delivered_order()
    paid = OrderEvent.objects.get(order=second, event="paid")
    _as_dba("UPDATE marketplace_orderevent SET note = 'paid in cash' WHERE id = %s", [paid.pk])
    message = _history_broken()
    assert f"order {second.pk}'s timeline: event {paid.pk} was altered" in message
    assert f"order {first.pk}'s" not in message


@pytest.mark.django_db
def test_a_deleted_dispute_event_is_named_by_the_event_after_it(delivered_order):
    order = delivered_order()
    dispute = dispute_open(
        order_id=order.pk, buyer=order.buyer, reason="invalid_code", message="Already used"
    )
    merchant = owner_of(order.merchant)
    for number in range(3):
        dispute_post_message(dispute=dispute, actor=merchant, message=f"reply {number}")
    events = list(DisputeEvent.objects.filter(dispute=dispute).order_by("id"))
    assert len(events) == 4
    _as_dba("DELETE FROM disputes_disputeevent WHERE id = %s", [events[2].pk])
    message = _history_broken()
    assert (
        f"dispute {dispute.pk}'s timeline: event {events[3].pk} does not link to event {events[1].pk}"
        in message
    )


@pytest.mark.django_db
def test_a_rewritten_event_whose_hash_was_recomputed_breaks_the_next_link(delivered_order):
    order = delivered_order()
    _created, paid, delivered = OrderEvent.objects.filter(order=order).order_by("id")
    # The DBA rewrites the note and the hash of "paid" consistently (the hash function is public):
    # the row matches itself, but "delivered" still links to the old hash.
    paid.note = "rewritten"
    forged = link_hash(paid.prev_hash, paid.chain_content())
    _as_dba(
        "UPDATE marketplace_orderevent SET note = 'rewritten', hash = %s WHERE id = %s", [forged, paid.pk]
    )
    message = _history_broken()
    assert f"event {delivered.pk} does not link to event {paid.pk}" in message


@pytest.mark.django_db(transaction=True)
def test_twenty_writers_on_one_timeline_never_fork_it(delivered_order):
    order = delivered_order()

    def write(index: int) -> None:
        with transaction.atomic():
            order_record(order=Order.objects.get(pk=order.pk), event=f"note_{index}")

    results = run_at_once(20, write, connections=20)
    assert [r for r in results if isinstance(r, Exception)] == []
    events = list(OrderEvent.objects.filter(order=order).order_by("id"))
    assert len(events) == 23
    _linked(events)
    assert len({event.prev_hash for event in events}) == 23  # no two events claim the same predecessor
    assert "history ok" in _history_ok()
