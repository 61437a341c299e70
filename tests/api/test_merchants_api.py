import pytest

from marketplace.services.orders import order_confirm, order_create
from merchants.models import Membership, MembershipRole, Merchant, MerchantStatus
from tests.api.helpers import assert_error, database_state, iso
from tests.conftest import token_client
from tests.factories import MerchantFactory, UserFactory, owner_of

pytestmark = pytest.mark.django_db

APPLY = "/api/v1/merchants/"
BALANCE = "/api/v1/merchant/balance/"


def approve_url(merchant_id: int) -> str:
    return f"/api/v1/admin/merchants/{merchant_id}/approve/"


def profile_url(merchant_id: int) -> str:
    return f"/api/v1/merchants/{merchant_id}/"


# --- apply ----------------------------------------------------------------------------------


def test_applying_opens_a_pending_shop_owned_by_the_caller(buyer, buyer_api):
    response = buyer_api.post(APPLY, {"shop_name": "  Lucky Cards "}, format="json")

    assert response.status_code == 201
    merchant = Merchant.objects.get()
    assert response.json() == {"id": merchant.pk, "shop_name": "Lucky Cards", "status": "pending"}
    assert (merchant.shop_name, merchant.status, merchant.approved_at) == ("Lucky Cards", "pending", None)
    membership = Membership.objects.get(merchant=merchant)
    assert (membership.user_id, membership.role) == (buyer.pk, MembershipRole.OWNER)


def test_applying_needs_a_token(api):
    response = api.post(APPLY, {"shop_name": "Lucky Cards"}, format="json")

    assert_error(response, 401, "not_authenticated", "Authentication credentials were not provided.")
    assert not Merchant.objects.exists()


def test_a_member_of_a_shop_cannot_open_another(merchant_api):
    before = database_state()

    response = merchant_api.post(APPLY, {"shop_name": "Second Shop"}, format="json")

    assert_error(response, 409, "already_member", "This account already belongs to a shop.")
    assert database_state() == before


def test_a_shop_name_is_taken_once(buyer_api):
    MerchantFactory(shop_name="Lucky Cards")
    before = database_state()

    response = buyer_api.post(APPLY, {"shop_name": "Lucky Cards"}, format="json")

    assert_error(response, 409, "shop_name_taken", "This shop name or account is already in use.")
    assert database_state() == before


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"shop_name": ["This field is required."]}),
        ({"shop_name": ""}, {"shop_name": ["This field may not be blank."]}),
        ({"shop_name": "   "}, {"shop_name": ["This field may not be blank."]}),
        ({"shop_name": None}, {"shop_name": ["This field may not be null."]}),
        ({"shop_name": "x" * 81}, {"shop_name": ["Ensure this field has no more than 80 characters."]}),
        ({"shop_name": ["Lucky"]}, {"shop_name": ["Not a valid string."]}),
    ],
)
def test_applying_refuses_invalid_input(buyer_api, body, fields):
    before = database_state()

    response = buyer_api.post(APPLY, body, format="json")

    assert_error(response, 400, "invalid", "The request is not valid.", fields)
    assert database_state() == before


def test_applying_refuses_a_body_that_is_not_json(buyer_api):
    response = buyer_api.post(APPLY, data="{shop_name}", content_type="application/json")

    assert_error(
        response,
        400,
        "invalid_json",
        "JSON parse error - Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
    )
    assert not Merchant.objects.exists()


# --- approve --------------------------------------------------------------------------------


@pytest.fixture
def pending_shop():
    return MerchantFactory(shop_name="Pending Cards", status=MerchantStatus.PENDING)


def test_staff_approve_a_pending_shop(staff, staff_api, pending_shop):
    response = staff_api.post(approve_url(pending_shop.pk))

    assert response.status_code == 200
    assert response.json() == {"id": pending_shop.pk, "shop_name": "Pending Cards", "status": "active"}
    pending_shop.refresh_from_db()
    assert pending_shop.status == MerchantStatus.ACTIVE
    assert pending_shop.approved_by_id == staff.pk
    assert pending_shop.approved_at is not None


def test_approving_twice_changes_nothing_the_second_time(staff_api, pending_shop):
    staff_api.post(approve_url(pending_shop.pk))
    before = database_state()

    response = staff_api.post(approve_url(pending_shop.pk))

    assert response.status_code == 200
    assert response.json() == {"id": pending_shop.pk, "shop_name": "Pending Cards", "status": "active"}
    assert database_state() == before


