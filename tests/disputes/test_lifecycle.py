from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from disputes.models import Attachment, Dispute, DisputeLevel, DisputeStatus, EventKind, Resolution
from disputes.services.lifecycle import (
    dispute_escalate,
    dispute_open,
    dispute_post_message,
    dispute_resolve,
)
from disputes.services.remedies import dispute_answer_offer, dispute_offer
from escrow.models import HoldStatus
from escrow.selectors import account_balance
from escrow.verify import ledger_verify
from kabao.errors import Conflict, DomainError, NotFound
from marketplace.models import Code, CodeStatus, OrderStatus
from marketplace.services.orders import order_codes, order_confirm
from tests.factories import StaffFactory, UserFactory

# Every factory shop has paid the minimum security deposit in through the simulated provider.
DEPOSIT = 100_000
pytestmark = pytest.mark.django_db
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_opening_freezes_the_hold_and_starts_the_merchant_clock(open_dispute, delivered_order, settings):
    delivered_order.refresh_from_db()
    assert delivered_order.status == OrderStatus.DISPUTED
    assert delivered_order.hold.is_frozen is True
    assert (
        open_dispute.status == DisputeStatus.AWAITING_MERCHANT and open_dispute.level == DisputeLevel.MERCHANT
    )
    assert open_dispute.merchant_response_due_at == open_dispute.opened_at + timedelta(seconds=43200)
    assert open_dispute.decision_due_at == open_dispute.opened_at + timedelta(seconds=259200)
    assert [e.kind for e in open_dispute.events.all()] == [EventKind.OPENED]
    assert len(mail.outbox) == 1 and "please answer" in mail.outbox[0].subject


def test_only_the_buyer_opens_and_only_once(delivered_order, buyer):
    with pytest.raises(NotFound):
        dispute_open(order_id=delivered_order.pk, buyer=UserFactory(), reason="other", message="x")
    dispute_open(order_id=delivered_order.pk, buyer=buyer, reason="other", message="x")
    with pytest.raises(Conflict):
        dispute_open(order_id=delivered_order.pk, buyer=buyer, reason="other", message="again")
    assert Dispute.objects.count() == 1


def test_an_unpaid_order_cannot_be_disputed(buyer, stocked_product):
    from marketplace.services.orders import order_create

    order = order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1)
    with pytest.raises(Conflict):
        dispute_open(order_id=order.pk, buyer=buyer, reason="not_received", message="where")
    assert not Dispute.objects.exists()


@pytest.mark.parametrize(("reason", "message"), [("bogus", "x"), ("other", ""), ("other", "x" * 4001)])
def test_bad_input_opens_nothing(delivered_order, buyer, reason, message):
    with pytest.raises(DomainError):
        dispute_open(order_id=delivered_order.pk, buyer=buyer, reason=reason, message=message)
    delivered_order.refresh_from_db()
    assert delivered_order.status == OrderStatus.DELIVERED and not Dispute.objects.exists()


def test_attachments_are_checked_by_content(delivered_order, buyer, settings):
    fake_png = SimpleUploadedFile("shot.png", b"MZ\x90\x00binary", content_type="image/png")
    with pytest.raises(DomainError) as refused:
        dispute_open(
            order_id=delivered_order.pk, buyer=buyer, reason="other", message="x", attachments=[fake_png]
        )
    assert refused.value.code == "file_type_not_allowed"
    settings.KABAO_DISPUTE_ATTACHMENT_MAX_BYTES = 10
    big = SimpleUploadedFile("shot.png", PNG, content_type="image/png")
    with pytest.raises(DomainError) as refused:
        dispute_open(order_id=delivered_order.pk, buyer=buyer, reason="other", message="x", attachments=[big])
    assert refused.value.code == "file_too_large"
    assert not Dispute.objects.exists() and not Attachment.objects.exists()
    settings.KABAO_DISPUTE_ATTACHMENT_MAX_BYTES = 1024
    dispute = dispute_open(
        order_id=delivered_order.pk,
        buyer=buyer,
        reason="other",
        message="x",
        attachments=[SimpleUploadedFile("shot.png", PNG), SimpleUploadedFile("log.txt", "日志".encode())],
    )
    assert sorted(
        Attachment.objects.filter(event__dispute=dispute).values_list("content_type", flat=True)
    ) == ["image/png", "text/plain"]


