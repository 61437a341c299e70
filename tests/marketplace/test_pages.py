"""Buyer pages through Django's test client: catalogue, product, checkout, gateway, order, CSRF.

Pages speak Chinese by default (Accept-Language zh-CN) and English on request.
"""

import zoneinfo

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from escrow.selectors import account_balance
from marketplace.models import (
    Code,
    CodeStatus,
    Order,
    OrderEvent,
    OrderStatus,
    PaymentStatus,
    SimulatedCharge,
    SimulatedChargeStatus,
)
from marketplace.payments.simulated import pay_url
from marketplace.services.orders import order_confirm, order_create
from merchants.models import MerchantStatus
from tests.factories import GameFactory, MerchantFactory, ProductFactory, UserFactory, stock

pytestmark = pytest.mark.django_db

CATALOGUE = reverse("marketplace:catalogue")
LOGIN = reverse("accounts:login")


def zh_client(user=None, **kwargs) -> Client:
    client = Client(headers={"accept-language": "zh-CN"}, **kwargs)
    if user is not None:
        client.force_login(user)
    return client


def en_client(user=None) -> Client:
    client = Client(headers={"accept-language": "en"})
    if user is not None:
        client.force_login(user)
    return client


def order_url(order: Order, name: str = "order") -> str:
    return reverse(f"marketplace:{name}", kwargs={"order_id": order.pk})


def checkout_url(product) -> str:
    return reverse("marketplace:checkout", kwargs={"product_id": product.pk})


def product_url(product) -> str:
    return reverse("marketplace:product", kwargs={"product_id": product.pk})


def available(product) -> int:
    return Code.objects.filter(product=product, status=CodeStatus.AVAILABLE).count()


@pytest.fixture
def delivered(buyer, product, pay):
    """A delivered order of 2 codes; returns (order, the codes in clear)."""
    codes = stock(product, 2)
    order = pay(order_create(buyer=buyer, product_id=product.pk, quantity=2))
    assert order.status == OrderStatus.DELIVERED
    return order, codes


# --- catalogue --------------------------------------------------------------------------------


def test_catalogue_lists_products_with_price_and_stock():
    steam = ProductFactory(title="Steam 100", price=1999, game=GameFactory(name="Steam", slug="steam"))
    razer = ProductFactory(title="Razer Gold 50", price=5000, game=GameFactory(name="Razer", slug="razer"))
    ProductFactory(title="Hidden Card", merchant=MerchantFactory(status=MerchantStatus.PENDING))
    stock(steam, 3)

    response = zh_client().get(CATALOGUE)

    assert response.status_code == 200
    assert [p.title for p in response.context["products"]] == ["Razer Gold 50", "Steam 100"]
    assert [p.stock for p in response.context["products"]] == [0, 3]
    assert '<span class="price">¥19.99</span>' in response.text
    assert '<span class="price">¥50.00</span>' in response.text
    assert '<span class="stock">库存 3</span>' in response.text
    assert '<span class="stock out">已售罄</span>' in response.text
    assert f'href="{product_url(steam)}"' in response.text
    assert f'href="{product_url(razer)}"' in response.text
    assert "Hidden Card" not in response.text


def test_catalogue_filters_by_game():
    ProductFactory(title="Steam 100", game=GameFactory(name="Steam", slug="steam"))
    ProductFactory(title="Razer Gold 50", game=GameFactory(name="Razer", slug="razer"))

    response = zh_client().get(CATALOGUE, {"game": "razer"})

    assert response.status_code == 200
    assert [p.title for p in response.context["products"]] == ["Razer Gold 50"]
    assert "Steam 100" not in response.text
    assert '<option value="razer" selected>Razer</option>' in response.text


def test_catalogue_filters_by_search_text():
    ProductFactory(title="Steam Wallet 100")
    ProductFactory(title="Razer Gold 50")

    response = zh_client().get(CATALOGUE, {"q": "steam"})

    assert [p.title for p in response.context["products"]] == ["Steam Wallet 100"]
    assert "Razer Gold 50" not in response.text
    assert 'value="steam"' in response.text


def test_catalogue_shows_an_empty_state():
    ProductFactory(title="Steam Wallet 100")

    response = zh_client().get(CATALOGUE, {"q": "nothing-like-this"})

    assert response.status_code == 200
    assert list(response.context["products"]) == []
    assert '<li class="empty">没有匹配的商品，换个游戏或关键词试试。</li>' in response.text


