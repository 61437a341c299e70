"""The shop's products and inventory through the API: list, edit, pause, codes, void, upload limits."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from marketplace.models import Code, CodeStatus, Product
from marketplace.services.orders import order_create
from tests.api.helpers import assert_error, database_state, iso
from tests.conftest import token_client
from tests.factories import GameFactory, MerchantFactory, ProductFactory, owner_of, stock

pytestmark = pytest.mark.django_db

PRODUCTS = "/api/v1/merchant/products/"
VOID = "/api/v1/merchant/codes/void/"
NOT_IN_SHOP = ("not_found", "No such product in your shop.")


def product_url(product_id: int) -> str:
    return f"{PRODUCTS}{product_id}/"


def codes_url(product_id: int) -> str:
    return f"{PRODUCTS}{product_id}/codes/"


def shop_product_json(
    product: Product, *, stock: int = 0, reserved: int = 0, sold: int = 0, void: int = 0
) -> dict:
    product.refresh_from_db()
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
        "code_pattern": product.code_pattern,
        "auto_replace_invalid": product.auto_replace_invalid,
        "is_active": product.is_active,
        "codes": {"reserved": reserved, "sold": sold, "void": void},
    }


# --- products -------------------------------------------------------------------------------


def test_the_shop_lists_its_products_paused_ones_too(merchant, merchant_api, buyer):
    listed = ProductFactory(merchant=merchant, title="B listed")
    stock(listed, 3)
    order_create(buyer=buyer, product_id=listed.pk, quantity=1)
    paused = ProductFactory(merchant=merchant, title="A paused", is_active=False)
    ProductFactory(merchant=MerchantFactory(), title="Another shop's")

    response = merchant_api.get(PRODUCTS)

    assert response.status_code == 200
    assert response.json() == [shop_product_json(listed, stock=2, reserved=1), shop_product_json(paused)]


def test_a_product_is_created_with_the_replacement_opt_in(merchant, merchant_api):
    response = merchant_api.post(
        PRODUCTS, {"title": "Card", "price": 500, "auto_replace_invalid": True}, format="json"
    )

    assert response.status_code == 201
    product = Product.objects.get()
    assert product.auto_replace_invalid is True
    assert response.json() == shop_product_json(product)


def test_one_product_of_the_shop(merchant_api, stocked_product):
    response = merchant_api.get(product_url(stocked_product.pk))

    assert response.status_code == 200
    assert response.json() == shop_product_json(stocked_product, stock=10)


def test_an_edit_changes_the_given_fields(merchant_api, product):
    game = GameFactory(name="Beta", slug="beta")

    response = merchant_api.patch(
        product_url(product.pk),
        {
            "title": "Beta Gold",
            "price": 2500,
            "game": "beta",
            "code_pattern": r"[A-Z]{4}",
            "auto_confirm_seconds": 7200,
            "auto_replace_invalid": True,
        },
        format="json",
    )

    assert response.status_code == 200
    product.refresh_from_db()
    assert (product.title, product.price, product.game_id, product.code_pattern) == (
        "Beta Gold",
        2500,
        game.pk,
        "[A-Z]{4}",
    )
    assert (product.auto_confirm_seconds, product.auto_replace_invalid, product.currency) == (
        7200,
        True,
        "CNY",
    )
    assert response.json() == shop_product_json(product)


def test_pause_and_unpause(api, merchant_api, stocked_product):
    paused = merchant_api.patch(product_url(stocked_product.pk), {"is_active": False}, format="json")

    assert paused.json()["is_active"] is False
    assert api.get("/api/v1/products/").json() == []
    unpaused = merchant_api.patch(product_url(stocked_product.pk), {"is_active": True}, format="json")
    assert unpaused.json()["is_active"] is True
    assert [item["id"] for item in api.get("/api/v1/products/").json()] == [stocked_product.pk]


@pytest.mark.parametrize(
    ("body", "status", "code", "message", "fields"),
    [
        (
            {"price": 0},
            400,
            "invalid",
            "The request is not valid.",
            {"price": ["Ensure this value is greater than or equal to 1."]},
        ),
        (
            {"price": -1},
            400,
            "invalid",
            "The request is not valid.",
            {"price": ["Ensure this value is greater than or equal to 1."]},
        ),
        (
            {"price": "12"},
            400,
            "invalid",
            "The request is not valid.",
            {"price": ["A valid integer is required."]},
        ),
        ({"game": "nope"}, 400, "invalid", "Unknown game.", {"game": ["unknown"]}),
        (
            {"code_pattern": "(("},
            400,
            "invalid",
            "The product is not valid.",
            {"code_pattern": ["not a valid regular expression"]},
        ),
        (
            {"auto_confirm_seconds": 60},
            400,
            "invalid",
            "The product is not valid.",
            {"auto_confirm_seconds": ["between 3600 and 1209600"]},
        ),
        (
            {"is_active": "maybe"},
            400,
            "invalid",
            "The request is not valid.",
            {"is_active": ["Must be a valid boolean."]},
        ),
    ],
)
def test_an_invalid_edit_changes_nothing(merchant_api, product, body, status, code, message, fields):
    before = database_state()

    response = merchant_api.patch(product_url(product.pk), body, format="json")

    assert_error(response, status, code, message, fields)
    assert database_state() == before


def test_another_shops_product_is_not_found_for_any_call(merchant_api):
    foreign = ProductFactory(merchant=MerchantFactory())
    stock(foreign, 1)
    before = database_state()

    responses = [
        merchant_api.get(product_url(foreign.pk)),
        merchant_api.patch(product_url(foreign.pk), {"is_active": False}, format="json"),
        merchant_api.get(codes_url(foreign.pk)),
        merchant_api.post(codes_url(foreign.pk), {"codes": ["X-1"]}, format="json"),
        merchant_api.get(product_url(foreign.pk + 1000)),
    ]

    for response in responses:
        assert_error(response, 404, *NOT_IN_SHOP)
    assert database_state() == before


def test_a_buyer_has_no_products_api(buyer_api, product):
    for response in (buyer_api.get(PRODUCTS), buyer_api.patch(product_url(product.pk), {}, format="json")):
        assert_error(response, 403, "not_a_merchant", "This account does not belong to a shop.")


# --- codes ----------------------------------------------------------------------------------


def test_the_codes_are_listed_masked_with_their_status(buyer, merchant_api, product):
    codes = stock(product, 3)
    order = order_create(buyer=buyer, product_id=product.pk, quantity=1)
    stored = list(Code.objects.filter(product=product).order_by("id"))

    response = merchant_api.get(codes_url(product.pk))

    assert response.status_code == 200
    assert response.json() == {
        "counts": {"available": 2, "reserved": 1, "sold": 0, "void": 0},
        "codes": [
            {
                "id": code.pk,
                "masked": code.masked,
                "status": code.status,
                "order": code.order_id,
                "created_at": iso(code.created_at),
                "sold_at": None,
            }
            for code in stored
        ],
        "next_after": None,
    }
    assert [code["order"] for code in response.json()["codes"]] == [order.pk, None, None]
    assert not any(clear in response.content.decode() for clear in codes)


def test_the_codes_page_on_by_id_and_filter_by_status(merchant_api, product):
    stock(product, 5)
    ids = list(Code.objects.filter(product=product).order_by("id").values_list("id", flat=True))
    Code.objects.filter(pk=ids[1]).update(status=CodeStatus.VOID)

    first = merchant_api.get(codes_url(product.pk), {"limit": 2}).json()
    second = merchant_api.get(codes_url(product.pk), {"limit": 2, "after": first["next_after"]}).json()
    void = merchant_api.get(codes_url(product.pk), {"status": "void"}).json()

    assert ([c["id"] for c in first["codes"]], first["next_after"]) == (ids[:2], ids[1])
    assert ([c["id"] for c in second["codes"]], second["next_after"]) == (ids[2:4], ids[3])
    assert [c["id"] for c in void["codes"]] == [ids[1]]


@pytest.mark.parametrize(
    ("params", "message", "fields"),
    [
        ({"status": "lost"}, "Unknown code status.", {"status": ["available", "reserved", "sold", "void"]}),
        ({"after": "x"}, "after and limit are whole numbers.", {}),
    ],
)
def test_the_code_list_refuses_bad_parameters(merchant_api, product, params, message, fields):
    assert_error(merchant_api.get(codes_url(product.pk), params), 400, "invalid", message, fields)


def test_codes_in_stock_are_voided(merchant_api, product):
    stock(product, 3)
    ids = list(Code.objects.filter(product=product).order_by("id").values_list("id", flat=True))

    response = merchant_api.post(VOID, {"codes": ids[:2]}, format="json")

    assert (response.status_code, response.json()) == (200, {"voided": 2})
    assert list(Code.objects.order_by("id").values_list("status", flat=True)) == ["void", "void", "available"]


def test_voiding_a_sold_or_foreign_code_voids_nothing(buyer, merchant_api, product, pay):
    stock(product, 2)
    pay(order_create(buyer=buyer, product_id=product.pk, quantity=1))
    sold = Code.objects.get(status=CodeStatus.SOLD)
    available = Code.objects.get(status=CodeStatus.AVAILABLE)
    foreign = ProductFactory(merchant=MerchantFactory())
    stock(foreign, 1)
    theirs = Code.objects.get(product_id=foreign.pk)
    before = database_state()

    assert_error(
        merchant_api.post(VOID, {"codes": [available.pk, sold.pk]}, format="json"),
        409,
        "code_not_available",
        f"Only codes in stock can be voided; code {sold.pk} is sold.",
    )
    assert_error(
        merchant_api.post(VOID, {"codes": [available.pk, theirs.pk]}, format="json"),
        404,
        "not_found",
        "No such code in your shop.",
    )
    assert_error(
        merchant_api.post(VOID, {"codes": []}, format="json"),
        400,
        "invalid",
        "The request is not valid.",
        {"codes": ["Ensure this field has at least 1 elements."]},
    )
    assert database_state() == before


# --- uploads --------------------------------------------------------------------------------


def test_a_csv_file_is_read_a_whole_line_per_code(merchant_api, product):
    upload = SimpleUploadedFile("codes.csv", b"4111-2222,PIN 0001\r\n4111-2223,PIN 0002\r\n", "text/csv")

    response = merchant_api.post(codes_url(product.pk), {"file": upload}, format="multipart")

    assert (response.status_code, response.json()) == (201, {"accepted": 2, "duplicates": 0, "invalid": []})
    assert sorted(Code.objects.values_list("masked", flat=True)) == ["4111…0001", "4111…0002"]


def test_a_file_of_another_type_is_refused(merchant_api, product):
    upload = SimpleUploadedFile("codes.xlsx", b"PK\x03\x04 binary", "application/vnd.ms-excel")

    response = merchant_api.post(codes_url(product.pk), {"file": upload}, format="multipart")

    assert_error(
        response,
        400,
        "unsupported_file_type",
        "Upload a .txt or .csv file with one code a line.",
        {"file": ["txt or csv"]},
    )
    assert not Code.objects.exists()


TOO_LARGE = (
    413,
    "upload_too_large",
    "An upload is at most 200 bytes (0 MiB); split the codes into several uploads. Nothing was stored.",
)


@pytest.mark.parametrize("kind", ["text", "json", "file"])
def test_an_upload_over_the_size_limit_is_413_and_stores_nothing(merchant_api, product, settings, kind):
    settings.KABAO_MAX_UPLOAD_BYTES = 200
    codes = [f"SIZE-{n:04d}" for n in range(40)]
    before = database_state()

    if kind == "text":
        response = merchant_api.post(codes_url(product.pk), data="\n".join(codes), content_type="text/plain")
    elif kind == "json":
        response = merchant_api.post(
            codes_url(product.pk), data=json.dumps({"codes": codes}), content_type="application/json"
        )
    else:
        upload = SimpleUploadedFile("codes.txt", "\n".join(codes).encode())
        response = merchant_api.post(codes_url(product.pk), {"file": upload}, format="multipart")

    assert_error(response, *TOO_LARGE)
    assert database_state() == before


def test_a_json_upload_larger_than_djangos_form_limit_is_accepted(merchant_api, product, settings):
    """Django refuses request bodies over DATA_UPLOAD_MAX_MEMORY_SIZE read through request.body;
    code uploads are read from the stream under their own, larger limit."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    codes = [f"BULK-{n:06d}" for n in range(500)]

    response = merchant_api.post(
        codes_url(product.pk), data=json.dumps({"codes": codes}), content_type="application/json"
    )

    assert (response.status_code, response.json()["accepted"]) == (201, 500)


def test_a_shop_short_of_its_deposit_cannot_upload_or_create(product):
    short = MerchantFactory(deposit=0)
    short_product = ProductFactory(merchant=short)
    client = token_client(owner_of(short))
    message = "The shop's security deposit is 0 of the 100000 required (minor units, CNY); pay in 100000 more first."
    before = database_state()

    assert_error(
        client.post(codes_url(short_product.pk), {"codes": ["A-1"]}, format="json"),
        409,
        "deposit_required",
        message,
    )
    assert_error(
        client.post(PRODUCTS, {"title": "Card", "price": 100}, format="json"),
        409,
        "deposit_required",
        message,
    )
    assert database_state() == before
