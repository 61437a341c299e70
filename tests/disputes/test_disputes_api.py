import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from disputes.models import Dispute, DisputeEvent
from escrow.selectors import account_balance
from tests.conftest import token_client
from tests.factories import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


def error_code(response) -> str:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    return body["error"]["code"]


def open_via_api(buyer_api, order_id: int):
    return buyer_api.post(
        f"/api/v1/orders/{order_id}/disputes/",
        {"reason": "invalid_code", "message": "Already used"},
        format="json",
    )


def test_the_buyer_opens_a_dispute_and_reads_it(buyer_api, delivered_order):
    response = open_via_api(buyer_api, delivered_order.pk)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["order"] == delivered_order.pk
    assert (
        body["status"] == "awaiting_merchant"
        and body["level"] == "merchant"
        and body["reason"] == "invalid_code"
    )
    assert set(body["deadlines"]) == {
        "merchant_response_due_at",
        "platform_feedback_due_at",
        "decision_due_at",
        "remedy_objection_due_at",
    }
    assert body["next_deadline"]["name"] == "merchant_response_due_at"
    assert [entry["kind"] for entry in body["timeline"]] == ["opened"]
    assert body["messages"][0]["message"] == "Already used" and body["resolution"] is None
    again = buyer_api.get(f"/api/v1/disputes/{body['id']}/")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    order = buyer_api.get(f"/api/v1/orders/{delivered_order.pk}/").json()
    assert order["status"] == "disputed" and order["dispute"]["id"] == body["id"]


def test_opening_with_a_file_by_multipart(buyer_api, delivered_order):
    response = buyer_api.post(
        f"/api/v1/orders/{delivered_order.pk}/disputes/",
        {"reason": "other", "message": "see", "attachments": [SimpleUploadedFile("a.png", PNG)]},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    attachment = response.json()["timeline"][0]["attachments"][0]
    assert attachment["content_type"] == "image/png" and attachment["size"] == len(PNG)
    download = buyer_api.get(f"/api/v1/disputes/{response.json()['id']}/attachments/{attachment['id']}/")
    assert download.status_code == 200 and b"".join(download.streaming_content) == PNG
    stranger = token_client(UserFactory()).get(
        f"/api/v1/disputes/{response.json()['id']}/attachments/{attachment['id']}/"
    )
    assert stranger.status_code == 404


def test_a_wrong_file_type_is_400_and_opens_nothing(buyer_api, delivered_order):
    response = buyer_api.post(
        f"/api/v1/orders/{delivered_order.pk}/disputes/",
        {
            "reason": "other",
            "message": "see",
            "attachments": [SimpleUploadedFile("a.exe", b"MZ\x90\x00\xff\xfe")],
        },
        format="multipart",
    )
    assert response.status_code == 400 and error_code(response) == "file_type_not_allowed"
    assert not Dispute.objects.exists()


@pytest.mark.parametrize("body", [{}, {"reason": "nope", "message": "x"}, {"reason": "other"}])
def test_invalid_opening_is_400(buyer_api, delivered_order, body):
    response = buyer_api.post(f"/api/v1/orders/{delivered_order.pk}/disputes/", body, format="json")
    assert response.status_code == 400 and error_code(response) == "invalid"
    assert not Dispute.objects.exists()


def test_others_cannot_open_or_read(delivered_order, buyer_api):
    stranger = token_client(UserFactory())
    assert open_via_api(stranger, delivered_order.pk).status_code == 404
    dispute_id = open_via_api(buyer_api, delivered_order.pk).json()["id"]
    assert stranger.get(f"/api/v1/disputes/{dispute_id}/").status_code == 404
    assert (
        stranger.post(
            f"/api/v1/disputes/{dispute_id}/messages/", {"message": "hi"}, format="json"
        ).status_code
        == 404
    )
    assert open_via_api(buyer_api, delivered_order.pk).status_code == 409
    assert DisputeEvent.objects.count() == 1


def test_the_whole_conversation_through_the_api(buyer_api, merchant_api, delivered_order, merchant):
    dispute_id = open_via_api(buyer_api, delivered_order.pk).json()["id"]
    early = buyer_api.post(f"/api/v1/disputes/{dispute_id}/escalate/", {}, format="json")
    assert early.status_code == 409 and error_code(early) == "too_early"
    reply = merchant_api.post(
        f"/api/v1/disputes/{dispute_id}/messages/", {"message": "Checking"}, format="json"
    )
    assert reply.status_code == 201 and reply.json()["status"] == "awaiting_buyer"
    self_rule = merchant_api.post(
        f"/api/v1/disputes/{dispute_id}/resolve/", {"outcome": "release"}, format="json"
    )
    assert self_rule.status_code == 403
    offer = merchant_api.post(
        f"/api/v1/disputes/{dispute_id}/offers/", {"kind": "partial_refund", "amount": 300}, format="json"
    )
    assert offer.status_code == 201 and offer.json()["offers"][0]["status"] == "pending"
    rejected = buyer_api.post(f"/api/v1/disputes/{dispute_id}/offers/reject/")
    assert rejected.status_code == 200 and rejected.json()["status"] == "awaiting_merchant"
    escalated = buyer_api.post(
        f"/api/v1/disputes/{dispute_id}/escalate/", {"message": "Please decide"}, format="json"
    )
    assert escalated.json()["level"] == "platform" and escalated.json()["queue_position"] == 1
    staff_api = token_client(StaffFactory())
    bad = staff_api.post(
        f"/api/v1/disputes/{dispute_id}/resolve/",
        {"outcome": "partial_refund", "amount": 1999},
        format="json",
    )
    assert bad.status_code == 400 and error_code(bad) == "invalid_amount"
    assert (
        staff_api.post(
            f"/api/v1/disputes/{dispute_id}/resolve/",
            {"outcome": "partial_refund", "amount": "5"},
            format="json",
        ).status_code
        == 400
    )
    decided = staff_api.post(
        f"/api/v1/disputes/{dispute_id}/resolve/",
        {"outcome": "partial_refund", "amount": 1000, "note": "half"},
        format="json",
    )
    assert decided.status_code == 200, decided.content
    assert decided.json()["resolution"] == {
        "outcome": "partial_refund",
        "refunded_amount": 1000,
        "compensation_amount": 0,
        "note": "half",
        "resolved_at": decided.json()["resolution"]["resolved_at"],
    }
    again = staff_api.post(f"/api/v1/disputes/{dispute_id}/resolve/", {"outcome": "refund"}, format="json")
    assert again.status_code == 409
    # 999 to the shop minus 5 % (49)
    assert account_balance(f"merchant:{merchant.pk}:available:CNY") == 950
    listed = merchant_api.get("/api/v1/disputes/").json()
    assert [d["id"] for d in listed] == [dispute_id]


def test_unauthenticated_is_401(api, delivered_order):
    response = api.get("/api/v1/disputes/")
    assert response.status_code == 401 and error_code(response) == "not_authenticated"