def test_the_merchant_answer_stops_its_clock_and_feeds_the_shop_figures(
    open_dispute, merchant_owner, merchant
):
    from django.utils import timezone

    from disputes.models import Dispute as DisputeModel
    from marketplace.selectors import merchant_trust_figures

    an_hour_ago = timezone.now() - timedelta(hours=1)
    DisputeModel.objects.filter(pk=open_dispute.pk).update(opened_at=an_hour_ago)
    open_dispute.refresh_from_db()
    dispute = dispute_post_message(dispute=open_dispute, actor=merchant_owner, message="Checking")
    dispute_post_message(dispute=open_dispute, actor=merchant_owner, message="Still checking")
    assert dispute.merchant_first_response_at is not None
    assert dispute.status == DisputeStatus.AWAITING_BUYER
    assert merchant_trust_figures(merchant)["median_first_response_seconds"] in (3600, 3601)


def test_strangers_cannot_read_or_write(open_dispute):
    with pytest.raises(NotFound):
        dispute_post_message(dispute=open_dispute, actor=UserFactory(), message="hi")
    assert open_dispute.events.count() == 1


def test_the_buyer_escalates_only_after_the_first_answer(open_dispute, buyer, merchant_owner):
    with pytest.raises(Conflict):
        dispute_escalate(dispute=open_dispute, actor=buyer)
    dispute_post_message(dispute=open_dispute, actor=merchant_owner, message="No")
    dispute = dispute_escalate(dispute=open_dispute, actor=buyer, message="Please help")
    assert dispute.level == DisputeLevel.PLATFORM and dispute.status == DisputeStatus.ESCALATED
    assert dispute.platform_feedback_due_at == dispute.escalated_at + timedelta(seconds=86400)


def test_a_replacement_is_delivered_at_once_and_accepting_pays_the_merchant(
    open_dispute, buyer, merchant_owner, merchant, delivered_order
):
    before = order_codes(order=delivered_order, actor=buyer)
    dispute = dispute_offer(dispute=open_dispute, actor=merchant_owner, kind="replacement")
    after = order_codes(order=delivered_order, actor=buyer)
    assert len(after) == 1 and after != before
    assert Code.objects.filter(order=delivered_order, replaced_at__isnull=False).count() == 1
    assert dispute.status == DisputeStatus.AWAITING_BUYER and dispute.remedy_objection_due_at is not None

    dispute = dispute_answer_offer(dispute=dispute, actor=buyer, accept=True)

    assert dispute.status == DisputeStatus.RESOLVED and dispute.resolution == Resolution.REPLACEMENT
    delivered_order.refresh_from_db()
    assert delivered_order.status == OrderStatus.COMPLETED
    assert account_balance(f"merchant:{merchant.pk}:available:CNY") == 1999 - 99
    ledger_verify()


def test_a_rejected_replacement_goes_back_to_the_merchant(open_dispute, buyer, merchant_owner):
    dispute_offer(dispute=open_dispute, actor=merchant_owner, kind="replacement")
    dispute = dispute_answer_offer(dispute=open_dispute, actor=buyer, accept=False)
    assert dispute.status == DisputeStatus.AWAITING_MERCHANT and dispute.remedy_objection_due_at is None


def test_the_merchant_may_refund_in_full_at_once(open_dispute, merchant_owner, delivered_order):
    dispute = dispute_offer(dispute=open_dispute, actor=merchant_owner, kind="refund")
    assert dispute.resolution == Resolution.REFUND and dispute.refunded_amount == 1999
    delivered_order.refresh_from_db()
    assert delivered_order.status == OrderStatus.REFUNDED
    assert delivered_order.hold.status == HoldStatus.REFUNDED
    assert account_balance("provider:simulated:CNY") == -DEPOSIT
    ledger_verify()


def test_a_partial_refund_waits_for_the_buyer(open_dispute, merchant_owner, buyer, merchant, delivered_order):
    with pytest.raises(DomainError):
        dispute_offer(dispute=open_dispute, actor=merchant_owner, kind="partial_refund", amount=1999)
    dispute_offer(dispute=open_dispute, actor=merchant_owner, kind="partial_refund", amount=500)
    assert account_balance("provider:simulated:CNY") == -1999 - DEPOSIT  # nothing moved yet
    dispute = dispute_answer_offer(dispute=open_dispute, actor=buyer, accept=True)
    assert dispute.resolution == Resolution.PARTIAL_REFUND and dispute.refunded_amount == 500
    delivered_order.refresh_from_db()
    assert delivered_order.status == OrderStatus.PARTIALLY_REFUNDED
    # 1499 to the merchant minus 5 % (74): 1425; the buyer's 500 back to the provider
    assert account_balance(f"merchant:{merchant.pk}:available:CNY") == 1425
    assert account_balance("provider:simulated:CNY") == -1499 - DEPOSIT
    ledger_verify()