def test_catalogue_is_in_chinese_by_default_and_in_english_on_request():
    stock(ProductFactory(title="Steam 100"), 3)

    default = Client().get(CATALOGUE)
    chinese = zh_client().get(CATALOGUE)
    english = en_client().get(CATALOGUE)

    for response in (default, chinese):
        assert '<html lang="zh-hans">' in response.text
        assert "<h1>游戏点卡，担保交易</h1>" in response.text
        assert "库存 3" in response.text
    assert '<html lang="en">' in english.text
    assert "<h1>Game cards, paid into escrow</h1>" in english.text
    assert "3 in stock" in english.text
    assert "游戏点卡" not in english.text


# --- product ----------------------------------------------------------------------------------


def test_product_page_shows_price_and_trust_figures(buyer, merchant, product, pay):
    stock(product, 3)  # the shop paid the minimum deposit (¥1,000.00) when it was made
    order = pay(order_create(buyer=buyer, product_id=product.pk, quantity=1))
    order_confirm(order=order, actor=buyer)

    response = zh_client().get(product_url(product))

    assert response.status_code == 200
    assert '<p class="price big">¥19.99</p>' in response.text
    assert f"<h2>卖家：{merchant.shop_name}</h2>" in response.text
    assert "<dt>保证金</dt><dd>¥1,000.00</dd>" in response.text
    assert "<dt>已完成订单</dt><dd>1</dd>" in response.text
    assert "发货后 24 小时内" in response.text
    assert response.context["trust"]["completed"] == 1


def test_product_page_offers_buy_only_when_in_stock(product):
    out_of_stock = zh_client().get(product_url(product))
    stock(product, 1)
    in_stock = zh_client().get(product_url(product))

    assert out_of_stock.status_code == 200
    assert checkout_url(product) not in out_of_stock.text
    assert ">购买</a>" not in out_of_stock.text
    assert "<strong>已售罄</strong>" in out_of_stock.text
    assert f'<a class="button primary" href="{checkout_url(product)}">购买</a>' in in_stock.text
    assert "库存 1" in in_stock.text


def test_product_page_in_english(product):
    stock(product, 2)

    response = en_client().get(product_url(product))

    assert f'href="{checkout_url(product)}">Buy</a>' in response.text
    assert "2 in stock" in response.text
    assert f"Sold by {product.merchant.shop_name}" in response.text


def test_product_of_an_inactive_shop_is_not_found():
    product = ProductFactory(merchant=MerchantFactory(status=MerchantStatus.SUSPENDED))

    response = zh_client().get(product_url(product))

    assert response.status_code == 404
    assert "<h1>未找到</h1>" in response.text


# --- checkout ---------------------------------------------------------------------------------


def test_checkout_needs_login(product):
    stock(product, 1)

    response = zh_client().get(checkout_url(product))

    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next={checkout_url(product)}"


def test_checkout_post_needs_login_and_creates_nothing(product):
    stock(product, 1)

    response = zh_client().post(checkout_url(product), {"quantity": "1"})

    assert response.status_code == 302
    assert response["Location"].startswith(f"{LOGIN}?next=")
    assert not Order.objects.exists()
    assert available(product) == 1


def test_checkout_page_explains_the_escrow(buyer, product):
    stock(product, 3)

    response = zh_client(buyer).get(checkout_url(product))

    assert response.status_code == 200
    assert "<h1>确认订单</h1>" in response.text
    assert 'max="3"' in response.text
    assert "保留 15 分钟" in response.text and "您有 24 小时检查卡密" in response.text


def test_checkout_page_of_a_product_without_stock_has_no_form(buyer, product):
    response = zh_client(buyer).get(checkout_url(product))

    assert response.status_code == 200
    assert "<strong>已售罄</strong>" in response.text
    assert 'name="quantity"' not in response.text


def test_checkout_creates_the_order_and_redirects_to_the_gateway(buyer, product):
    stock(product, 3)

    response = zh_client(buyer).post(checkout_url(product), {"quantity": "2", "idempotency_key": "k-1"})

    order = Order.objects.get()
    assert response.status_code == 302
    assert response["Location"] == pay_url(order.payment.reference)
    assert response["Location"] == f"/pay/simulated/{order.payment.reference}/"
    assert order.buyer == buyer
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert (order.quantity, order.unit_price, order.amount, order.currency) == (2, 1999, 3998, "CNY")
    assert order.idempotency_key == "k-1"
    assert Code.objects.filter(order=order, status=CodeStatus.RESERVED).count() == 2
    assert available(product) == 1


