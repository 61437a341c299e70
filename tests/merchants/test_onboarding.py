"""Applying for a shop, staff's decision, and the email that tells the applicant."""

import pytest
from django.utils import timezone

from kabao.errors import DomainError
from merchants.models import Membership, MembershipRole, Merchant, MerchantStatus
from merchants.services import merchant_apply, merchant_approve, merchant_reapply, merchant_reject
from tests.factories import MerchantFactory, StaffFactory, UserFactory, owner_of

pytestmark = pytest.mark.django_db


def shop_row(merchant: Merchant) -> tuple:
    merchant.refresh_from_db()
    return (
        merchant.shop_name,
        merchant.contact,
        merchant.sells,
        merchant.status,
        merchant.rejection_reason,
        merchant.approved_by_id,
        merchant.rejected_by_id,
    )


@pytest.fixture
def applicant():
    return UserFactory(email="applicant@example.com")


@pytest.fixture
def application(applicant):
    return merchant_apply(
        owner=applicant, shop_name=" Lucky Cards ", contact=" WeChat lucky88 ", sells=" Steam and PSN cards "
    )


def test_an_application_opens_a_pending_shop_owned_by_the_applicant(applicant, application):
    assert shop_row(application) == (
        "Lucky Cards",
        "WeChat lucky88",
        "Steam and PSN cards",
        MerchantStatus.PENDING,
        "",
        None,
        None,
    )
    membership = Membership.objects.get(merchant=application)
    assert (membership.user_id, membership.role) == (applicant.pk, MembershipRole.OWNER)


@pytest.mark.parametrize(
    ("values", "message", "fields"),
    [
        (
            {"shop_name": "  "},
            "A shop name of 1 to 80 characters is required.",
            {"shop_name": ["1 to 80 characters"]},
        ),
        (
            {"shop_name": "x" * 81},
            "A shop name of 1 to 80 characters is required.",
            {"shop_name": ["1 to 80 characters"]},
        ),
        (
            {"shop_name": "Fine", "contact": "c" * 121},
            "The application is not valid.",
            {"contact": ["at most 120 characters"]},
        ),
        (
            {"shop_name": "Fine", "sells": "s" * 1001},
            "The application is not valid.",
            {"sells": ["at most 1000 characters"]},
        ),
    ],
)
def test_an_invalid_application_stores_nothing(applicant, values, message, fields):
    with pytest.raises(DomainError) as refused:
        merchant_apply(owner=applicant, **values)

    assert (refused.value.code, refused.value.message, refused.value.fields) == ("invalid", message, fields)
    assert not Merchant.objects.exists() and not Membership.objects.exists()


def test_approval_activates_the_shop_and_emails_the_owner(
    application, mailoutbox, django_capture_on_commit_callbacks
):
    staff = StaffFactory()

    with django_capture_on_commit_callbacks(execute=True):
        merchant_approve(merchant=application, actor=staff)

    assert shop_row(application)[3:] == (MerchantStatus.ACTIVE, "", staff.pk, None)
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert (mail.to, mail.subject) == (["applicant@example.com"], "您的店铺 Lucky Cards 已通过审核")
    assert mail.body == (
        "您的店铺 Lucky Cards 已开通。请缴纳保证金，然后上架商品并上传卡密：http://127.0.0.1:8000/merchant/"
    )


def test_approving_an_active_shop_again_sends_nothing(
    application, mailoutbox, django_capture_on_commit_callbacks
):
    staff = StaffFactory()
    merchant_approve(merchant=application, actor=staff)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        merchant_approve(merchant=application, actor=StaffFactory())

    assert callbacks == []
    assert shop_row(application)[5] == staff.pk


def test_rejection_keeps_the_reason_and_emails_it(
    application, mailoutbox, django_capture_on_commit_callbacks
):
    staff = StaffFactory()

    with django_capture_on_commit_callbacks(execute=True):
        merchant_reject(merchant=application, actor=staff, reason="  Tell us where your codes come from.  ")

    assert shop_row(application)[3:] == (
        MerchantStatus.REJECTED,
        "Tell us where your codes come from.",
        None,
        staff.pk,
    )
    assert application.rejected_at is not None
    assert [(mail.to, mail.subject) for mail in mailoutbox] == [
        (["applicant@example.com"], "您为 Lucky Cards 提交的申请未通过")
    ]
    assert mailoutbox[0].body == (
        "原因：Tell us where your codes come from.\n\n您可以修改申请后重新提交：http://127.0.0.1:8000/merchant/"
    )


