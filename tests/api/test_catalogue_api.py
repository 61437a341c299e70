import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from marketplace.crypto import decrypt_code
from marketplace.models import Code, CodeStatus, Product
from marketplace.services.orders import order_create
from merchants.models import MerchantStatus
from tests.api.helpers import assert_error, database_state
from tests.conftest import token_client
from tests.factories import GameFactory, MerchantFactory, ProductFactory, owner_of, stock

pytestmark = pytest.mark.django_db

PRODUCTS = "/api/v1/products/"
CREATE = "/api/v1/merchant/products/"
NOT_AUTHENTICATED = ("not_authenticated", "Authentication credentials were not provided.")


def codes_url(product_id: int) -> str:
    return f"/api/v1/merchant/products/{product_id}/codes/"


def product_json(product: Product, stock: int) -> dict:
    return {
        "id": product.pk,
        "title": product.title,
        "description": product.description,
        "merchant": {"id": product.merchant_id, "shop_name": product.merchant.shop_name},
        "game": product.game.name if product.game else None,
        "price": product.price,
        "currency": product.currency,
        "face_value": product.face_value,
        "region": product.region,
        "auto_confirm_seconds": product.auto_confirm_seconds,
        "stock": stock,
    }


def clear_codes(product: Product) -> list[str]:
    return [
        decrypt_code(code.ciphertext, fingerprint=code.fingerprint)
        for code in Code.objects.filter(product=product).order_by("id")
    ]


# --- product create -------------------------------------------------------------------------


def test_a_merchant_lists_a_product_with_the_defaults(merchant, merchant_api):
    response = merchant_api.post(CREATE, {"title": " Steam 100 ", "price": 9500}, format="json")

    assert response.status_code == 201
    product = Product.objects.get()
    assert response.json() == {
        "id": product.pk,
        "title": "Steam 100",
        "description": "",
        "merchant": {"id": merchant.pk, "shop_name": merchant.shop_name},
        "game": None,
        "price": 9500,
        "currency": "CNY",
        "face_value": "",
        "region": "",
        "auto_confirm_seconds": None,
        "stock": 0,
        "code_pattern": "",
        "auto_replace_invalid": False,
        "is_active": True,
        "codes": {"reserved": 0, "sold": 0, "void": 0},
    }
    assert (product.merchant_id, product.price, product.currency, product.is_active) == (
        merchant.pk,
        9500,
        "CNY",
        True,
    )


def test_a_merchant_lists_a_product_with_every_field(merchant, merchant_api):
    game = GameFactory(name="Genshin Impact", slug="genshin")
    body = {
        "title": "Genesis Crystals 6480",
        "price": 64800,
        "currency": "USD",
        "game": "genshin",
        "face_value": "6480",
        "region": "Global",
        "description": "Delivered as a redeem code.",
        "code_pattern": r"[A-Z0-9]{4}-[A-Z0-9]{4}",
        "auto_confirm_seconds": 7200,
    }

    response = merchant_api.post(CREATE, body, format="json")

    assert response.status_code == 201
    product = Product.objects.get()
    assert response.json() == {
        "id": product.pk,
        "title": "Genesis Crystals 6480",
        "description": "Delivered as a redeem code.",
        "merchant": {"id": merchant.pk, "shop_name": merchant.shop_name},
        "game": "Genshin Impact",
        "price": 64800,
        "currency": "USD",
        "face_value": "6480",
        "region": "Global",
        "auto_confirm_seconds": 7200,
        "stock": 0,
        "code_pattern": r"[A-Z0-9]{4}-[A-Z0-9]{4}",
        "auto_replace_invalid": False,
        "is_active": True,
        "codes": {"reserved": 0, "sold": 0, "void": 0},
    }
    assert (product.game_id, product.code_pattern) == (game.pk, r"[A-Z0-9]{4}-[A-Z0-9]{4}")


def test_listing_a_product_needs_a_token(api):
    assert_error(api.post(CREATE, {"title": "Card", "price": 100}, format="json"), 401, *NOT_AUTHENTICATED)
    assert not Product.objects.exists()