@pytest.mark.parametrize("who", ["buyer", "the shop's owner"])
def test_only_staff_approve(pending_shop, buyer, who):
    client = token_client(buyer if who == "buyer" else owner_of(pending_shop))
    before = database_state()

    response = client.post(approve_url(pending_shop.pk))

    assert_error(response, 403, "permission_denied", "Only staff approve merchants.")
    assert database_state() == before
    pending_shop.refresh_from_db()
    assert pending_shop.status == MerchantStatus.PENDING


def test_a_non_staff_caller_learns_nothing_about_unknown_shops(buyer_api):
    response = buyer_api.post(approve_url(999_999))

    assert_error(response, 403, "permission_denied", "Only staff approve merchants.")


def test_approving_needs_a_token(api, pending_shop):
    response = api.post(approve_url(pending_shop.pk))

    assert_error(response, 401, "not_authenticated", "Authentication credentials were not provided.")
    pending_shop.refresh_from_db()
    assert pending_shop.status == MerchantStatus.PENDING


def test_approving_an_unknown_shop_is_404(staff_api, pending_shop):
    before = database_state()

    response = staff_api.post(approve_url(pending_shop.pk + 1000))

    assert_error(response, 404, "not_found", "No such merchant.")
    assert database_state() == before


def test_a_rejected_shop_cannot_be_approved(staff_api):
    shop = MerchantFactory(status=MerchantStatus.REJECTED)
    before = database_state()

    response = staff_api.post(approve_url(shop.pk))

    assert_error(response, 409, "invalid_state", "A rejected shop cannot be approved.")
    assert database_state() == before


# --- balance --------------------------------------------------------------------------------


def test_a_new_shop_has_only_its_deposit(merchant_api):
    response = merchant_api.get(BALANCE)

    assert response.status_code == 200
    assert response.json() == {
        "currency": "CNY",
        "held": 0,
        "available": 0,
        "deposit": 100000,
        "deposit_required": 100000,
        "pending_payouts": 0,
    }


def test_the_balance_follows_a_sale_from_escrow_to_available(merchant_api, buyer, stocked_product, pay):
    order = pay(order_create(buyer=buyer, product_id=stocked_product.pk, quantity=2))
    assert order.status == "delivered"

    assert merchant_api.get(BALANCE).json() == {
        "currency": "CNY",
        "held": 3998,
        "available": 0,
        "deposit": 100000,
        "deposit_required": 100000,
        "pending_payouts": 0,
    }

    order_confirm(order=order, actor=buyer)

    # 5 % fee on 3998 rounds down to 199
    assert merchant_api.get(BALANCE).json() == {
        "currency": "CNY",
        "held": 0,
        "available": 3799,
        "deposit": 100000,
        "deposit_required": 100000,
        "pending_payouts": 0,
    }


def test_a_shop_sees_only_its_own_balance(merchant_api, buyer, stocked_product, pay):
    pay(order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1))
    other_shop = MerchantFactory()

    response = token_client(owner_of(other_shop)).get(BALANCE)

    assert response.json() == {
        "currency": "CNY",
        "held": 0,
        "available": 0,
        "deposit": 100000,
        "deposit_required": 100000,
        "pending_payouts": 0,
    }
    assert merchant_api.get(BALANCE).json()["held"] == 1999


def test_the_balance_is_for_merchants_only(buyer_api):
    assert_error(buyer_api.get(BALANCE), 403, "not_a_merchant", "This account does not belong to a shop.")


def test_the_balance_needs_a_token(api):
    assert_error(api.get(BALANCE), 401, "not_authenticated", "Authentication credentials were not provided.")


# --- public profile -------------------------------------------------------------------------


def test_anyone_sees_an_active_shops_trust_figures(api, merchant, buyer, stocked_product, pay):
    order = pay(order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1))
    order_confirm(order=order, actor=buyer)
    pay(order_create(buyer=UserFactory(), product_id=stocked_product.pk, quantity=1))  # delivered
    order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1)  # unpaid: not counted

    response = api.get(profile_url(merchant.pk))

    assert response.status_code == 200
    assert response.json() == {
        "id": merchant.pk,
        "shop_name": merchant.shop_name,
        "member_since": iso(merchant.created_at),
        "currency": "CNY",
        "deposit": 100000,
        "completed_orders": 1,
        "disputes_lost": 0,
        "dispute_rate": 0.0,
        "median_first_response_seconds": None,
    }


@pytest.mark.parametrize(
    "status", [MerchantStatus.PENDING, MerchantStatus.SUSPENDED, MerchantStatus.REJECTED]
)
def test_a_shop_that_is_not_active_has_no_public_profile(api, status):
    shop = MerchantFactory(status=status)

    assert_error(api.get(profile_url(shop.pk)), 404, "not_found", "Not found.")


def test_an_unknown_shop_has_no_public_profile(api):
    assert_error(api.get(profile_url(999_999)), 404, "not_found", "Not found.")
