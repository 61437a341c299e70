"""The admin's actions call the same services as the staff pages, with the reason in the action bar."""

import pytest
from django.test import Client

from escrow.selectors import account_balance
from merchants.models import MerchantStatus, PayoutStatus
from merchants.services import payout_request
from tests.factories import MerchantFactory, StaffFactory, owner_of
from tests.merchants.helpers import completed_sale

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(StaffFactory(is_superuser=True))
    return client


def act(client: Client, model: str, action: str, pks: list[int], note: str = ""):
    return client.post(
        f"/admin/merchants/{model}/",
        {"action": action, "_selected_action": [str(pk) for pk in pks], "note": note},
        follow=True,
    )


def test_shops_are_approved_and_rejected_with_a_reason(
    admin_client, mailoutbox, django_capture_on_commit_callbacks
):
    approved = MerchantFactory(status=MerchantStatus.PENDING)
    rejected = MerchantFactory(status=MerchantStatus.PENDING)

    with django_capture_on_commit_callbacks(execute=True):
        act(admin_client, "merchant", "approve", [approved.pk])
        act(admin_client, "merchant", "reject", [rejected.pk], note="No source for the codes")

    approved.refresh_from_db()
    rejected.refresh_from_db()
    assert approved.status == MerchantStatus.ACTIVE
    assert (rejected.status, rejected.rejection_reason) == (
        MerchantStatus.REJECTED,
        "No source for the codes",
    )
    assert len(mailoutbox) == 2


def test_a_rejection_without_a_reason_is_refused_and_said(admin_client):
    shop = MerchantFactory(status=MerchantStatus.PENDING)

    response = act(admin_client, "merchant", "reject", [shop.pk])

    shop.refresh_from_db()
    assert shop.status == MerchantStatus.PENDING
    assert [str(m) for m in response.context["messages"]] == [
        f"{shop.shop_name}: Say why the application is rejected (1 to 500 characters)."
    ]


def test_payouts_are_approved_and_marked_paid(admin_client, buyer, merchant, stocked_product, pay):
    completed_sale(buyer, stocked_product, pay)
    payout = payout_request(merchant=merchant, actor=owner_of(merchant), amount=1900)

    act(admin_client, "payout", "approve", [payout.pk])
    act(admin_client, "payout", "mark_paid", [payout.pk], note="ICBC-9")

    payout.refresh_from_db()
    assert (payout.status, payout.external_reference) == (PayoutStatus.PAID, "ICBC-9")
    assert account_balance("external:payouts:CNY") == 1900