def test_a_buyer_cannot_list_products(buyer_api):
    response = buyer_api.post(CREATE, {"title": "Card", "price": 100}, format="json")

    assert_error(response, 403, "not_a_merchant", "This account does not belong to a shop.")
    assert not Product.objects.exists()


@pytest.mark.parametrize("status", [MerchantStatus.PENDING, MerchantStatus.SUSPENDED])
def test_a_shop_that_is_not_active_cannot_list_products(status):
    client = token_client(owner_of(MerchantFactory(status=status)))

    response = client.post(CREATE, {"title": "Card", "price": 100}, format="json")

    assert_error(response, 403, "merchant_not_active", "The shop is not approved yet.")
    assert not Product.objects.exists()


@pytest.mark.parametrize(
    ("price", "message"),
    [
        (0, "Ensure this value is greater than or equal to 1."),
        (-100, "Ensure this value is greater than or equal to 1."),
        (10**12 + 1, "Ensure this value is less than or equal to 1000000000000."),
        (19.99, "A valid integer is required."),
        (1999.0, "A valid integer is required."),
        ("1999", "A valid integer is required."),
        ("19.99", "A valid integer is required."),
        (True, "A valid integer is required."),
        ([1999], "A valid integer is required."),
        (None, "This field may not be null."),
    ],
)
def test_a_price_must_be_a_positive_integer_of_minor_units(merchant_api, price, message):
    response = merchant_api.post(CREATE, {"title": "Card", "price": price}, format="json")

    assert_error(response, 400, "invalid", "The request is not valid.", {"price": [message]})
    assert not Product.objects.exists()


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"title": ["This field is required."], "price": ["This field is required."]}),
        ({"title": "  ", "price": 100}, {"title": ["This field may not be blank."]}),
        (
            {"title": "x" * 121, "price": 100},
            {"title": ["Ensure this field has no more than 120 characters."]},
        ),
        (
            {"title": "Card", "price": 100, "currency": "cny"},
            {"currency": ["This value does not match the required pattern."]},
        ),
        (
            {"title": "Card", "price": 100, "currency": "YUAN"},
            {"currency": ["This value does not match the required pattern."]},
        ),
        (
            {"title": "Card", "price": 100, "game": "not a slug"},
            {"game": ['Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.']},
        ),
        (
            {"title": "Card", "price": 100, "auto_confirm_seconds": 3600.5},
            {"auto_confirm_seconds": ["A valid integer is required."]},
        ),
        (
            {"title": "Card", "price": 100, "auto_confirm_seconds": "7200"},
            {"auto_confirm_seconds": ["A valid integer is required."]},
        ),
        (
            [{"title": "Card", "price": 100}],
            {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]},
        ),
    ],
)
def test_listing_refuses_invalid_input(merchant_api, body, fields):
    response = merchant_api.post(CREATE, body, format="json")

    assert_error(response, 400, "invalid", "The request is not valid.", fields)
    assert not Product.objects.exists()


@pytest.mark.parametrize(
    ("extra", "message", "fields"),
    [
        ({"game": "no-such-game"}, "Unknown game.", {"game": ["unknown"]}),
        (
            {"code_pattern": "[A-Z"},
            "The product is not valid.",
            {"code_pattern": ["not a valid regular expression"]},
        ),
        (
            {"auto_confirm_seconds": 59},
            "The product is not valid.",
            {"auto_confirm_seconds": ["between 3600 and 1209600"]},
        ),
        (
            {"auto_confirm_seconds": 1209601},
            "The product is not valid.",
            {"auto_confirm_seconds": ["between 3600 and 1209600"]},
        ),
    ],
)
def test_listing_refuses_what_the_shop_rules_refuse(merchant_api, extra, message, fields):
    response = merchant_api.post(CREATE, {"title": "Card", "price": 100, **extra}, format="json")

    assert_error(response, 400, "invalid", message, fields)
    assert not Product.objects.exists()