@pytest.mark.parametrize("reason", ["", "   ", "r" * 501])
def test_a_rejection_needs_a_reason(application, reason, mailoutbox):
    with pytest.raises(DomainError) as refused:
        merchant_reject(merchant=application, actor=StaffFactory(), reason=reason)

    assert (refused.value.code, refused.value.fields) == ("invalid", {"reason": ["1 to 500 characters"]})
    assert shop_row(application)[3] == MerchantStatus.PENDING
    assert mailoutbox == []


@pytest.mark.parametrize("status", [MerchantStatus.ACTIVE, MerchantStatus.REJECTED, MerchantStatus.SUSPENDED])
def test_only_a_pending_shop_can_be_rejected(status):
    shop = MerchantFactory(status=status)
    before = shop_row(shop)

    with pytest.raises(DomainError) as refused:
        merchant_reject(merchant=shop, actor=StaffFactory(), reason="no")

    assert (refused.value.code, refused.value.status) == ("invalid_state", 409)
    assert refused.value.message == f"A {status} shop cannot be rejected."
    assert shop_row(shop) == before


@pytest.mark.parametrize("decide", ["approve", "reject"])
def test_only_staff_decide(application, decide):
    owner = owner_of(application)
    before = shop_row(application)

    with pytest.raises(DomainError) as refused:
        if decide == "approve":
            merchant_approve(merchant=application, actor=owner)
        else:
            merchant_reject(merchant=application, actor=owner, reason="no")

    assert (refused.value.code, refused.value.status) == ("permission_denied", 403)
    assert refused.value.message == f"Only staff {decide} merchants."
    assert shop_row(application) == before


def test_the_owner_of_a_rejected_shop_applies_again(applicant, application):
    merchant_reject(merchant=application, actor=StaffFactory(), reason="Which games?")

    merchant_reapply(
        merchant=application, actor=applicant, shop_name="Lucky Cards HK", contact="QQ 123", sells="Genshin"
    )

    assert shop_row(application) == (
        "Lucky Cards HK",
        "QQ 123",
        "Genshin",
        MerchantStatus.PENDING,
        "Which games?",
        None,
        application.rejected_by_id,
    )
    merchant_approve(merchant=application, actor=StaffFactory())
    assert shop_row(application)[3:5] == (MerchantStatus.ACTIVE, "")


def test_only_the_owner_reapplies_and_only_after_a_rejection(applicant, application):
    with pytest.raises(DomainError) as not_rejected:
        merchant_reapply(merchant=application, actor=applicant, shop_name="X", contact="", sells="")
    merchant_reject(merchant=application, actor=StaffFactory(), reason="no")
    before = shop_row(application)
    with pytest.raises(DomainError) as stranger:
        merchant_reapply(merchant=application, actor=UserFactory(), shop_name="X", contact="", sells="")

    assert (not_rejected.value.code, not_rejected.value.status) == ("invalid_state", 409)
    assert (stranger.value.code, stranger.value.status) == ("not_found", 404)
    assert shop_row(application) == before


def test_a_reapplication_cannot_take_another_shops_name(applicant, application):
    MerchantFactory(shop_name="Taken")
    merchant_reject(merchant=application, actor=StaffFactory(), reason="no")
    before = shop_row(application)

    with pytest.raises(DomainError) as refused:
        merchant_reapply(merchant=application, actor=applicant, shop_name="Taken", contact="", sells="")

    assert refused.value.code == "shop_name_taken"
    assert shop_row(application) == before


def test_a_failed_email_does_not_undo_the_decision(application, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 1  # nothing listens: the send fails

    with django_capture_on_commit_callbacks(execute=True):
        merchant_approve(merchant=application, actor=StaffFactory())

    assert shop_row(application)[3] == MerchantStatus.ACTIVE
    assert application.approved_at <= timezone.now()
