"""Products of a shop: create, edit, pause and unpause, within the configured bounds."""

import pytest

from kabao.errors import DomainError
from marketplace.models import Product
from marketplace.selectors import products_on_sale
from marketplace.services.orders import order_create
from marketplace.services.products import product_create, product_set_active, product_update
from merchants.models import MerchantStatus
from tests.factories import GameFactory, stock

pytestmark = pytest.mark.django_db


def row(product: Product) -> tuple:
    product.refresh_from_db()
    return (
        product.title,
        product.price,
        product.currency,
        product.game_id,
        product.face_value,
        product.region,
        product.description,
        product.code_pattern,
        product.auto_confirm_seconds,
        product.auto_replace_invalid,
        product.is_active,
    )


def test_a_product_with_every_field(merchant):
    game = GameFactory()

    product = product_create(
        merchant=merchant,
        title=" Genesis 6480 ",
        price=64800,
        currency="usd",
        game=game,
        face_value=" 6480 ",
        region="Asia",
        description="Redeem in game.",
        code_pattern=r"[A-Z]{4}",
        auto_confirm_seconds=7200,
        auto_replace_invalid=True,
    )

    assert row(product) == (
        "Genesis 6480",
        64800,
        "USD",
        game.pk,
        "6480",
        "Asia",
        "Redeem in game.",
        "[A-Z]{4}",
        7200,
        True,
        True,
    )


@pytest.mark.parametrize(
    ("values", "fields"),
    [
        ({"title": " "}, {"title": ["1 to 120 characters"]}),
        ({"title": "t" * 121}, {"title": ["1 to 120 characters"]}),
        ({"price": 0}, {"price": ["a positive integer in minor units"]}),
        ({"price": -1}, {"price": ["a positive integer in minor units"]}),
        ({"price": 19.99}, {"price": ["a positive integer in minor units"]}),
        ({"price": 10**12 + 1}, {"price": ["a positive integer in minor units"]}),
        ({"currency": "YUAN"}, {"currency": ["a three-letter ISO code"]}),
        ({"face_value": "f" * 41}, {"face_value": ["at most 40 characters"]}),
        ({"code_pattern": "[A-"}, {"code_pattern": ["not a valid regular expression"]}),
        ({"code_pattern": "A" * 201}, {"code_pattern": ["at most 200 characters"]}),
        ({"auto_confirm_seconds": 3599}, {"auto_confirm_seconds": ["between 3600 and 1209600"]}),
        ({"auto_confirm_seconds": 1209601}, {"auto_confirm_seconds": ["between 3600 and 1209600"]}),
    ],
)
def test_an_invalid_product_is_not_created(merchant, values, fields):
    with pytest.raises(DomainError) as refused:
        product_create(merchant=merchant, **{"title": "Card", "price": 100, **values})

    assert (refused.value.code, refused.value.message, refused.value.fields) == (
        "invalid",
        "The product is not valid.",
        fields,
    )
    assert not Product.objects.exists()


def test_the_protection_window_follows_the_configured_bounds(merchant, settings):
    settings.KABAO_AUTO_CONFIRM_MIN_SECONDS, settings.KABAO_AUTO_CONFIRM_MAX_SECONDS = 600, 1200

    product = product_create(merchant=merchant, title="Card", price=100, auto_confirm_seconds=600)
    with pytest.raises(DomainError) as refused:
        product_update(product=product, auto_confirm_seconds=1201)

    assert refused.value.fields == {"auto_confirm_seconds": ["between 600 and 1200"]}
    assert row(product)[8] == 600


def test_an_edit_changes_only_the_given_fields(merchant, product):
    before = row(product)

    product_update(product=product, price=2500, code_pattern=r"\d{8}", auto_replace_invalid=True)

    assert row(product) == (*before[:1], 2500, *before[2:7], r"\d{8}", before[8], True, before[10])


def test_an_edit_clears_the_game_and_the_protection_window(merchant):
    product = product_create(
        merchant=merchant, title="Card", price=100, game=GameFactory(), auto_confirm_seconds=7200
    )

    product_update(product=product, game=None, auto_confirm_seconds=None)

    assert row(product)[3] is None and row(product)[8] is None


def test_an_invalid_edit_changes_nothing(product):
    before = row(product)

    with pytest.raises(DomainError) as refused:
        product_update(product=product, title="New", price=0)

    assert refused.value.fields == {"price": ["a positive integer in minor units"]}
    assert row(product) == before


def test_a_new_price_applies_to_new_orders_only(buyer, product):
    stock(product, 2)
    first = order_create(buyer=buyer, product_id=product.pk, quantity=1)

    product_update(product=product, price=2500)
    second = order_create(buyer=buyer, product_id=product.pk, quantity=1)

    assert (first.unit_price, second.unit_price) == (1999, 2500)


def test_a_paused_product_leaves_the_catalogue_and_cannot_be_bought(buyer, product):
    stock(product, 2)

    product_set_active(product=product, is_active=False)

    assert list(products_on_sale()) == []
    with pytest.raises(DomainError) as refused:
        order_create(buyer=buyer, product_id=product.pk, quantity=1)
    assert refused.value.code == "not_found"
    product_set_active(product=product, is_active=True)
    assert list(products_on_sale()) == [product]


@pytest.mark.parametrize("status", [MerchantStatus.PENDING, MerchantStatus.SUSPENDED])
def test_a_shop_that_is_not_approved_cannot_create_edit_or_pause(merchant, product, status):
    merchant.status = status
    merchant.save(update_fields=["status"])
    product.refresh_from_db()
    before = row(product)

    for act in (
        lambda: product_create(merchant=merchant, title="Card", price=100),
        lambda: product_update(product=product, price=5),
        lambda: product_set_active(product=product, is_active=False),
    ):
        with pytest.raises(DomainError) as refused:
            act()
        assert (refused.value.code, refused.value.status) == ("merchant_not_active", 403)
    assert row(product) == before
    assert Product.objects.count() == 1