def test_listing_refuses_a_body_that_is_not_json(merchant_api):
    response = merchant_api.post(
        CREATE, data='{"title": "Card", "price": 1,}', content_type="application/json"
    )

    assert_error(
        response,
        400,
        "invalid_json",
        "JSON parse error - Expecting property name enclosed in double quotes: line 1 column 30 (char 29)",
    )
    assert not Product.objects.exists()


# --- code upload ----------------------------------------------------------------------------


def test_codes_upload_as_a_json_list(merchant_api, product):
    body = {"codes": ["AAAA-0001", "  AAAA-0002  ", "", "AAAA-0001", "   "]}

    response = merchant_api.post(codes_url(product.pk), body, format="json")

    assert response.status_code == 201
    assert response.json() == {
        "accepted": 2,
        "duplicates": 1,
        "invalid": [{"line": 4, "reason": "duplicate_in_upload"}],
    }
    assert clear_codes(product) == ["AAAA-0001", "AAAA-0002"]
    assert list(Code.objects.order_by("id").values_list("masked", "status", "merchant_id")) == [
        ("AA…01", CodeStatus.AVAILABLE, product.merchant_id),
        ("AA…02", CodeStatus.AVAILABLE, product.merchant_id),
    ]


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain; charset=utf-8"])
def test_codes_upload_as_plain_text_one_a_line(merchant_api, product, content_type):
    text = "BBBB-0001\r\nBBBB-0002\n\nBBBB-0003\n"

    response = merchant_api.post(codes_url(product.pk), data=text, content_type=content_type)

    assert response.status_code == 201
    assert response.json() == {"accepted": 3, "duplicates": 0, "invalid": []}
    assert clear_codes(product) == ["BBBB-0001", "BBBB-0002", "BBBB-0003"]


def test_codes_upload_as_a_multipart_file_with_a_byte_order_mark(merchant_api, product):
    upload = SimpleUploadedFile("codes.txt", "\ufeffCCCC-0001\nCCCC-0002\nCCCC-0001\n".encode(), "text/plain")

    response = merchant_api.post(codes_url(product.pk), {"file": upload}, format="multipart")

    assert response.status_code == 201
    assert response.json() == {
        "accepted": 2,
        "duplicates": 1,
        "invalid": [{"line": 3, "reason": "duplicate_in_upload"}],
    }
    assert clear_codes(product) == ["CCCC-0001", "CCCC-0002"]


def test_an_upload_reports_every_refused_line_and_stores_the_rest(merchant, merchant_api):
    product = ProductFactory(merchant=merchant, code_pattern=r"[A-Z]{4}-\d{4}")
    sibling = ProductFactory(merchant=merchant)
    other_shop_product = ProductFactory(merchant=MerchantFactory())
    merchant_api.post(codes_url(sibling.pk), {"codes": ["DDDD-0001"]}, format="json")
    token_client(owner_of(other_shop_product.merchant)).post(
        codes_url(other_shop_product.pk), {"codes": ["DDDD-0002"]}, format="json"
    )
    lines = ["DDDD-0001", "DDDD-0002", "dddd-0003", "DDDD-0004", "D" * 201, "DDDD-0004", "DDDD-0005"]

    response = merchant_api.post(codes_url(product.pk), {"codes": lines}, format="json")

    assert response.status_code == 201
    assert response.json() == {
        "accepted": 2,
        "duplicates": 3,
        "invalid": [
            {"line": 1, "reason": "duplicate_in_shop"},
            {"line": 2, "reason": "duplicate_on_platform"},
            {"line": 3, "reason": "does_not_match_pattern"},
            {"line": 5, "reason": "too_long"},
            {"line": 6, "reason": "duplicate_in_upload"},
        ],
    }
    assert clear_codes(product) == ["DDDD-0004", "DDDD-0005"]


def test_a_code_longer_than_200_characters_is_refused(merchant_api, product):
    response = merchant_api.post(codes_url(product.pk), {"codes": ["E" * 200, "E" * 201]}, format="json")

    assert response.json() == {"accepted": 1, "duplicates": 0, "invalid": [{"line": 2, "reason": "too_long"}]}
    assert clear_codes(product) == ["E" * 200]


