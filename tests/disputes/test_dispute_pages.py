from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from disputes.models import Dispute, DisputeStatus
from disputes.services.lifecycle import dispute_post_message
from disputes.services.timers import sweep_merchant_silence
from tests.factories import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_for():
    def _client(user) -> Client:
        client = Client(HTTP_ACCEPT_LANGUAGE="en")
        client.force_login(user)
        return client

    return _client


def test_the_buyer_opens_a_dispute_from_the_order_page(client_for, buyer, delivered_order):
    client = client_for(buyer)
    order_page = client.get(f"/orders/{delivered_order.pk}/")
    assert f'href="/orders/{delivered_order.pk}/dispute/"' in order_page.text
    response = client.post(
        f"/orders/{delivered_order.pk}/dispute/", {"reason": "invalid_code", "message": "Already used"}
    )
    dispute = Dispute.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/disputes/{dispute.pk}/"
    page = client.get(f"/disputes/{dispute.pk}/")
    assert "The shop must answer within" in page.text
    shown = dispute.merchant_response_due_at.astimezone(ZoneInfo("Asia/Shanghai")).isoformat()
    assert f'data-countdown="{shown}"' in page.text
    assert "Already used" in page.text


def test_an_empty_message_reopens_the_form_with_an_error(client_for, buyer, delivered_order):
    response = client_for(buyer).post(
        f"/orders/{delivered_order.pk}/dispute/", {"reason": "other", "message": ""}
    )
    assert response.status_code == 200 and "Please check what you entered." in response.text
    assert not Dispute.objects.exists()


def test_strangers_get_404_everywhere(client_for, open_dispute, delivered_order):
    stranger = client_for(UserFactory())
    assert stranger.get(f"/disputes/{open_dispute.pk}/").status_code == 404
    assert (
        stranger.post(f"/disputes/{open_dispute.pk}/act/", {"action": "message", "message": "x"}).status_code
        == 404
    )
    assert stranger.get(f"/orders/{delivered_order.pk}/dispute/").status_code == 404
    assert stranger.get("/staff/disputes/").status_code == 404
    assert open_dispute.events.count() == 1


def test_the_merchant_answers_and_replaces_from_its_inbox(
    client_for, merchant_owner, open_dispute, extra_stock
):
    client = client_for(merchant_owner)
    inbox = client.get("/disputes/")
    assert f'href="/disputes/{open_dispute.pk}/"' in inbox.text
    client.post(f"/disputes/{open_dispute.pk}/act/", {"action": "message", "message": "Sorry"})
    client.post(f"/disputes/{open_dispute.pk}/act/", {"action": "offer", "kind": "replacement"})
    open_dispute.refresh_from_db()
    assert open_dispute.status == DisputeStatus.AWAITING_BUYER and open_dispute.remedy_objection_due_at
    assert "replacement code delivered" in client.get(f"/disputes/{open_dispute.pk}/").text


def test_staff_take_an_escalated_dispute_from_the_queue_and_decide(client_for, open_dispute, buyer):
    sweep_merchant_silence(now=open_dispute.merchant_response_due_at)
    staff = client_for(StaffFactory())
    queue = staff.get("/staff/disputes/")
    assert f'href="/disputes/{open_dispute.pk}/"' in queue.text
    detail = staff.get(f"/disputes/{open_dispute.pk}/")
    assert "Evidence" in detail.text and "First revealed by the buyer" in detail.text
    staff.post(
        f"/disputes/{open_dispute.pk}/act/",
        {"action": "resolve", "outcome": "refund", "note": "Code was used"},
    )
    open_dispute.refresh_from_db()
    assert open_dispute.status == DisputeStatus.RESOLVED and open_dispute.decision_note == "Code was used"
    assert "full refund" in client_for(buyer).get(f"/disputes/{open_dispute.pk}/").text


def test_the_queue_flags_breached_disputes(client_for, open_dispute):
    sweep_merchant_silence(now=open_dispute.merchant_response_due_at)
    open_dispute.refresh_from_db()
    Dispute.objects.filter(pk=open_dispute.pk).update(platform_feedback_due_at=open_dispute.opened_at)
    page = client_for(StaffFactory()).get("/staff/disputes/?flagged=1")
    assert "BREACHED" in page.text


def test_forms_need_a_csrf_token(buyer, open_dispute):
    client = Client(enforce_csrf_checks=True)
    client.force_login(buyer)
    response = client.post(f"/disputes/{open_dispute.pk}/act/", {"action": "message", "message": "x"})
    assert response.status_code == 403
    dispute_post_message(dispute=open_dispute, actor=buyer, message="fine")  # the service itself works


def test_staff_type_a_partial_refund_in_yuan(client_for, open_dispute):
    sweep_merchant_silence(now=open_dispute.merchant_response_due_at)
    staff = client_for(StaffFactory())
    url = f"/disputes/{open_dispute.pk}/act/"
    refused = staff.post(
        url, {"action": "resolve", "outcome": "partial_refund", "amount": "1.234", "note": "x"}
    )
    open_dispute.refresh_from_db()
    assert refused.status_code == 302 and open_dispute.status == DisputeStatus.ESCALATED
    staff.post(url, {"action": "resolve", "outcome": "partial_refund", "amount": "2.50", "note": "Half used"})
    open_dispute.refresh_from_db()
    assert (open_dispute.status, open_dispute.refunded_amount) == (DisputeStatus.RESOLVED, 250)
