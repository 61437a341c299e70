"""The security deposit paid in through the payment provider, and what a shop below it cannot do."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from escrow.models import Posting
from escrow.selectors import account_balance
from escrow.verify import ledger_verify
from kabao.errors import DomainError
from marketplace.models import Payment, PaymentPurpose, PaymentStatus, SimulatedCharge
from marketplace.selectors import products_on_sale
from marketplace.services.deposits import deposit_payment_start
from marketplace.services.inventory import codes_upload
from marketplace.services.orders import order_create, payment_captured, payment_failed
from marketplace.services.payments import deposit_payments_reconcile, payment_refresh, simulated_gateway_pay
from marketplace.services.products import product_create, product_set_active
from merchants.models import MerchantStatus
from tests.api.helpers import database_state
from tests.factories import MerchantFactory, ProductFactory, UserFactory, owner_of, pay_deposit
from tests.merchants.helpers import completed_sale, refund_after_release, withdraw_everything

pytestmark = pytest.mark.django_db
MINIMUM = 100_000


@pytest.fixture
def new_shop():
    """An approved shop that has not paid its deposit yet."""
    return MerchantFactory(deposit=0)


def deposit_of(merchant) -> int:
    return account_balance(f"merchant:{merchant.pk}:deposit:CNY")


def test_a_deposit_payment_is_opened_for_what_is_missing(new_shop):
    payment = deposit_payment_start(merchant=new_shop, actor=owner_of(new_shop))

    assert (payment.purpose, payment.merchant_id, payment.order_id, payment.payer_id) == (
        PaymentPurpose.DEPOSIT,
        new_shop.pk,
        None,
        owner_of(new_shop).pk,
    )
    assert (payment.provider, payment.status, payment.amount, payment.currency) == (
        "simulated",
        PaymentStatus.CREATED,
        MINIMUM,
        "CNY",
    )
    assert payment.reference.startswith(f"sim_deposit-{new_shop.pk}_")
    charge = SimulatedCharge.objects.get(reference=payment.reference)
    assert (charge.amount, charge.currency, charge.status) == (MINIMUM, "CNY", "requires_payment")
    assert deposit_of(new_shop) == 0


def test_paying_at_the_gateway_credits_the_deposit_once(new_shop, django_capture_on_commit_callbacks):
    payment = deposit_payment_start(merchant=new_shop, actor=owner_of(new_shop), amount=60_000)

    with django_capture_on_commit_callbacks(execute=True):
        simulated_gateway_pay(reference=payment.reference, outcome="succeeded", drop_webhook=False)

    payment.refresh_from_db()
    assert (payment.status, payment.amount) == (PaymentStatus.SUCCEEDED, 60_000)
    assert deposit_of(new_shop) == 60_000
    assert account_balance("provider:simulated:CNY") == -60_000
    posting = Posting.objects.get(kind="merchant_deposit")
    assert (posting.idempotency_key, posting.reference) == (
        f"payment:{payment.reference}:deposit",
        f"deposit:{new_shop.pk}",
    )
    ledger_verify()


def test_a_replayed_capture_changes_nothing(new_shop):
    payment = deposit_payment_start(merchant=new_shop, actor=owner_of(new_shop))
    payment_captured(reference=payment.reference, amount=MINIMUM, currency="CNY")
    before = database_state()

    payment_captured(reference=payment.reference, amount=MINIMUM, currency="CNY")
    payment_failed(reference=payment.reference)

    assert database_state() == before
    assert deposit_of(new_shop) == MINIMUM


def test_a_failed_deposit_payment_credits_nothing_and_writes_no_order_event(new_shop):
    payment = deposit_payment_start(merchant=new_shop, actor=owner_of(new_shop))

    payment_failed(reference=payment.reference)

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED
    assert deposit_of(new_shop) == 0
    assert not Posting.objects.exists()


def test_a_lost_webhook_is_found_by_asking_the_provider(new_shop):
    payment = deposit_payment_start(merchant=new_shop, actor=owner_of(new_shop))
    simulated_gateway_pay(reference=payment.reference, outcome="succeeded", drop_webhook=True)
    assert deposit_of(new_shop) == 0

    payment = payment_refresh(payment=payment)

    assert payment.status == PaymentStatus.SUCCEEDED
    assert deposit_of(new_shop) == MINIMUM


def test_reconciliation_finds_deposits_whose_webhook_was_lost_once_they_are_old_enough(new_shop):
    lost = deposit_payment_start(merchant=new_shop, actor=owner_of(new_shop), amount=70_000)
    simulated_gateway_pay(reference=lost.reference, outcome="succeeded", drop_webhook=True)
    unpaid = deposit_payment_start(merchant=new_shop, actor=owner_of(new_shop), amount=30_000)
    later = timezone.now() + timedelta(seconds=121)

    assert deposit_payments_reconcile(now=timezone.now()) == 0  # too recent: its webhook may come
    assert deposit_payments_reconcile(now=later) == 1
    assert deposit_payments_reconcile(now=later) == 0

    assert deposit_of(new_shop) == 70_000
    unpaid.refresh_from_db()
    assert unpaid.status == PaymentStatus.CREATED


def test_reconciliation_finds_open_deposits_through_their_partial_index(new_shop):
    """The sweep runs every 30 s: its query must not scan every payment (a shop's 1,000,000 order
    payments cost it 67 ms and 20,409 buffers, bench/checkout_queries.py --history). Its own
    statement, EXPLAINed with sequential scans priced out, is served by mkt_payment_open_deposit_idx."""
    deposit_payment_start(merchant=new_shop, actor=owner_of(new_shop), amount=30_000)
    with CaptureQueriesContext(connection) as queries:
        deposit_payments_reconcile(now=timezone.now() + timedelta(seconds=121))
    (sql,) = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith("SELECT") and 'FROM "marketplace_payment"' in query["sql"]
    ][:1]

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "Index Scan using mkt_payment_open_deposit_idx on marketplace_payment" in plan, plan


def test_asking_about_an_unpaid_payment_changes_nothing(new_shop):
    payment = deposit_payment_start(merchant=new_shop, actor=owner_of(new_shop))
    before = database_state()

    assert payment_refresh(payment=payment).status == PaymentStatus.CREATED
    assert database_state() == before


@pytest.mark.parametrize(
    ("amount", "fields"),
    [
        (0, {"amount": ["an integer from 1 to 1000000000000"]}),
        (-5, {"amount": ["an integer from 1 to 1000000000000"]}),
        (10**12 + 1, {"amount": ["an integer from 1 to 1000000000000"]}),
        (True, {"amount": ["an integer from 1 to 1000000000000"]}),
    ],
)
def test_a_deposit_payment_is_a_positive_whole_amount(new_shop, amount, fields):
    with pytest.raises(DomainError) as refused:
        deposit_payment_start(merchant=new_shop, actor=owner_of(new_shop), amount=amount)

    assert (refused.value.code, refused.value.status, refused.value.fields) == ("invalid_amount", 400, fields)
    assert not Payment.objects.exists() and not SimulatedCharge.objects.exists()


def test_a_shop_at_the_minimum_must_say_how_much_to_add(merchant, merchant_owner):
    with pytest.raises(DomainError) as refused:
        deposit_payment_start(merchant=merchant, actor=merchant_owner)

    assert refused.value.fields == {"amount": ["required when nothing is missing"]}
    extra = deposit_payment_start(merchant=merchant, actor=merchant_owner, amount=5_000)
    assert extra.amount == 5_000


def test_only_the_owner_of_an_approved_shop_pays_its_deposit(new_shop):
    pending = MerchantFactory(status=MerchantStatus.PENDING)

    with pytest.raises(DomainError) as stranger:
        deposit_payment_start(merchant=new_shop, actor=UserFactory(), amount=1)
    with pytest.raises(DomainError) as not_approved:
        deposit_payment_start(merchant=pending, actor=owner_of(pending), amount=1)

    assert (stranger.value.code, stranger.value.status) == ("permission_denied", 403)
    assert (not_approved.value.code, not_approved.value.status) == ("merchant_not_active", 403)
    assert not Payment.objects.exists()


# --- below the minimum, a shop cannot list ---------------------------------------------------


def deposit_required(refused) -> tuple:
    return (refused.value.code, refused.value.status, refused.value.message)


REQUIRED = (
    "deposit_required",
    409,
    "The shop's security deposit is 99999 of the 100000 required (minor units, CNY); pay in 1 more first.",
)


def test_a_shop_short_of_its_deposit_cannot_create_or_stock_or_unpause(new_shop):
    pay_deposit(new_shop, MINIMUM - 1)
    product = ProductFactory(merchant=new_shop, is_active=False)
    before = database_state()

    with pytest.raises(DomainError) as create:
        product_create(merchant=new_shop, title="Card", price=100)
    with pytest.raises(DomainError) as upload:
        codes_upload(product=product, lines=["A-1"])
    with pytest.raises(DomainError) as unpause:
        product_set_active(product=product, is_active=True)

    assert deposit_required(create) == deposit_required(upload) == deposit_required(unpause) == REQUIRED
    assert database_state() == before


def test_a_shop_whose_deposit_paid_a_refund_leaves_the_catalogue_until_it_tops_up(
    buyer, merchant, stocked_product, pay
):
    order = completed_sale(buyer, stocked_product, pay)
    withdraw_everything(merchant, 1900)
    refund_after_release(order, 1999)  # available is empty: the deposit pays the buyer back
    assert deposit_of(merchant) == MINIMUM - 1999

    assert list(products_on_sale()) == []
    with pytest.raises(DomainError) as refused:
        order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1)
    assert (refused.value.code, refused.value.status, refused.value.message) == (
        "not_found",
        404,
        "No such product on sale.",
    )

    pay_deposit(merchant, 1999)
    assert [(product, product.stock) for product in products_on_sale()] == [(stocked_product, 9)]
    assert order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1).status == "pending_payment"


def test_no_minimum_lists_every_approved_shop(settings):
    settings.KABAO_MIN_MERCHANT_DEPOSIT = 0
    product = ProductFactory(merchant=MerchantFactory(deposit=0))

    assert list(products_on_sale()) == [product]


def test_the_deposit_is_kept_in_the_platform_currency_whatever_the_products_currency(new_shop):
    pay_deposit(new_shop, MINIMUM)
    product = product_create(merchant=new_shop, title="USD card", price=500, currency="USD")

    assert list(products_on_sale()) == [product]
    assert deposit_of(new_shop) == MINIMUM
    assert account_balance(f"merchant:{new_shop.pk}:deposit:USD") == 0


def test_orders_and_deposits_are_paid_through_the_same_provider_account(buyer, stocked_product, pay):
    order = pay(order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1))

    assert order.status == "delivered"
    assert account_balance("provider:simulated:CNY") == -(MINIMUM + 1999)
    ledger_verify()