def test_uploading_codes_needs_a_token(api, product):
    assert_error(api.post(codes_url(product.pk), {"codes": ["A-1"]}, format="json"), 401, *NOT_AUTHENTICATED)
    assert not Code.objects.exists()


def test_a_buyer_cannot_upload_codes(buyer_api, product):
    response = buyer_api.post(codes_url(product.pk), {"codes": ["A-1"]}, format="json")

    assert_error(response, 403, "not_a_merchant", "This account does not belong to a shop.")
    assert not Code.objects.exists()


def test_another_shops_product_looks_exactly_like_a_missing_one(merchant_api, stocked_product):
    other_product = ProductFactory(merchant=MerchantFactory())
    stock(other_product, 2)
    before = database_state()

    foreign = merchant_api.post(codes_url(other_product.pk), {"codes": ["A-1"]}, format="json")
    missing = merchant_api.post(codes_url(other_product.pk + 1000), {"codes": ["A-1"]}, format="json")

    assert_error(foreign, 404, "not_found", "No such product in your shop.")
    assert foreign.content == missing.content
    assert database_state() == before


def test_a_suspended_shop_cannot_upload_codes(merchant, merchant_api, product):
    merchant.status = MerchantStatus.SUSPENDED
    merchant.save(update_fields=["status"])

    response = merchant_api.post(codes_url(product.pk), {"codes": ["A-1"]}, format="json")

    assert_error(response, 403, "merchant_not_active", "The shop is not approved yet.")
    assert not Code.objects.exists()


@pytest.mark.parametrize(
    "body",
    [{}, {"codes": "AAAA-0001"}, {"codes": ["AAAA-0001", 2]}, {"codes": None}, ["AAAA-0001", "AAAA-0002"]],
)
def test_a_json_upload_must_be_a_list_of_strings(merchant_api, product, body):
    response = merchant_api.post(codes_url(product.pk), body, format="json")

    assert_error(
        response,
        400,
        "invalid",
        'Send {"codes": ["..."]}, text/plain or a file.',
        {"codes": ["a list of strings"]},
    )
    assert not Code.objects.exists()


def test_a_multipart_upload_without_a_file_is_refused(merchant_api, product):
    response = merchant_api.post(codes_url(product.pk), {"codes": "AAAA-0001"}, format="multipart")

    assert_error(
        response,
        400,
        "invalid",
        'Send {"codes": ["..."]}, text/plain or a file.',
        {"codes": ["a list of strings"]},
    )
    assert not Code.objects.exists()


def test_an_upload_that_is_not_json_is_refused(merchant_api, product):
    response = merchant_api.post(
        codes_url(product.pk), data='{"codes": ["A-1"', content_type="application/json"
    )

    assert_error(
        response,
        400,
        "invalid_json",
        "JSON parse error - Expecting ',' delimiter: line 1 column 17 (char 16)",
    )
    assert not Code.objects.exists()


def test_plain_text_that_is_not_utf8_is_refused(merchant_api, product):
    response = merchant_api.post(
        codes_url(product.pk), data="FFFF-0001\n".encode("utf-16"), content_type="text/plain"
    )

    assert_error(response, 400, "invalid_encoding", "Text uploads must be UTF-8.")
    assert not Code.objects.exists()


def test_a_file_that_is_not_utf8_is_refused(merchant_api, product):
    upload = SimpleUploadedFile("codes.txt", "FFFF-0001\n".encode("utf-16"), "text/plain")

    response = merchant_api.post(codes_url(product.pk), {"file": upload}, format="multipart")

    assert_error(response, 400, "invalid_encoding", "Code files must be UTF-8 text.")
    assert not Code.objects.exists()


def test_an_upload_of_another_media_type_is_refused(merchant_api, product):
    response = merchant_api.post(codes_url(product.pk), data="<codes/>", content_type="application/xml")

    assert_error(
        response, 415, "unsupported_media_type", 'Unsupported media type "application/xml" in request.'
    )
    assert not Code.objects.exists()