def test_staff_decide_and_a_second_decision_is_409(open_dispute, merchant_owner, buyer, merchant):
    staff = StaffFactory()
    with pytest.raises(DomainError) as refused:
        dispute_resolve(dispute=open_dispute, actor=merchant_owner, outcome="release")
    assert refused.value.status == 403
    with pytest.raises(DomainError):
        dispute_resolve(dispute=open_dispute, actor=buyer, outcome="refund")
    dispute = dispute_resolve(dispute=open_dispute, actor=staff, outcome="release", note="Code was fine")
    assert dispute.resolution == Resolution.RELEASE
    assert account_balance(f"merchant:{merchant.pk}:available:CNY") == 1900
    with pytest.raises(Conflict):
        dispute_resolve(dispute=open_dispute, actor=staff, outcome="refund")
    assert account_balance(f"merchant:{merchant.pk}:available:CNY") == 1900
    ledger_verify()


def test_an_after_sale_claim_takes_the_money_back_from_the_merchant(
    delivered_order, buyer, merchant, django_capture_on_commit_callbacks
):
    order_confirm(order=delivered_order, actor=buyer)
    assert account_balance(f"merchant:{merchant.pk}:available:CNY") == 1900
    dispute = dispute_open(order_id=delivered_order.pk, buyer=buyer, reason="invalid_code", message="used")
    assert dispute.is_after_sale
    with django_capture_on_commit_callbacks(execute=True):
        dispute_resolve(dispute=dispute, actor=StaffFactory(), outcome="refund")
    # the merchant's 1900, then 99 from its security deposit (先行赔付), go back to the buyer
    assert account_balance(f"merchant:{merchant.pk}:available:CNY") == 0
    assert account_balance(f"merchant:{merchant.pk}:deposit:CNY") == DEPOSIT - 99
    assert account_balance("platform:guarantee:CNY") == 0
    assert any("保证金" in message.subject for message in mail.outbox)  # asked to top up
    assert account_balance("provider:simulated:CNY") == -DEPOSIT
    ledger_verify()


def test_the_platform_guarantee_pays_what_a_shop_cannot(buyer, settings, pay):
    from marketplace.services.orders import order_create
    from tests.factories import MerchantFactory, ProductFactory, stock

    settings.KABAO_MIN_MERCHANT_DEPOSIT = 50
    shop = MerchantFactory(deposit=50)
    product = ProductFactory(merchant=shop)
    stock(product, 1)
    order = pay(order_create(buyer=buyer, product_id=product.pk, quantity=1))
    order_confirm(order=order, actor=buyer)
    dispute = dispute_open(order_id=order.pk, buyer=buyer, reason="invalid_code", message="used")

    dispute_resolve(dispute=dispute, actor=StaffFactory(), outcome="refund")

    # 1900 from available, the whole deposit of 50, and the last 49 from the platform's guarantee
    assert account_balance(f"merchant:{shop.pk}:available:CNY") == 0
    assert account_balance(f"merchant:{shop.pk}:deposit:CNY") == 0
    assert account_balance("platform:guarantee:CNY") == -49
    ledger_verify()


def test_the_after_sale_window_closes(delivered_order, buyer, settings):
    settings.KABAO_AFTER_SALE_SECONDS = 0
    order_confirm(order=delivered_order, actor=buyer)
    with pytest.raises(Conflict) as refused:
        dispute_open(order_id=delivered_order.pk, buyer=buyer, reason="invalid_code", message="used")
    assert refused.value.code == "after_sale_window_closed"


def test_opted_in_shops_replace_an_invalid_code_automatically(delivered_order, buyer, stocked_product):
    stocked_product.auto_replace_invalid = True
    stocked_product.save()
    dispute = dispute_open(order_id=delivered_order.pk, buyer=buyer, reason="invalid_code", message="used")
    assert dispute.status == DisputeStatus.AWAITING_BUYER
    assert [e.kind for e in dispute.events.all()] == [EventKind.OPENED, EventKind.REPLACEMENT_DELIVERED]
    assert Code.objects.filter(order=delivered_order, status=CodeStatus.SOLD).count() == 2


def test_a_replacement_without_stock_is_refused_and_changes_nothing(
    open_dispute, merchant_owner, delivered_order
):
    Code.objects.filter(status=CodeStatus.AVAILABLE).update(status=CodeStatus.VOID)
    with pytest.raises(Conflict):
        dispute_offer(dispute=open_dispute, actor=merchant_owner, kind="replacement")
    open_dispute.refresh_from_db()
    assert open_dispute.status == DisputeStatus.AWAITING_MERCHANT
    assert not Code.objects.filter(replaced_at__isnull=False).exists()
    with transaction.atomic():
        assert open_dispute.events.count() == 1