def test_checkout_posted_twice_with_the_same_key_is_one_order(buyer, product):
    stock(product, 3)
    client = zh_client(buyer)

    first = client.post(checkout_url(product), {"quantity": "1", "idempotency_key": "k-1"})
    second = client.post(checkout_url(product), {"quantity": "1", "idempotency_key": "k-1"})

    assert first["Location"] == second["Location"]
    assert Order.objects.count() == 1
    assert available(product) == 2


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        ("two", "数量必须是整数。"),
        ("0", f"数量必须是 1 到 {settings.KABAO_MAX_ORDER_QUANTITY} 之间的整数。"),
        ("4", "库存不足，无法购买该数量。"),
    ],
)
def test_checkout_refusals_show_a_message_and_change_nothing(buyer, product, quantity, message):
    stock(product, 3)

    response = zh_client(buyer).post(checkout_url(product), {"quantity": quantity})

    assert response.status_code == 200
    assert f'<p class="message error" role="status">{message}</p>' in response.text
    assert not Order.objects.exists()
    assert available(product) == 3


def test_checkout_refusal_is_in_english_on_request(buyer, product):
    stock(product, 3)

    response = en_client(buyer).post(checkout_url(product), {"quantity": "4"})

    assert "Not enough codes in stock for this quantity." in response.text
    assert not Order.objects.exists()


def test_merchant_cannot_buy_from_their_own_shop(merchant_owner, product):
    stock(product, 3)

    response = zh_client(merchant_owner).post(checkout_url(product), {"quantity": "1"})

    assert response.status_code == 200
    assert "不能购买自己店铺的商品。" in response.text
    assert not Order.objects.exists()
    assert available(product) == 3


# --- simulated gateway ------------------------------------------------------------------------


def test_gateway_page_shows_the_amount(buyer, product):
    stock(product, 3)
    order = order_create(buyer=buyer, product_id=product.pk, quantity=2)

    response = zh_client().get(pay_url(order.payment.reference))

    assert response.status_code == 200
    assert "<h1>支付 ¥39.98</h1>" in response.text
    assert f"<code>{order.payment.reference}</code>" in response.text
    assert "状态: 待支付" in response.text
    assert 'name="outcome" value="succeeded"' in response.text
    assert f'href="{order_url(order)}"' in response.text


def test_gateway_success_runs_through_to_delivery(buyer, product, django_capture_on_commit_callbacks):
    codes = stock(product, 3)
    client = zh_client(buyer)
    client.post(checkout_url(product), {"quantity": "2", "idempotency_key": "k-1"})
    order = Order.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(pay_url(order.payment.reference), {"outcome": "succeeded"})

    assert response.status_code == 302
    assert response["Location"] == order_url(order)
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    assert order.payment.status == PaymentStatus.SUCCEEDED
    assert order.delivered_at is not None and order.codes_revealed_at is None
    assert (
        SimulatedCharge.objects.get(reference=order.payment.reference).status
        == SimulatedChargeStatus.SUCCEEDED
    )
    assert Code.objects.filter(order=order, status=CodeStatus.SOLD).count() == 2
    assert account_balance(f"escrow:order:{order.pk}") == 3998
    page = client.get(order_url(order))
    assert '<span class="status status-delivered" id="order-status">已发货</span>' in page.text
    assert "查看卡密" in page.text
    assert codes[0] not in page.text and codes[1] not in page.text  # not until revealed


def test_gateway_page_after_success_offers_no_second_payment(buyer, product, pay):
    stock(product, 1)
    order = pay(order_create(buyer=buyer, product_id=product.pk, quantity=1))

    response = zh_client().get(pay_url(order.payment.reference))

    assert "状态: 成功" in response.text
    assert 'name="outcome"' not in response.text


def test_gateway_failure_leaves_the_order_unpaid(buyer, product, django_capture_on_commit_callbacks):
    stock(product, 1)
    order = order_create(buyer=buyer, product_id=product.pk, quantity=1)

    with django_capture_on_commit_callbacks(execute=True):
        response = zh_client().post(pay_url(order.payment.reference), {"outcome": "failed"})

    assert response.status_code == 302 and response["Location"] == order_url(order)
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert order.payment.status == PaymentStatus.FAILED
    assert Code.objects.filter(order=order, status=CodeStatus.RESERVED).count() == 1