def test_an_upload_over_the_limit_is_refused_whole(merchant_api, product, settings):
    settings.KABAO_MAX_CODES_PER_UPLOAD = 3

    response = merchant_api.post(
        codes_url(product.pk), data="G-1\nG-2\nG-3\nG-4\n", content_type="text/plain"
    )

    assert_error(response, 413, "too_many_codes", "An upload holds at most 3 codes.")
    assert not Code.objects.exists()


# --- product list and detail ----------------------------------------------------------------


@pytest.fixture
def catalogue(merchant, buyer):
    """Four products on sale in two shops, and three that are not on sale."""
    alpha = GameFactory(name="Alpha Online", slug="alpha")
    beta = GameFactory(name="Beta Quest", slug="beta")
    other_shop = MerchantFactory(shop_name="Other Shop")
    products = {
        "alpha_dear": ProductFactory(merchant=merchant, game=alpha, title="Alpha Gold 500", price=5000),
        "beta": ProductFactory(merchant=merchant, game=beta, title="Beta Steam Pack", price=1000),
        "alpha_cheap": ProductFactory(merchant=other_shop, game=alpha, title="Alpha Gold 100", price=1000),
        "no_game": ProductFactory(merchant=merchant, game=None, title="Steam Wallet 50", price=5000),
    }
    stock(products["alpha_dear"], 3)
    stock(products["alpha_cheap"], 1)
    order_create(buyer=buyer, product_id=products["alpha_dear"].pk, quantity=1)  # reserved: not in stock
    hidden = ProductFactory(merchant=merchant, game=alpha, title="Withdrawn", is_active=False)
    stock(hidden, 1)
    for status in (MerchantStatus.PENDING, MerchantStatus.SUSPENDED):
        shop = MerchantFactory(status=MerchantStatus.ACTIVE)
        unlisted = ProductFactory(merchant=shop, game=alpha, title=f"From a {status} shop")
        stock(unlisted, 1)
        shop.status = status
        shop.save(update_fields=["status"])
    return products


def test_the_list_shows_products_on_sale_with_their_stock(api, catalogue):
    response = api.get(PRODUCTS)

    assert response.status_code == 200
    assert response.json() == [
        product_json(catalogue["alpha_cheap"], stock=1),
        product_json(catalogue["alpha_dear"], stock=2),
        product_json(catalogue["beta"], stock=0),
        product_json(catalogue["no_game"], stock=0),
    ]


def test_the_list_is_the_same_for_a_signed_in_caller(api, buyer_api, catalogue):
    assert buyer_api.get(PRODUCTS).json() == api.get(PRODUCTS).json()


def test_the_list_filters_by_game_and_by_words_in_the_title(api, catalogue):
    assert api.get(PRODUCTS, {"game": "beta"}).json() == [product_json(catalogue["beta"], stock=0)]
    assert api.get(PRODUCTS, {"q": "steam"}).json() == [
        product_json(catalogue["beta"], stock=0),
        product_json(catalogue["no_game"], stock=0),
    ]
    assert api.get(PRODUCTS, {"game": "alpha", "q": "GOLD 5"}).json() == [
        product_json(catalogue["alpha_dear"], stock=2)
    ]
    assert api.get(PRODUCTS, {"game": "no-such-game"}).json() == []


def test_one_product_with_its_stock(api, catalogue):
    product = catalogue["alpha_dear"]

    response = api.get(f"{PRODUCTS}{product.pk}/")

    assert response.status_code == 200
    assert response.json() == product_json(product, stock=2)


@pytest.mark.parametrize("title", ["Withdrawn", "From a pending shop", "From a suspended shop"])
def test_a_product_not_on_sale_is_404(api, catalogue, title):
    product = Product.objects.get(title=title)

    assert_error(api.get(f"{PRODUCTS}{product.pk}/"), 404, "not_found", "No such product on sale.")


@pytest.mark.parametrize("product_id", [999_999, 2**63])
def test_an_unknown_product_is_404(api, product_id):
    assert_error(api.get(f"{PRODUCTS}{product_id}/"), 404, "not_found", "No such product on sale.")
