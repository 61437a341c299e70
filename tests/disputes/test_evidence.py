"""The buyer's evidence file: what it holds, who may download it, and verify_evidence catching edits."""

import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from disputes.evidence import order_evidence_file
from disputes.management.commands.verify_evidence import _file_hash
from escrow.models import Posting
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_the_file_holds_events_payment_and_every_posting_of_the_order_and_its_dispute(open_dispute):
    order = open_dispute.order
    evidence = order_evidence_file(order)
    references = {order.hold_reference, order.payment.reference, f"dispute:{open_dispute.pk}"}
    expected = list(Posting.objects.filter(reference__in=references).order_by("pk"))
    assert [p["id"] for p in evidence["postings"]] == [p.pk for p in expected]
    assert [p["kind"] for p in evidence["postings"]] == ["hold_place"]
    assert [(p["prev_hash"], p["hash"]) for p in evidence["postings"]] == [
        (p.prev_hash, p.hash) for p in expected
    ]
    assert [e["event"] for e in evidence["order"]["events"]] == ["created", "paid", "delivered", "disputed"]
    assert evidence["payment"]["reference"] == order.payment.reference
    assert evidence["disputes"][0]["id"] == open_dispute.pk
    assert evidence["disputes"][0]["events"][0]["message"] == "Already used"
    json.dumps(evidence)  # the file is plain JSON


def test_the_buyer_downloads_it_and_a_stranger_cannot(buyer, delivered_order):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(buyer)
    response = client.get(f"/orders/{delivered_order.pk}/evidence.json")
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="kabao-order-{delivered_order.pk}-evidence.json"'
    )
    assert json.loads(response.content)["order"]["id"] == delivered_order.pk
    assert "verify_evidence" in client.get(f"/orders/{delivered_order.pk}/evidence/").text
    stranger = Client()
    stranger.force_login(UserFactory())
    assert stranger.get(f"/orders/{delivered_order.pk}/evidence.json").status_code == 404
    assert stranger.get(f"/orders/{delivered_order.pk}/evidence/").status_code == 404


def test_verify_evidence_accepts_the_file_and_names_every_edit(open_dispute, tmp_path, capsys):
    evidence = order_evidence_file(open_dispute.order)
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(evidence))
    call_command("verify_evidence", str(path))
    assert capsys.readouterr().out == (
        "evidence intact: 1 postings and 5 timeline events match their hashes and Kabao's records\n"
    )

    posting = evidence["postings"][0]
    posting["entries"][0]["amount"] += 100  # the amount edited, the hash left
    path.write_text(json.dumps(evidence))
    with pytest.raises(CommandError, match="does not match its hash"):
        call_command("verify_evidence", str(path))

    posting["hash"] = _file_hash(posting)  # a forger recomputes the hash: the ledger disagrees
    path.write_text(json.dumps(evidence))
    with pytest.raises(CommandError, match="its hashes differ from the ledger's"):
        call_command("verify_evidence", str(path))

    path.write_text("not json")
    with pytest.raises(CommandError, match="cannot read"):
        call_command("verify_evidence", str(path))


def test_the_order_page_polls_only_while_it_waits(buyer, delivered_order):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(buyer)
    page = client.get(f"/orders/{delivered_order.pk}/").text
    assert "data-poll=" not in page and f'href="/orders/{delivered_order.pk}/evidence.json"' in page
    live = client.get(f"/orders/{delivered_order.pk}/?live=1").text
    assert live.startswith('<div id="order-live">') and "<html" not in live


def test_verify_evidence_names_an_edited_event_in_the_file_and_in_kabaos_records(open_dispute, tmp_path):
    evidence = order_evidence_file(open_dispute.order)
    path = tmp_path / "evidence.json"
    paid = evidence["order"]["events"][1]
    paid["note"] = "paid in cash"  # the file edited, the hash left
    path.write_text(json.dumps(evidence))
    with pytest.raises(CommandError, match=f"event {paid['id']} was altered"):
        call_command("verify_evidence", str(path))

    evidence = order_evidence_file(open_dispute.order)
    created, paid, delivered = evidence["order"]["events"][:3]
    evidence["order"]["events"].remove(paid)  # the payment left out of the file
    path.write_text(json.dumps(evidence))
    with pytest.raises(CommandError, match=f"event {delivered['id']} does not link to event {created['id']}"):
        call_command("verify_evidence", str(path))

    evidence = order_evidence_file(open_dispute.order)
    path.write_text(json.dumps(evidence))
    with connection.cursor() as cursor:  # Kabao's own row rewritten behind the triggers' back
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            "UPDATE disputes_disputeevent SET message = 'fine' WHERE dispute_id = %s", [open_dispute.pk]
        )
        cursor.execute("SET LOCAL session_replication_role = origin")
    with pytest.raises(CommandError, match="in Kabao's records no longer matches its hash"):
        call_command("verify_evidence", str(path))
