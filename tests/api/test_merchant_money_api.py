"""The shop's application status, deposit and payouts through the API, and staff's decisions."""

import pytest

from escrow.selectors import account_balance
from marketplace.models import Payment, PaymentStatus, WebhookEvent
from marketplace.payments.simulated import pay_url
from merchants.models import MerchantStatus, Payout
from tests.api.helpers import assert_error, database_state, iso
from tests.conftest import token_client
from tests.factories import MerchantFactory, owner_of
from tests.merchants.helpers import completed_sale

pytestmark = pytest.mark.django_db

ME = "/api/v1/merchant/"
DEPOSIT = "/api/v1/merchant/deposit/"
PAYOUTS = "/api/v1/merchant/payouts/"
STAFF_SHOPS = "/api/v1/admin/merchants/"
STAFF_PAYOUTS = "/api/v1/admin/payouts/"


def shop_json(shop) -> dict:
    shop.refresh_from_db()
    return {
        "id": shop.pk,
        "shop_name": shop.shop_name,
        "status": shop.status,
        "contact": shop.contact,
        "sells": shop.sells,
        "rejection_reason": shop.rejection_reason,
        "created_at": iso(shop.created_at),
        "approved_at": iso(shop.approved_at),
    }


@pytest.fixture
def applied(buyer, buyer_api):
    response = buyer_api.post(
        "/api/v1/merchants/", {"shop_name": "Lucky", "contact": "QQ 8", "sells": "Steam"}, format="json"
    )
    assert response.json()["status"] == "pending"
    return buyer.membership.merchant


# --- application ----------------------------------------------------------------------------


def test_the_applicant_reads_the_status_of_the_application(buyer_api, applied):
    response = buyer_api.get(ME)

    assert response.status_code == 200
    assert response.json() == shop_json(applied) | {"status": "pending", "contact": "QQ 8", "sells": "Steam"}


def test_staff_list_pending_applications(staff_api, applied):
    MerchantFactory(status=MerchantStatus.ACTIVE)

    response = staff_api.get(STAFF_SHOPS)

    assert (response.status_code, response.json()) == (200, [shop_json(applied)])


def test_staff_reject_with_a_reason_and_the_applicant_reads_it(
    staff_api, buyer_api, applied, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_api.post(
            f"{STAFF_SHOPS}{applied.pk}/reject/", {"reason": "Which games?"}, format="json"
        )

    assert response.status_code == 200
    assert response.json() == shop_json(applied) | {"status": "rejected", "rejection_reason": "Which games?"}
    assert buyer_api.get(ME).json()["rejection_reason"] == "Which games?"
    # emails speak the site's default language (English in these API tests)
    assert [mail.subject for mail in mailoutbox] == ["Your application for Lucky was not approved"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"reason": ["This field is required."]}),
        ({"reason": "  "}, {"reason": ["This field may not be blank."]}),
    ],
)
def test_a_rejection_without_a_reason_is_400(staff_api, applied, body, fields):
    before = database_state()

    assert_error(
        staff_api.post(f"{STAFF_SHOPS}{applied.pk}/reject/", body, format="json"),
        400,
        "invalid",
        "The request is not valid.",
        fields,
    )
    assert database_state() == before


def test_only_staff_reject_and_list(buyer_api, applied):
    before = database_state()

    assert_error(
        buyer_api.post(f"{STAFF_SHOPS}{applied.pk}/reject/", {"reason": "x"}, format="json"),
        403,
        "permission_denied",
        "Only staff reject merchants.",
    )
    assert_error(buyer_api.get(STAFF_SHOPS), 403, "permission_denied", "Only staff review merchants.")
    assert database_state() == before


def test_rejecting_an_unknown_or_active_shop(staff_api, merchant):
    assert_error(
        staff_api.post(f"{STAFF_SHOPS}{merchant.pk + 1000}/reject/", {"reason": "x"}, format="json"),
        404,
        "not_found",
        "No such merchant.",
    )
    assert_error(
        staff_api.post(f"{STAFF_SHOPS}{merchant.pk}/reject/", {"reason": "x"}, format="json"),
        409,
        "invalid_state",
        "A active shop cannot be rejected.",
    )


def test_a_user_without_a_shop_has_no_shop_to_read(api, buyer_api):
    assert_error(buyer_api.get(ME), 403, "not_a_merchant", "This account does not belong to a shop.")
    assert_error(api.get(ME), 401, "not_authenticated", "Authentication credentials were not provided.")


# --- deposit --------------------------------------------------------------------------------


@pytest.fixture
def new_shop():
    return MerchantFactory(deposit=0)


