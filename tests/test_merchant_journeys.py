"""Issue 3 is done when a merchant goes from sign-up to a listed, stocked product to a completed
payout in the browser alone, and the same through the API. One journey each, end to end."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from escrow.selectors import account_balance
from escrow.verify import ledger_verify
from marketplace.models import Order, Payment, Product
from merchants.models import Merchant, Payout, PayoutStatus
from tests.conftest import token_client
from tests.factories import StaffFactory, unique_codes

pytestmark = pytest.mark.django_db


def signed_up(email: str) -> Client:
    client = Client(headers={"accept-language": "zh-CN"})
    response = client.post(reverse("accounts:signup"), {"email": email, "password": "a-long-passphrase-9"})
    assert response.status_code == 302
    return client


def test_a_merchant_in_the_browser_alone(mailoutbox, django_capture_on_commit_callbacks):
    merchant = signed_up("seller@example.com")
    staff = Client(headers={"accept-language": "zh-CN"})
    staff.force_login(StaffFactory())

    # apply, and staff approve on their page
    assert "在卡保开店</a>" in merchant.get(reverse("marketplace:catalogue")).text
    merchant.post(
        reverse("merchant:apply"), {"shop_name": "星河卡铺", "contact": "微信 xinghe", "sells": "Steam"}
    )
    shop = Merchant.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        staff.post(reverse("merchant:staff-merchant-approve", args=[shop.pk]))
    assert [mail.subject for mail in mailoutbox] == ["您的店铺 星河卡铺 已通过审核"]

    # pay the deposit at the gateway
    to_gateway = merchant.post(reverse("merchant:deposit"), {"amount": "1000.00"})
    with django_capture_on_commit_callbacks(execute=True):
        merchant.post(to_gateway["Location"], {"outcome": "succeeded"})
    assert "您的保证金已达到要求" in merchant.get(reverse("merchant:deposit")).text

    # list a product and stock it from a file
    to_inventory = merchant.post(
        reverse("merchant:product-new"),
        {"title": "Steam 钱包 ¥50", "price": "48", "code_pattern": r"CODE-\d{8}-\d{4}"},
    )
    codes = unique_codes(5)
    upload = SimpleUploadedFile("codes.txt", ("\n".join(codes) + "\n").encode())
    report = merchant.post(to_inventory["Location"], {"file": upload})
    assert report.status_code == 201 and "已添加 5 个卡密。" in report.text
    assert '<span class="stock">库存 5</span>' in Client().get(reverse("marketplace:catalogue")).text

    # a buyer buys two codes and confirms they work
    buyer = signed_up("buyer@example.com")
    product = Product.objects.get()
    to_pay = buyer.post(
        reverse("marketplace:checkout", args=[product.pk]), {"quantity": "2", "idempotency_key": "j"}
    )
    with django_capture_on_commit_callbacks(execute=True):
        buyer.post(to_pay["Location"], {"outcome": "succeeded"})
    order = Order.objects.get()
    buyer.post(reverse("marketplace:order-confirm", args=[order.pk]))
    dashboard = merchant.get(reverse("merchant:dashboard"))
    assert "<dt>可提现</dt><dd>¥91.20</dd>" in dashboard.text  # 9600 minus the 5 % fee (480)

    # withdraw it; staff approve and send it
    merchant.post(reverse("merchant:payouts"), {"amount": "91.20"})
    payout = Payout.objects.get()
    staff.post(reverse("merchant:staff-payout-decide", args=[payout.pk, "approve"]))
    with django_capture_on_commit_callbacks(execute=True):
        staff.post(
            reverse("merchant:staff-payout-decide", args=[payout.pk, "paid"]),
            {"external_reference": "ICBC-1"},
        )

    history = merchant.get(reverse("merchant:payouts")).text
    assert re.search(r"¥91\.20</strong> · <span class=\"status status-paid\">已打款</span>", history)
    assert account_balance("external:payouts:CNY") == 9120
    assert account_balance(f"merchant:{shop.pk}:available:CNY") == 0
    assert mailoutbox[-1].subject == "您 ¥91.20 的提现已打款"
    ledger_verify()


def api_signed_up(email: str) -> APIClient:
    client = APIClient()
    response = client.post(
        "/api/v1/auth/register/", {"email": email, "password": "a-long-passphrase-9"}, format="json"
    )
    assert response.status_code == 201
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return client


def test_a_merchant_through_the_api(django_capture_on_commit_callbacks):
    merchant = api_signed_up("seller@example.com")
    staff = token_client(StaffFactory())

    shop = merchant.post("/api/v1/merchants/", {"shop_name": "Nebula Keys"}, format="json").json()
    assert staff.post(f"/api/v1/admin/merchants/{shop['id']}/approve/").json()["status"] == "active"

    deposit = merchant.post("/api/v1/merchant/deposit/", {}, format="json").json()
    with django_capture_on_commit_callbacks(execute=True):
        merchant.post(deposit["pay_url"], {"outcome": "succeeded"}, format="json")
    assert merchant.get("/api/v1/merchant/deposit/").json()["can_list"] is True

    product = merchant.post(
        "/api/v1/merchant/products/", {"title": "PSN HK$200", "price": 17900}, format="json"
    ).json()
    codes = unique_codes(3)
    stocked = merchant.post(
        f"/api/v1/merchant/products/{product['id']}/codes/", data="\n".join(codes), content_type="text/plain"
    )
    assert stocked.json() == {"accepted": 3, "duplicates": 0, "invalid": []}
    assert [(item["id"], item["stock"]) for item in APIClient().get("/api/v1/products/").json()] == [
        (product["id"], 3)
    ]

    buyer = api_signed_up("buyer@example.com")
    order = buyer.post("/api/v1/orders/", {"product": product["id"], "quantity": 1}, format="json").json()
    with django_capture_on_commit_callbacks(execute=True):
        buyer.post(order["payment"]["pay_url"], {"outcome": "succeeded"}, format="json")
    assert buyer.get(f"/api/v1/orders/{order['id']}/").json()["codes"] == [codes[0]]
    assert buyer.post(f"/api/v1/orders/{order['id']}/confirm/").json()["status"] == "completed"

    balance = merchant.get("/api/v1/merchant/balance/").json()
    assert (balance["available"], balance["held"]) == (17005, 0)  # 17900 minus 895
    payout = merchant.post("/api/v1/merchant/payouts/", {"amount": 17005}, format="json").json()
    assert payout["status"] == "requested"
    staff.post(f"/api/v1/admin/payouts/{payout['id']}/approve/")
    staff.post(f"/api/v1/admin/payouts/{payout['id']}/paid/", {"external_reference": "HSBC-9"}, format="json")

    history = merchant.get("/api/v1/merchant/payouts/").json()
    assert [(item["status"], [step["status"] for step in item["history"]]) for item in history] == [
        ("paid", ["requested", "approved", "paid"])
    ]
    assert Payout.objects.get().status == PayoutStatus.PAID
    assert Payment.objects.filter(purpose="deposit", status="succeeded").count() == 1
    ledger_verify()
