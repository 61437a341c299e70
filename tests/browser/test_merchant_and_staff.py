"""The merchant's journey (apply, approval, deposit, product, file upload with progress, a sale on
the dashboard, answering a dispute) and the arbitrator's (take an escalated dispute from the queue
and decide it), in Chromium. What another person does meanwhile (a buyer buying, complaining)
happens through the same services the pages call."""

import re

import pytest
from playwright.sync_api import expect

from accounts.models import User
from disputes.models import DisputeStatus, Resolution
from disputes.services.lifecycle import dispute_escalate, dispute_open, dispute_post_message
from escrow.verify import ledger_verify
from marketplace.models import Order, OrderStatus, Product
from marketplace.services.orders import order_create
from marketplace.services.payments import simulated_gateway_pay
from merchants.models import Merchant, MerchantStatus
from tests.browser.conftest import PASSWORD, log_in
from tests.factories import (
    MerchantFactory,
    ProductFactory,
    StaffFactory,
    UserFactory,
    owner_of,
    stock,
    unique_codes,
)

pytestmark = pytest.mark.django_db(transaction=True)


def bought(buyer: User, product: Product) -> Order:
    order = order_create(buyer=buyer, product_id=product.pk, quantity=1, idempotency_key=None)
    simulated_gateway_pay(reference=order.payment.reference, outcome="succeeded", drop_webhook=False)
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    return order


def test_merchant_opens_a_shop_sells_and_answers_a_dispute(new_page, shoot, lang, tmp_path):
    staff_user = StaffFactory()
    merchant = new_page()
    merchant.goto("/accounts/signup/?next=/merchant/apply/")
    merchant.fill("input[name=email]", f"seller-{lang}@example.com")
    merchant.fill("input[name=password]", PASSWORD)
    merchant.locator("main form button[type=submit]").click()

    # Apply.
    merchant.fill("input[name=shop_name]", "星河卡铺")
    merchant.locator("[name=contact]").fill("微信 xinghe")
    merchant.locator("[name=sells]").fill("Steam")
    shoot(merchant, "11-merchant-apply")
    merchant.locator("main form button[type=submit]").click()
    shoot(merchant, "12-merchant-waiting")
    shop = Merchant.objects.get(shop_name="星河卡铺")

    # Staff approve on their page.
    staff = new_page()
    log_in(staff, staff_user.email)
    staff.goto("/staff/merchants/")
    shoot(staff, "13-staff-applications")
    staff.locator(f"form[action$='/staff/merchants/{shop.pk}/approve/'] button").click()
    expect(staff.locator("p.message")).to_be_visible()
    shop.refresh_from_db()
    assert shop.status == MerchantStatus.ACTIVE

    # Pay the deposit at the gateway.
    merchant.goto("/merchant/deposit/")
    merchant.fill("input[name=amount]", "1000.00")
    shoot(merchant, "14-merchant-deposit")
    merchant.locator("main form.form button[type=submit]").click()
    merchant.locator("button[value=succeeded]").first.click()
    expect(merchant.locator("#deposit-figures")).to_contain_text("¥1,000.00")

    # Create a product, then upload its codes from a file with a progress bar.
    merchant.goto("/merchant/products/new/")
    merchant.fill("input[name=title]", "Steam 钱包 ¥50")
    merchant.fill("input[name=price]", "48.00")
    merchant.fill("input[name=code_pattern]", r"CODE-\d{8}-\d{4}")
    shoot(merchant, "15-merchant-product-new")
    merchant.locator("main form button[type=submit]").click()
    codes = unique_codes(6)
    codes_file = tmp_path / "codes.txt"
    codes_file.write_text("\n".join([*codes, "not-a-code"]) + "\n")
    merchant.set_input_files("input[type=file][name=file]", codes_file)
    merchant.evaluate("window.notReloaded = true")
    merchant.locator("form[data-upload-progress] button[type=submit]").click()
    report = merchant.locator("#upload-report")
    expect(report).to_be_visible()
    expect(report).to_contain_text("6")
    expect(merchant.locator("#stock dd").first).to_have_text("6")
    # Sent by the page's own upload (with its progress bar), not by a plain form submit.
    assert merchant.evaluate("window.notReloaded") is True
    shoot(merchant, "16-merchant-upload-report")

    # A buyer buys one: the dashboard shows the sale, held in escrow.
    buyer = UserFactory()
    product = Product.objects.get(merchant=shop)
    order = bought(buyer, product)
    merchant.goto("/merchant/")
    expect(merchant.locator("#balances")).to_contain_text("¥48.00")
    expect(merchant.locator(f"a[href='/orders/{order.pk}/']")).to_be_visible()
    shoot(merchant, "17-merchant-dashboard")

    # The buyer complains; the shop answers with a replacement code from stock.
    dispute = dispute_open(
        order_id=order.pk, buyer=buyer, reason="invalid_code", message="充值失败，提示卡密无效"
    )
    merchant.goto("/disputes/")
    shoot(merchant, "18-merchant-dispute-inbox")
    merchant.locator(f"a[href='/disputes/{dispute.pk}/']").first.click()
    merchant.locator("input[name=kind][value=replacement]").check()
    merchant.fill("#offer-message", "已为您更换新卡密")
    merchant.locator("form:has(input[name=action][value=offer]) button[type=submit]").click()
    expect(merchant.locator("p.message.success")).to_be_visible()
    shoot(merchant, "19-merchant-dispute-answered")
    dispute.refresh_from_db()
    assert dispute.merchant_first_response_at is not None
    assert dispute.status == DisputeStatus.AWAITING_BUYER
    ledger_verify()


def test_arbitrator_decides_an_escalated_dispute(new_page, shoot, lang):
    shop = MerchantFactory(shop_name="星辰卡铺")
    product = ProductFactory(merchant=shop, title="PSN HK$200", price=17900)
    stock(product, 2)
    buyer = UserFactory()
    order = bought(buyer, product)
    dispute = dispute_open(
        order_id=order.pk, buyer=buyer, reason="invalid_code", message="The code was used."
    )
    dispute_post_message(dispute=dispute, actor=owner_of(shop), message="It worked when we sold it.")
    dispute_escalate(dispute=dispute, actor=buyer, message="Please decide.")

    staff = new_page()
    log_in(staff, StaffFactory().email)
    staff.goto("/staff/disputes/")
    expect(staff.locator(f"a[href='/disputes/{dispute.pk}/']")).to_be_visible()
    shoot(staff, "21-staff-queue")
    staff.locator(f"a[href='/disputes/{dispute.pk}/']").click()
    expect(staff.locator("time[data-countdown]").first).to_have_text(re.compile(r"\d+:\d\d:\d\d"))
    shoot(staff, "22-staff-dispute")
    staff.locator("input[name=outcome][value=refund]").check()
    staff.fill("#decision-note", "The code was already redeemed before delivery.")
    staff.locator("form:has(input[name=action][value=resolve]) button[type=submit]").click()
    expect(staff.locator("p.message.success")).to_be_visible()
    shoot(staff, "23-staff-decided")
    dispute.refresh_from_db()
    assert (dispute.status, dispute.resolution, dispute.refunded_amount) == (
        DisputeStatus.RESOLVED,
        Resolution.REFUND,
        17900,
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED

    # The buyer sees it on the order page too.
    buyer_page = new_page()
    log_in(buyer_page, buyer.email)
    buyer_page.goto(f"/orders/{order.pk}/")
    expect(buyer_page.locator("#order-status.status-refunded")).to_be_visible()
    shoot(buyer_page, "24-buyer-order-refunded")
    ledger_verify()