def test_a_new_shop_sees_what_it_must_pay_in(new_shop):
    response = token_client(owner_of(new_shop)).get(DEPOSIT)

    assert response.json() == {
        "currency": "CNY",
        "deposit": 0,
        "required": 100000,
        "shortfall": 100000,
        "can_list": False,
        "payments": [],
    }


def test_the_deposit_is_paid_at_the_gateway_and_credited_once(
    api, new_shop, django_capture_on_commit_callbacks
):
    client = token_client(owner_of(new_shop))

    opened = client.post(DEPOSIT, {}, format="json")

    assert opened.status_code == 201
    payment = Payment.objects.get()
    assert opened.json() == {
        "id": payment.pk,
        "status": "created",
        "amount": 100000,
        "currency": "CNY",
        "provider": "simulated",
        "reference": payment.reference,
        "created_at": iso(payment.created_at),
        "captured_at": None,
        "pay_url": pay_url(payment.reference),
    }
    with django_capture_on_commit_callbacks(execute=True):
        paid = api.post(opened.json()["pay_url"], {"outcome": "succeeded"}, format="json")
    assert paid.json() == {"reference": payment.reference, "status": "succeeded"}
    status = client.get(DEPOSIT).json()
    assert (status["deposit"], status["shortfall"], status["can_list"]) == (100000, 0, True)
    assert status["payments"][0]["status"] == "succeeded" and status["payments"][0]["pay_url"] is None
    event = WebhookEvent.objects.get()
    before = database_state()

    from marketplace.services.payments import webhook_process

    webhook_process(event_pk=event.pk)  # a replay of the processed event

    assert database_state() == before
    assert account_balance(f"merchant:{new_shop.pk}:deposit:CNY") == 100000


def test_a_deposit_whose_webhook_was_lost_is_found_on_request(api, new_shop):
    client = token_client(owner_of(new_shop))
    opened = client.post(DEPOSIT, {"amount": 30000}, format="json").json()
    api.post(opened["pay_url"], {"outcome": "succeeded", "drop_webhook": True}, format="json")
    assert client.get(DEPOSIT).json()["deposit"] == 0

    response = client.post(f"{DEPOSIT}payments/{opened['id']}/refresh/")

    assert (response.status_code, response.json()["status"]) == (200, PaymentStatus.SUCCEEDED)
    assert client.get(DEPOSIT).json()["deposit"] == 30000


def test_another_shops_deposit_payment_is_not_found(new_shop, merchant_api):
    opened = token_client(owner_of(new_shop)).post(DEPOSIT, {}, format="json").json()

    assert_error(
        merchant_api.post(f"{DEPOSIT}payments/{opened['id']}/refresh/"),
        404,
        "not_found",
        "No such deposit payment.",
    )


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (0, "Ensure this value is greater than or equal to 1."),
        (-100, "Ensure this value is greater than or equal to 1."),
        (10.5, "A valid integer is required."),
        ("100", "A valid integer is required."),
    ],
)
def test_a_deposit_payment_of_a_bad_amount_is_400(new_shop, amount, message):
    client = token_client(owner_of(new_shop))
    before = database_state()

    response = client.post(DEPOSIT, {"amount": amount}, format="json")

    assert_error(response, 400, "invalid", "The request is not valid.", {"amount": [message]})
    assert database_state() == before


# --- payouts --------------------------------------------------------------------------------


@pytest.fixture
def earned(buyer, merchant, stocked_product, pay):
    completed_sale(buyer, stocked_product, pay, quantity=2)  # 3799 available
    return merchant


def payout_json(payout: Payout) -> dict:
    payout.refresh_from_db()
    return {
        "id": payout.pk,
        "status": payout.status,
        "amount": payout.amount,
        "currency": payout.currency,
        "requested_at": iso(payout.requested_at),
        "decided_at": iso(payout.decided_at),
        "paid_at": iso(payout.paid_at),
        "rejection_reason": payout.rejection_reason,
        "external_reference": payout.external_reference,
        "history": [
            {"at": iso(event.at), "status": event.to_status, "note": event.note}
            for event in payout.events.order_by("at", "id")
        ],
    }


def test_a_payout_is_requested_and_listed(earned, merchant_api):
    response = merchant_api.post(PAYOUTS, {"amount": 3000}, format="json")

    assert response.status_code == 201
    payout = Payout.objects.get()
    assert response.json() == payout_json(payout)
    assert (response.json()["status"], response.json()["history"][0]["status"]) == ("requested", "requested")
    assert merchant_api.get(PAYOUTS).json() == [payout_json(payout)]
    assert merchant_api.get(f"{PAYOUTS}{payout.pk}/").json() == payout_json(payout)
    assert merchant_api.get("/api/v1/merchant/balance/").json() == {
        "currency": "CNY",
        "held": 0,
        "available": 799,
        "deposit": 100000,
        "deposit_required": 100000,
        "pending_payouts": 3000,
    }