def test_gateway_refuses_an_unknown_outcome(buyer, product, django_capture_on_commit_callbacks):
    stock(product, 1)
    order = order_create(buyer=buyer, product_id=product.pk, quantity=1)
    client = zh_client()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(pay_url(order.payment.reference), {"outcome": "maybe"})

    assert response.status_code == 302 and response["Location"] == pay_url(order.payment.reference)
    assert callbacks == []
    assert (
        SimulatedCharge.objects.get(reference=order.payment.reference).status
        == SimulatedChargeStatus.REQUIRES_PAYMENT
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert "请检查您填写的内容。" in client.get(response["Location"]).text


def test_gateway_of_an_unknown_payment_is_not_found():
    response = zh_client().get(pay_url("sim_0_nothing"))

    assert response.status_code == 404


# --- order page -------------------------------------------------------------------------------


def test_order_page_of_a_pending_order_links_to_payment(buyer, product):
    stock(product, 1)
    order = order_create(buyer=buyer, product_id=product.pk, quantity=1)
    until = order.expires_at.astimezone(zoneinfo.ZoneInfo("Asia/Shanghai")).strftime("%H:%M")

    response = zh_client(buyer).get(order_url(order))

    assert response.status_code == 200
    assert f"<h1>订单 #{order.pk}</h1>" in response.text
    assert "待付款" in response.text
    assert f"已为您保留至 {until}。" in response.text
    assert f'<a class="button primary" href="{pay_url(order.payment.reference)}">立即付款</a>' in (
        response.text
    )
    # The page asks for its live part until the order is paid and delivered (no full reload).
    assert f'data-poll="/orders/{order.pk}/?live=1"' in response.text
    assert "已下单" in response.text  # the timeline, in words


def test_order_page_needs_login(buyer, product):
    stock(product, 1)
    order = order_create(buyer=buyer, product_id=product.pk, quantity=1)

    response = zh_client().get(order_url(order))

    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next={order_url(order)}"


def test_order_page_of_another_user_is_not_found(delivered):
    order, codes = delivered

    response = zh_client(UserFactory()).get(order_url(order))

    assert response.status_code == 404
    assert "<h1>未找到</h1>" in response.text
    assert codes[0] not in response.text
    assert order.product.title not in response.text


def test_order_page_in_english(delivered):
    order, _codes = delivered

    response = en_client(order.buyer).get(order_url(order))

    assert f"<h1>Order #{order.pk}</h1>" in response.text
    assert '<span class="status status-delivered" id="order-status">delivered</span>' in response.text
    assert "Reveal codes" in response.text
    assert "Codes delivered" in response.text


def test_my_orders_lists_only_my_orders(buyer, product):
    stock(product, 2)
    mine = order_create(buyer=buyer, product_id=product.pk, quantity=1)
    theirs = order_create(buyer=UserFactory(), product_id=product.pk, quantity=1)

    response = zh_client(buyer).get(reverse("marketplace:orders"))

    assert [o.pk for o in response.context["orders"]] == [mine.pk]
    assert f'href="{order_url(mine)}"' in response.text
    assert f'href="{order_url(theirs)}"' not in response.text


# --- reveal and confirm -----------------------------------------------------------------------


def test_reveal_shows_the_codes_and_records_when(delivered):
    order, codes = delivered

    response = zh_client(order.buyer).post(order_url(order, "order-reveal"))

    assert response.status_code == 200
    assert response.context["codes"] == codes
    for number, code in enumerate(codes, start=1):
        assert f'<li><code id="code-{number}">{code}</code>' in response.text
    order.refresh_from_db()
    assert order.codes_revealed_at is not None
    assert list(order.events.values_list("event", flat=True)) == [
        "created",
        "paid",
        "delivered",
        "codes_revealed",
    ]
    assert "已查看卡密" in response.text


def test_reveal_twice_keeps_the_first_time(delivered):
    order, codes = delivered
    client = zh_client(order.buyer)
    client.post(order_url(order, "order-reveal"))
    order.refresh_from_db()
    first = order.codes_revealed_at

    response = client.post(order_url(order, "order-reveal"))

    assert response.context["codes"] == codes
    order.refresh_from_db()
    assert order.codes_revealed_at == first
    assert order.events.filter(event="codes_revealed").count() == 1


def test_reveal_by_another_user_is_not_found_and_records_nothing(delivered):
    order, codes = delivered

    response = zh_client(UserFactory()).post(order_url(order, "order-reveal"))

    assert response.status_code == 404
    assert codes[0] not in response.text
    order.refresh_from_db()
    assert order.codes_revealed_at is None
    assert not order.events.filter(event="codes_revealed").exists()


def test_reveal_needs_post(delivered):
    order, _codes = delivered

    response = zh_client(order.buyer).get(order_url(order, "order-reveal"))

    assert response.status_code == 405
    order.refresh_from_db()
    assert order.codes_revealed_at is None


def test_reveal_before_delivery_shows_nothing(buyer, product):
    stock(product, 1)
    order = order_create(buyer=buyer, product_id=product.pk, quantity=1)

    response = zh_client(buyer).post(order_url(order, "order-reveal"))

    assert response.status_code == 200
    assert response.context["codes"] == []
    order.refresh_from_db()
    assert order.codes_revealed_at is None


def test_confirm_completes_the_order_and_pays_the_merchant(delivered, merchant):
    order, _codes = delivered
    client = zh_client(order.buyer)

    response = client.post(order_url(order, "order-confirm"))

    assert response.status_code == 302 and response["Location"] == order_url(order)
    order.refresh_from_db()
    assert order.status == OrderStatus.COMPLETED
    assert order.completed_at is not None
    # 3998 held; 5 % platform fee rounds down to 199.
    assert account_balance(f"merchant:{merchant.pk}:available:CNY") == 3998 - 199
    assert account_balance("platform:fees:CNY") == 199
    assert account_balance(f"escrow:order:{order.pk}") == 0
    page = client.get(response["Location"])
    assert '<p class="message success" role="status">谢谢！货款已付给商家。</p>' in page.text
    assert "交易完成，货款已付给商家 — 买家确认收货" in page.text
    assert "卡密可用，确认收货" not in page.text  # no second confirmation offered


def test_confirm_twice_is_refused_and_pays_once(delivered, merchant):
    order, _codes = delivered
    client = zh_client(order.buyer)
    client.post(order_url(order, "order-confirm"))

    response = client.post(order_url(order, "order-confirm"))

    assert response.status_code == 302
    page = client.get(response["Location"])
    assert '<p class="message error" role="status">订单当前状态下无法进行此操作。</p>' in page.text
    assert account_balance(f"merchant:{merchant.pk}:available:CNY") == 3998 - 199
    assert order.events.filter(event=OrderStatus.COMPLETED).count() == 1


def test_confirm_by_another_user_is_not_found_and_changes_nothing(delivered, merchant):
    order, _codes = delivered

    response = zh_client(UserFactory()).post(order_url(order, "order-confirm"))

    assert response.status_code == 404
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    assert account_balance(f"merchant:{merchant.pk}:available:CNY") == 0
    assert account_balance(f"escrow:order:{order.pk}") == 3998


def test_merchant_sees_the_order_but_no_codes_and_cannot_confirm(delivered, merchant_owner, merchant):
    order, codes = delivered
    client = zh_client(merchant_owner)

    page = client.get(order_url(order))
    reveal = client.post(order_url(order, "order-reveal"))
    confirm = client.post(order_url(order, "order-confirm"))

    assert page.status_code == 200 and "查看卡密" not in page.text
    assert reveal.status_code == 200 and codes[0] not in reveal.text
    assert confirm.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    assert order.codes_revealed_at is None
    assert account_balance(f"merchant:{merchant.pk}:available:CNY") == 0


# --- CSRF -------------------------------------------------------------------------------------


def test_reveal_without_a_csrf_token_is_forbidden(delivered):
    order, codes = delivered
    events = OrderEvent.objects.count()

    response = zh_client(order.buyer, enforce_csrf_checks=True).post(order_url(order, "order-reveal"))

    assert response.status_code == 403
    assert codes[0] not in response.text
    order.refresh_from_db()
    assert order.codes_revealed_at is None
    assert OrderEvent.objects.count() == events


def test_confirm_without_a_csrf_token_is_forbidden(delivered, merchant):
    order, _codes = delivered

    response = zh_client(order.buyer, enforce_csrf_checks=True).post(order_url(order, "order-confirm"))

    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    assert account_balance(f"merchant:{merchant.pk}:available:CNY") == 0


def test_checkout_without_a_csrf_token_is_forbidden(buyer, product):
    stock(product, 3)

    response = zh_client(buyer, enforce_csrf_checks=True).post(
        checkout_url(product), {"quantity": "1", "idempotency_key": "k-1"}
    )

    assert response.status_code == 403
    assert not Order.objects.exists()
    assert available(product) == 3


def test_posts_with_the_csrf_token_from_the_page_are_accepted(delivered):
    order, codes = delivered
    client = zh_client(order.buyer, enforce_csrf_checks=True)
    client.get(order_url(order))
    token = client.cookies["csrftoken"].value

    reveal = client.post(order_url(order, "order-reveal"), {"csrfmiddlewaretoken": token})
    confirm = client.post(order_url(order, "order-confirm"), {"csrfmiddlewaretoken": token})

    assert reveal.status_code == 200 and reveal.context["codes"] == codes
    assert confirm.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.COMPLETED
