"""The shop's and staff's pages through Django's test client (Chinese by default)."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import reverse

from accounts.models import ApiToken
from accounts.services import api_token_create
from escrow.selectors import account_balance
from escrow.services import hold_set_frozen
from marketplace.models import Code, CodeStatus, OrderStatus, Payment, Product
from marketplace.payments.simulated import pay_url
from marketplace.services.orders import order_create
from marketplace.services.transitions import order_lock, order_transition
from merchants.models import Merchant, MerchantStatus, Payout, PayoutStatus
from merchants.services import payout_request
from tests.api.helpers import database_state
from tests.factories import MerchantFactory, ProductFactory, StaffFactory, owner_of, stock
from tests.merchants.helpers import completed_sale, refund_after_release, withdraw_everything

pytestmark = pytest.mark.django_db


def zh(user=None, **kwargs) -> Client:
    client = Client(headers={"accept-language": "zh-CN"}, **kwargs)
    if user is not None:
        client.force_login(user)
    return client


def url(name: str, **kwargs) -> str:
    return reverse(f"merchant:{name}", kwargs=kwargs)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- application and staff review -----------------------------------------------------------


def test_a_user_applies_and_sees_the_application_pending(buyer):
    client = zh(buyer)
    assert client.get(url("dashboard"))["Location"] == url("apply")

    response = client.post(
        url("apply"),
        {"shop_name": "幸运卡铺", "contact": "微信 lucky88", "sells": "Steam 充值卡"},
        follow=True,
    )

    shop = Merchant.objects.get()
    assert (shop.shop_name, shop.contact, shop.sells, shop.status) == (
        "幸运卡铺",
        "微信 lucky88",
        "Steam 充值卡",
        MerchantStatus.PENDING,
    )
    assert response.redirect_chain == [(url("dashboard"), 302)]
    assert messages_of(response) == ["感谢申请，平台工作人员将审核您的申请。"]
    assert '<span class="status status-pending" id="shop-status">待审核</span>' in response.text
    assert "平台工作人员正在审核您的申请" in response.text


def test_an_incomplete_application_is_400_and_stores_nothing(buyer):
    response = zh(buyer).post(url("apply"), {"shop_name": "幸运卡铺", "contact": "", "sells": ""})

    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"contact", "sells"}
    assert not Merchant.objects.exists()


def test_a_taken_shop_name_is_refused_on_the_page(buyer):
    MerchantFactory(shop_name="幸运卡铺")

    response = zh(buyer).post(url("apply"), {"shop_name": "幸运卡铺", "contact": "QQ 1", "sells": "卡"})

    assert response.status_code == 409
    assert messages_of(response) == ["该店铺名称已被使用。"]
    assert Merchant.objects.count() == 1


def test_the_apply_page_needs_a_login():
    response = Client().get(url("apply"))

    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:login"))


def test_staff_approve_an_application_on_their_page(mailoutbox, django_capture_on_commit_callbacks):
    shop = MerchantFactory(
        status=MerchantStatus.PENDING, shop_name="幸运卡铺", contact="QQ 8", sells="Steam 卡"
    )
    staff = zh(StaffFactory())

    page = staff.get(url("staff-merchants"))
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(url("staff-merchant-approve", merchant_id=shop.pk), follow=True)

    assert "<h2>幸运卡铺</h2>" in page.text and "<dd>QQ 8</dd>" in page.text
    assert owner_of(shop).email in page.text
    shop.refresh_from_db()
    assert shop.status == MerchantStatus.ACTIVE
    assert messages_of(response) == ["已通过 幸运卡铺 的申请。"]
    assert [mail.subject for mail in mailoutbox] == ["您的店铺 幸运卡铺 已通过审核"]


def test_staff_reject_with_a_reason_and_the_applicant_applies_again(
    mailoutbox, django_capture_on_commit_callbacks
):
    shop = MerchantFactory(
        status=MerchantStatus.PENDING, shop_name="幸运卡铺", contact="QQ 8", sells="Steam 卡"
    )
    staff = zh(StaffFactory())
    nothing = staff.post(url("staff-merchant-reject", merchant_id=shop.pk), {"reason": " "}, follow=True)
    shop.refresh_from_db()
    assert (shop.status, messages_of(nothing)) == (MerchantStatus.PENDING, ["请说明拒绝申请的原因。"])

    with django_capture_on_commit_callbacks(execute=True):
        staff.post(url("staff-merchant-reject", merchant_id=shop.pk), {"reason": "请说明卡密来源"})

    shop.refresh_from_db()
    assert (shop.status, shop.rejection_reason) == (MerchantStatus.REJECTED, "请说明卡密来源")
    assert [mail.subject for mail in mailoutbox] == ["您为 幸运卡铺 提交的申请未通过"]
    owner = zh(owner_of(shop))
    status_page = owner.get(url("dashboard"))
    assert "<p><strong>原因:</strong> 请说明卡密来源</p>" in status_page.text
    form = owner.get(url("apply"))
    assert form.context["form"].initial == {"shop_name": "幸运卡铺", "contact": "QQ 8", "sells": "Steam 卡"}
    owner.post(url("apply"), {"shop_name": "幸运卡铺", "contact": "QQ 8", "sells": "Steam 卡，来自官方渠道"})
    shop.refresh_from_db()
    assert (shop.status, shop.sells) == (MerchantStatus.PENDING, "Steam 卡，来自官方渠道")


def test_staff_pages_are_for_staff_only(buyer, merchant):
    pending = MerchantFactory(status=MerchantStatus.PENDING)
    client = zh(owner_of(merchant))

    for response in (
        client.get(url("staff-merchants")),
        client.get(url("staff-payouts")),
        client.post(url("staff-merchant-approve", merchant_id=pending.pk)),
    ):
        assert response.status_code == 403
        assert "<p>此页面仅供卡保工作人员使用。</p>" in response.text
    pending.refresh_from_db()
    assert pending.status == MerchantStatus.PENDING


def test_the_navigation_offers_each_role_its_pages(buyer, merchant):
    as_buyer = zh(buyer).get(reverse("marketplace:catalogue")).text
    as_merchant = zh(owner_of(merchant)).get(reverse("marketplace:catalogue")).text
    as_staff = zh(StaffFactory()).get(reverse("marketplace:catalogue")).text

    assert f'<a href="{url("apply")}">在卡保开店</a>' in as_buyer
    assert f'<a href="{url("dashboard")}">我的店铺</a>' in as_merchant
    assert f'<a href="{url("staff-merchants")}">开店申请</a>' in as_staff
    assert f'<a href="{url("staff-payouts")}">提现</a>' in as_staff
    assert url("staff-merchants") not in as_merchant


# --- dashboard ------------------------------------------------------------------------------


def test_the_dashboard_shows_balances_disputes_sales_and_orders(buyer, merchant, stocked_product, pay):
    completed_sale(buyer, stocked_product, pay, quantity=2)  # 3799 available
    delivered = pay(order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1))  # 1999 held
    disputed = pay(order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1))
    with transaction.atomic():  # as the disputes app opens a dispute: status and a frozen hold
        order_transition(order=order_lock(disputed.pk), to=OrderStatus.DISPUTED)
        hold_set_frozen(hold=disputed.hold, is_frozen=True)
    unpaid = order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1)
    payout_request(merchant=merchant, actor=owner_of(merchant), amount=1000)

    response = zh(owner_of(merchant)).get(url("dashboard"))

    assert response.status_code == 200
    text = response.text
    assert "<dt>托管中</dt><dd>¥39.98</dd>" in text
    assert "<dt>可提现</dt><dd>¥27.99</dd>" in text
    assert "<dt>保证金</dt><dd>¥1,000.00</dd>" in text
    assert "<dt>提现处理中</dt><dd>¥10.00</dd>" in text
    assert '<dd id="open-disputes">1</dd>' in text
    assert 'id="deposit-notice"' not in text
    assert text.count('class="bar"') == 1  # today's sales: one bar
    assert "¥79.96" in text  # 3998 + 1999 + 1999 paid today (the unpaid order is no sale)
    for order in (delivered, disputed, unpaid):
        assert f'<a href="{reverse("marketplace:order", args=[order.pk])}">#{order.pk}</a>' in text
    assert "将结算给您于" in text and "未付款将取消于" in text
    assert '<span class="muted">(因争议冻结)</span>' in text


def test_the_dashboard_filters_orders_by_status(buyer, merchant, stocked_product, pay):
    delivered = pay(order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1))
    unpaid = order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1)

    response = zh(owner_of(merchant)).get(url("dashboard"), {"status": "pending_payment"})

    assert [row["order"] for row in response.context["orders"]] == [unpaid]
    assert delivered not in [row["order"] for row in response.context["orders"]]


def test_the_dashboard_asks_to_top_up_a_short_deposit(buyer, merchant, stocked_product, pay):
    order = completed_sale(buyer, stocked_product, pay)
    withdraw_everything(merchant, 1900)
    refund_after_release(order, 1999)

    response = zh(owner_of(merchant)).get(url("dashboard"))

    assert 'id="deposit-notice"' in response.text
    assert "请补缴保证金。" in response.text
    assert (
        "当前为 ¥980.01，要求 ¥1,000.00：在您补缴 ¥19.99 之前，商品不会上架，提现也已暂停。" in response.text
    )


def test_a_pending_shop_sees_only_its_status(merchant):
    shop = MerchantFactory(status=MerchantStatus.PENDING)
    client = zh(owner_of(shop))

    assert 'id="shop-status">待审核</span>' in client.get(url("dashboard")).text
    for name in ("products", "deposit", "payouts", "product-new"):
        assert client.get(url(name))["Location"] == url("dashboard")


# --- products -------------------------------------------------------------------------------


def test_a_product_is_created_and_edited_in_the_browser(merchant):
    client = zh(owner_of(merchant))

    created = client.post(
        url("product-new"),
        {
            "title": "Steam ¥100",
            "price": "95.5",
            "face_value": "¥100",
            "code_pattern": r"[A-Z]{4}-\d{4}",
            "protection_hours": "2",
            "auto_replace_invalid": "on",
        },
    )

    product = Product.objects.get()
    assert created["Location"] == url("inventory", product_id=product.pk)
    assert (
        product.price,
        product.code_pattern,
        product.auto_confirm_seconds,
        product.auto_replace_invalid,
    ) == (
        9550,
        r"[A-Z]{4}-\d{4}",
        7200,
        True,
    )
    edit = client.get(url("product-edit", product_id=product.pk))
    assert 'value="95.50"' in edit.text
    client.post(
        url("product-edit", product_id=product.pk),
        {"title": "Steam ¥100", "price": "96", "protection_hours": ""},
    )
    product.refresh_from_db()
    assert (
        product.price,
        product.auto_confirm_seconds,
        product.auto_replace_invalid,
        product.code_pattern,
    ) == (
        9600,
        None,
        False,
        "",
    )


@pytest.mark.parametrize(
    ("price", "error"),
    [
        ("0", "金额必须大于零。"),
        ("-5", "金额必须大于零。"),
        ("1.234", "请输入金额，例如 48 或 48.50。"),
        ("abc", "请输入金额，例如 48 或 48.50。"),
    ],
)
def test_a_bad_price_is_400_and_creates_nothing(merchant, price, error):
    response = zh(owner_of(merchant)).post(url("product-new"), {"title": "Card", "price": price})

    assert response.status_code == 400
    assert response.context["form"].errors == {"price": [error]}
    assert not Product.objects.exists()


def test_a_rule_of_the_service_is_shown_on_the_field(merchant):
    response = zh(owner_of(merchant)).post(
        url("product-new"), {"title": "Card", "price": "10", "code_pattern": "[A-", "protection_hours": "400"}
    )

    assert response.status_code == 400
    assert response.context["form"].errors == {
        "code_pattern": ["请检查此项。"],
        "protection_hours": ["请检查此项。"],
    }
    assert not Product.objects.exists()


def test_products_are_paused_and_unpaused(merchant, stocked_product):
    client = zh(owner_of(merchant))

    paused = client.post(
        url("product-active", product_id=stocked_product.pk), {"is_active": "0"}, follow=True
    )
    stocked_product.refresh_from_db()
    assert (stocked_product.is_active, messages_of(paused)) == (False, ["商品已暂停销售。"])
    assert "已暂停" in paused.text
    client.post(url("product-active", product_id=stocked_product.pk), {"is_active": "1"})
    stocked_product.refresh_from_db()
    assert stocked_product.is_active is True


def test_another_shops_product_pages_are_404(merchant):
    foreign = ProductFactory(merchant=MerchantFactory())
    client = zh(owner_of(merchant))

    for response in (
        client.get(url("product-edit", product_id=foreign.pk)),
        client.get(url("inventory", product_id=foreign.pk)),
        client.post(url("product-active", product_id=foreign.pk), {"is_active": "0"}),
        client.post(url("inventory", product_id=foreign.pk), {"codes": "AAAA-0001"}),
    ):
        assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.is_active and not Code.objects.exists()


# --- inventory ------------------------------------------------------------------------------


def test_pasted_codes_are_checked_and_the_refused_lines_named(merchant):
    product = ProductFactory(merchant=merchant, code_pattern=r"[A-Z]{4}-\d{4}")
    client = zh(owner_of(merchant))

    response = client.post(
        url("inventory", product_id=product.pk), {"codes": "AAAA-0001\nbad\nAAAA-0002\nAAAA-0001\nalso bad\n"}
    )

    assert response.status_code == 201
    assert "已添加 2 个卡密。" in response.text
    assert "3 行被拒绝。" in response.text
    assert "<p><strong>不符合商品的卡密格式</strong> — 行号 2, 5</p>" in response.text
    assert "<p><strong>与本次上传中前面的行重复</strong> — 行号 4</p>" in response.text
    assert "<dt>库存</dt><dd>2</dd>" in response.text
    assert (
        "<code>A…1</code>" not in response.text and "AAAA-0001" not in response.text.split("upload-report")[0]
    )


def test_a_file_is_uploaded_from_the_page(merchant, product):
    upload = SimpleUploadedFile("codes.txt", "\ufeffFILE-0001\r\nFILE-0002\r\n".encode(), "text/plain")

    response = zh(owner_of(merchant)).post(url("inventory", product_id=product.pk), {"file": upload})

    assert response.status_code == 201
    assert sorted(Code.objects.values_list("masked", flat=True)) == ["FI…01", "FI…02"]


@pytest.mark.parametrize(
    ("upload", "status", "message"),
    [
        (SimpleUploadedFile("codes.xlsx", b"PK"), 400, "请上传 .txt 或 .csv 文件，每行一个卡密。"),
        (
            SimpleUploadedFile("codes.txt", "A\n".encode("utf-16")),
            400,
            "卡密必须是 UTF-8 编码的文本。请将文件另存为 UTF-8 后重新上传。",
        ),
    ],
)
def test_a_bad_file_is_refused_with_a_clear_message(merchant, product, upload, status, message):
    response = zh(owner_of(merchant)).post(url("inventory", product_id=product.pk), {"file": upload})

    assert response.status_code == status
    assert messages_of(response) == [message]
    assert not Code.objects.exists()


def test_an_empty_upload_asks_for_codes(merchant, product):
    response = zh(owner_of(merchant)).post(url("inventory", product_id=product.pk), {"codes": "  \n "})

    assert response.status_code == 400
    assert response.context["form"].non_field_errors() == ["请粘贴卡密或选择文件。"]


def test_an_upload_over_the_size_limit_is_413_before_it_is_read(merchant, product, settings):
    settings.KABAO_MAX_UPLOAD_BYTES = 300

    response = zh(owner_of(merchant)).post(
        url("inventory", product_id=product.pk), {"codes": "\n".join(f"BIG-{n:05d}" for n in range(100))}
    )

    assert response.status_code == 413
    assert "上传内容超过 0 MiB，请分成多次上传。本次未保存任何卡密。" in response.text
    assert not Code.objects.exists()


def test_a_paste_over_djangos_form_limit_is_413_with_a_hint(merchant, product, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 200

    response = zh(owner_of(merchant)).post(
        url("inventory", product_id=product.pk), {"codes": "\n".join(f"BIG-{n:05d}" for n in range(100))}
    )

    assert response.status_code == 413
    assert "粘贴的内容过大，请改为上传文件。本次未保存任何卡密。" in response.text
    assert not Code.objects.exists()


def test_the_upload_form_is_protected_from_cross_site_posts(merchant, product):
    client = zh(owner_of(merchant), enforce_csrf_checks=True)

    response = client.post(url("inventory", product_id=product.pk), {"codes": "CSRF-0001"})

    assert response.status_code == 403
    assert not Code.objects.exists()


def test_the_inventory_shows_masked_codes_and_voids_the_chosen_ones(buyer, merchant, product):
    clear = stock(product, 3)
    order_create(buyer=buyer, product_id=product.pk, quantity=1)
    reserved = Code.objects.get(status=CodeStatus.RESERVED)
    available = list(Code.objects.filter(status=CodeStatus.AVAILABLE).order_by("id"))
    client = zh(owner_of(merchant))

    page = client.get(url("inventory", product_id=product.pk))

    assert all(code not in page.text for code in clear)
    assert f'<input type="checkbox" name="codes" value="{reserved.pk}"' not in page.text
    assert f'<input type="checkbox" name="codes" value="{available[0].pk}"' in page.text
    voided = client.post(url("codes-void", product_id=product.pk), {"codes": [available[0].pk]}, follow=True)
    assert messages_of(voided) == ["已作废 1 个卡密。"]
    assert dict(Code.objects.values_list("pk", "status")) == {
        reserved.pk: CodeStatus.RESERVED,
        available[0].pk: CodeStatus.VOID,
        available[1].pk: CodeStatus.AVAILABLE,
    }
    refused = client.post(url("codes-void", product_id=product.pk), {"codes": [reserved.pk]}, follow=True)
    assert messages_of(refused) == ["只能作废库存中的卡密；本次未作废任何卡密。"]
    assert Code.objects.get(pk=reserved.pk).status == CodeStatus.RESERVED


def test_voiding_another_shops_code_is_404(merchant, product):
    foreign = ProductFactory(merchant=MerchantFactory())
    stock(foreign, 1)
    theirs = Code.objects.get()

    response = zh(owner_of(merchant)).post(url("codes-void", product_id=product.pk), {"codes": [theirs.pk]})

    assert response.status_code == 404
    assert Code.objects.get().status == CodeStatus.AVAILABLE


# --- deposit --------------------------------------------------------------------------------


def test_the_deposit_is_paid_through_the_gateway_pages(django_capture_on_commit_callbacks):
    shop = MerchantFactory(deposit=0)
    client = zh(owner_of(shop))
    page = client.get(url("deposit"))
    assert "保证金达到要求之前，商品不会上架，提现也已暂停。" in page.text
    assert 'value="1000.00"' in page.text  # what is missing, in yuan

    started = client.post(url("deposit"), {"amount": "1000"})
    payment = Payment.objects.get()
    assert started["Location"] == pay_url(payment.reference)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(pay_url(payment.reference), {"outcome": "succeeded"})

    assert account_balance(f"merchant:{shop.pk}:deposit:CNY") == 100000
    after = client.get(url("deposit"))
    assert "您的保证金已达到要求，商品可以上架。" in after.text
    assert "<dt>已缴保证金</dt><dd>¥1,000.00</dd>" in after.text


def test_a_deposit_payment_without_its_webhook_is_checked_again(django_capture_on_commit_callbacks):
    shop = MerchantFactory(deposit=0)
    client = zh(owner_of(shop))
    client.post(url("deposit"), {"amount": "1000"})
    payment = Payment.objects.get()
    client.post(pay_url(payment.reference), {"outcome": "succeeded", "drop_webhook": "1"})
    assert account_balance(f"merchant:{shop.pk}:deposit:CNY") == 0

    response = client.post(url("deposit-refresh", payment_id=payment.pk), follow=True)

    assert messages_of(response) == ["已收到付款，保证金已更新。"]
    assert account_balance(f"merchant:{shop.pk}:deposit:CNY") == 100000


def test_a_deposit_of_nothing_is_400(merchant):
    response = zh(owner_of(merchant)).post(url("deposit"), {"amount": "0"})

    assert response.status_code == 400
    assert response.context["form"].errors == {"amount": ["金额必须大于零。"]}
    assert not Payment.objects.filter(purpose="deposit", merchant=merchant, status="created").exists()


# --- payouts --------------------------------------------------------------------------------


def test_a_payout_is_requested_approved_and_paid_in_the_browser(
    buyer, merchant, stocked_product, pay, mailoutbox, django_capture_on_commit_callbacks
):
    completed_sale(buyer, stocked_product, pay, quantity=2)  # 3799 available
    owner = zh(owner_of(merchant))
    staff = zh(StaffFactory())

    requested = owner.post(url("payouts"), {"amount": "30"}, follow=True)
    assert messages_of(requested) == ["提现申请已提交，平台工作人员将进行审核。"]
    payout = Payout.objects.get()
    queue = staff.get(url("staff-payouts"))
    assert f"{merchant.shop_name} · ¥30.00" in queue.text and "店铺可提现余额 ¥7.99" in queue.text
    staff.post(url("staff-payout-decide", payout_id=payout.pk, decision="approve"))
    with django_capture_on_commit_callbacks(execute=True):
        staff.post(
            url("staff-payout-decide", payout_id=payout.pk, decision="paid"), {"external_reference": "ICBC-7"}
        )

    payout.refresh_from_db()
    assert (payout.status, payout.external_reference) == (PayoutStatus.PAID, "ICBC-7")
    history = owner.get(url("payouts"))
    assert re.search(r"已申请.*已批准.*已打款", history.text, re.S)
    assert "转账流水号: ICBC-7" in history.text
    assert [mail.subject for mail in mailoutbox] == ["您 ¥30.00 的提现已打款"]


def test_a_payout_is_rejected_on_the_staff_page(buyer, merchant, stocked_product, pay):
    completed_sale(buyer, stocked_product, pay)
    payout = payout_request(merchant=merchant, actor=owner_of(merchant), amount=1900)
    staff = zh(StaffFactory())

    staff.post(url("staff-payout-decide", payout_id=payout.pk, decision="reject"), {"reason": "账户名不符"})

    payout.refresh_from_db()
    assert (payout.status, payout.rejection_reason) == (PayoutStatus.REJECTED, "账户名不符")
    assert "原因: 账户名不符" in zh(owner_of(merchant)).get(url("payouts")).text


def test_a_payout_above_available_is_refused_on_the_page(buyer, merchant, stocked_product, pay):
    completed_sale(buyer, stocked_product, pay)  # 1900 available
    client = zh(owner_of(merchant))
    before = database_state()

    too_much = client.post(url("payouts"), {"amount": "19.01"})
    nothing = client.post(url("payouts"), {"amount": "0"})

    assert (too_much.status_code, messages_of(too_much)) == (409, ["超出了您的可提现余额。"])
    assert (nothing.status_code, nothing.context["form"].errors) == (400, {"amount": ["金额必须大于零。"]})
    assert database_state() == before


def test_an_unknown_staff_decision_is_404(buyer, merchant, stocked_product, pay):
    completed_sale(buyer, stocked_product, pay)
    payout = payout_request(merchant=merchant, actor=owner_of(merchant), amount=100)

    response = zh(StaffFactory()).post(f"/staff/payouts/{payout.pk}/erase/")

    assert response.status_code == 404
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.REQUESTED


# --- API tokens -----------------------------------------------------------------------------


def test_a_token_is_shown_once_works_and_is_revoked(merchant):
    owner = owner_of(merchant)
    client = zh(owner)

    created = client.post(url("tokens"), {"name": "库存同步"})

    key = created.context["new_key"]
    assert created.status_code == 200 and key in created.text
    assert "no-store" in created["Cache-Control"]
    assert key not in client.get(url("tokens")).text
    api = Client(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/merchant/balance/").status_code == 200
    token = ApiToken.objects.get(user=owner, name="库存同步")
    client.post(url("token-revoke", token_id=token.pk))
    assert api.get("/api/v1/merchant/balance/").status_code == 401


def test_another_users_token_cannot_be_revoked(merchant):
    other = MerchantFactory()
    token, _key = api_token_create(user=owner_of(other), name="theirs")

    response = zh(owner_of(merchant)).post(url("token-revoke", token_id=token.pk))

    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_a_user_without_a_shop_is_sent_to_apply(buyer):
    client = zh(buyer)

    for name in ("dashboard", "tokens", "payouts", "products"):
        assert client.get(url(name))["Location"] == url("apply")