def test_a_payout_above_available_is_409_and_moves_nothing(earned, merchant_api):
    before = database_state()

    response = merchant_api.post(PAYOUTS, {"amount": 3800}, format="json")

    assert_error(
        response,
        409,
        "insufficient_available",
        "The payout exceeds the available balance (3799 minor units).",
    )
    assert database_state() == before


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (0, "Ensure this value is greater than or equal to 1."),
        (-1, "Ensure this value is greater than or equal to 1."),
        (12.5, "A valid integer is required."),
        ("3000", "A valid integer is required."),
        (None, "This field may not be null."),
    ],
)
def test_a_payout_of_a_bad_amount_is_400(earned, merchant_api, amount, message):
    before = database_state()

    response = merchant_api.post(PAYOUTS, {"amount": amount}, format="json")

    assert_error(response, 400, "invalid", "The request is not valid.", {"amount": [message]})
    assert database_state() == before


def test_another_shops_payout_is_not_found(earned, merchant_api):
    other = MerchantFactory()
    mine = merchant_api.post(PAYOUTS, {"amount": 100}, format="json").json()

    response = token_client(owner_of(other)).get(f"{PAYOUTS}{mine['id']}/")

    assert_error(response, 404, "not_found", "No such payout.")
    assert token_client(owner_of(other)).get(PAYOUTS).json() == []


def test_staff_approve_and_mark_a_payout_paid(earned, merchant_api, staff_api):
    payout_id = merchant_api.post(PAYOUTS, {"amount": 3799}, format="json").json()["id"]
    assert [item["id"] for item in staff_api.get(STAFF_PAYOUTS).json()] == [payout_id]

    approved = staff_api.post(f"{STAFF_PAYOUTS}{payout_id}/approve/")
    paid = staff_api.post(
        f"{STAFF_PAYOUTS}{payout_id}/paid/", {"external_reference": "ICBC-0042"}, format="json"
    )

    payout = Payout.objects.get()
    assert approved.json()["status"] == "approved"
    assert paid.json() == payout_json(payout) | {"merchant": {"id": earned.pk, "shop_name": earned.shop_name}}
    assert [step["status"] for step in paid.json()["history"]] == ["requested", "approved", "paid"]
    assert account_balance("external:payouts:CNY") == 3799
    assert merchant_api.get(f"{PAYOUTS}{payout_id}/").json()["external_reference"] == "ICBC-0042"


def test_staff_reject_a_payout_and_the_money_comes_back(earned, merchant_api, staff_api):
    payout_id = merchant_api.post(PAYOUTS, {"amount": 3799}, format="json").json()["id"]

    response = staff_api.post(
        f"{STAFF_PAYOUTS}{payout_id}/reject/", {"reason": "Wrong bank account"}, format="json"
    )

    assert (response.json()["status"], response.json()["rejection_reason"]) == (
        "rejected",
        "Wrong bank account",
    )
    assert merchant_api.get("/api/v1/merchant/balance/").json()["available"] == 3799


def test_only_staff_decide_and_unknown_payouts_are_404(earned, merchant_api, staff_api):
    payout_id = merchant_api.post(PAYOUTS, {"amount": 100}, format="json").json()["id"]
    before = database_state()

    for path in ("approve/", "paid/"):
        assert_error(
            merchant_api.post(f"{STAFF_PAYOUTS}{payout_id}/{path}"),
            403,
            "permission_denied",
            "Only staff decide payouts.",
        )
    assert_error(merchant_api.get(STAFF_PAYOUTS), 403, "permission_denied", "Only staff decide payouts.")
    assert_error(
        staff_api.post(f"{STAFF_PAYOUTS}{payout_id + 1000}/approve/"), 404, "not_found", "No such payout."
    )
    assert_error(
        staff_api.post(f"{STAFF_PAYOUTS}{payout_id}/paid/"),
        409,
        "invalid_state",
        "A requested payout cannot become paid.",
    )
    assert database_state() == before


def test_a_buyer_has_no_payouts(buyer_api):
    assert_error(
        buyer_api.post(PAYOUTS, {"amount": 1}, format="json"),
        403,
        "not_a_merchant",
        "This account does not belong to a shop.",
    )
