"""The buyer's journey in Chromium: sign up, buy, pay at the simulated gateway, watch the order page
turn to delivered by itself, reveal and copy the codes, export the evidence, confirm."""

import json
import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from escrow.verify import ledger_verify
from marketplace.models import Order, OrderStatus
from tests.browser.conftest import PASSWORD
from tests.factories import GameFactory, MerchantFactory, ProductFactory, stock

pytestmark = pytest.mark.django_db(transaction=True)


def test_buyer_buys_pays_reveals_and_confirms(new_page, shoot, lang, tmp_path, capsys):
    shop = MerchantFactory(shop_name="星辰卡铺")
    product = ProductFactory(
        merchant=shop, title="Steam 钱包 ¥50", price=4800, game=GameFactory(name="Steam", slug="steam")
    )
    codes = stock(product, 3)

    page = new_page()
    page.goto("/")
    shoot(page, "01-catalogue")
    page.fill("#q", "Steam")
    page.locator("form[role=search] button").click()
    page.get_by_role("link", name="Steam 钱包 ¥50").click()
    expect(page.locator(".price.big")).to_have_text("¥48.00")
    shoot(page, "02-product")

    # Buying asks for an account: sign up and come straight back to the checkout.
    page.locator("a.button.primary").click()
    page.goto(f"/accounts/signup/?next=/products/{product.pk}/checkout/")
    page.fill("input[name=email]", f"buyer-{lang}@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page.locator("#quantity")).to_be_visible()
    shoot(page, "03-checkout")
    page.fill("#quantity", "2")
    page.locator("main form button[type=submit]").click()

    # The gateway, and beside it the order page left open while the buyer pays.
    expect(page.locator(".gateway")).to_contain_text("¥96.00")
    shoot(page, "04-gateway")
    order = Order.objects.get(buyer__email=f"buyer-{lang}@example.com")
    watcher = page.context.new_page()
    watcher.goto(f"/orders/{order.pk}/")
    expect(watcher.locator(".status-pending_payment")).to_be_visible()
    watcher.evaluate("window.notReloaded = true")
    page.locator("button[value=succeeded]").first.click()

    # The open page turns to delivered without a reload.
    expect(watcher.locator("#order-status.status-delivered")).to_be_visible()
    assert watcher.evaluate("window.notReloaded") is True
    expect(watcher.locator("time[data-countdown]")).to_have_text(re.compile(r"\d+:\d\d:\d\d"))
    shoot(watcher, "05-order-delivered")
    watcher.close()

    # Reveal, copy.
    expect(page.locator("#order-status.status-delivered")).to_be_visible()
    page.locator("form[action$='/reveal/'] button").click()
    shown = page.locator("ul.codes code")
    expect(shown).to_have_count(2)
    assert sorted(shown.all_inner_texts()) == sorted(codes[:2]) or set(shown.all_inner_texts()) <= set(codes)
    page.locator("button.copy").first.click()
    expect(page.locator("button.copy").first).to_have_class(re.compile("done"))
    assert page.evaluate("navigator.clipboard.readText()") == shown.first.inner_text()
    shoot(page, "06-order-codes")

    # Export the evidence, and check it against the ledger.
    with page.expect_download() as download:
        page.locator("a[href$='/evidence.json']").click()
    path = tmp_path / "evidence.json"
    download.value.save_as(path)
    evidence = json.loads(path.read_text())
    assert evidence["order"]["id"] == order.pk and evidence["postings"]
    call_command("verify_evidence", str(path))
    assert "evidence intact" in capsys.readouterr().out
    page.locator("a[href$='/evidence/']").click()
    expect(page.locator(".posting").first).to_be_visible()
    shoot(page, "07-evidence")
    # Not page.go_back(): the page before is the reveal's answer, which holds the codes and is
    # no-store, so the browser will not show it again from its cache (ERR_CACHE_MISS).

    # Confirm: the merchant is paid.
    page.goto(f"/orders/{order.pk}/")
    page.locator("form[action$='/confirm/'] button").click()
    expect(page.locator("#order-status.status-completed")).to_be_visible()
    expect(page.locator("p.message.success")).to_be_visible()
    shoot(page, "08-order-completed")
    order.refresh_from_db()
    assert order.status == OrderStatus.COMPLETED
    ledger_verify()
