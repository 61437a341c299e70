import base64

import pytest
from django.db import connection

from kabao.errors import DomainError
from marketplace.crypto import (
    CodeDecryptionError,
    code_fingerprint,
    decrypt_code,
    encrypt_code,
    is_current_key,
    mask_code,
)
from marketplace.models import Code
from marketplace.services.inventory import codes_upload, product_create
from merchants.models import MerchantStatus
from tests.factories import MerchantFactory, ProductFactory

pytestmark = pytest.mark.django_db
NEW_KEY = base64.urlsafe_b64encode(b"n" * 32).decode()


def test_codes_are_stored_encrypted_and_masked(product):
    codes_upload(product=product, lines=["ABCD-1234-EFGH-5678"])
    code = Code.objects.get()
    assert b"ABCD-1234" not in bytes(code.ciphertext)
    assert code.masked == "ABCD…5678"
    assert decrypt_code(code.ciphertext, fingerprint=code.fingerprint) == "ABCD-1234-EFGH-5678"
    with connection.cursor() as cursor:  # nothing in clear anywhere in the row
        cursor.execute("SELECT * FROM marketplace_code")
        assert "1234-EFGH" not in repr(cursor.fetchall())


def test_a_ciphertext_moved_to_another_row_does_not_decrypt(product):
    codes_upload(product=product, lines=["FIRST-CODE-0001", "SECOND-CODE-0002"])
    first, second = Code.objects.order_by("id")
    with pytest.raises(CodeDecryptionError):
        decrypt_code(first.ciphertext, fingerprint=second.fingerprint)


def test_rotation_keeps_old_codes_readable_and_encrypts_with_the_newest(settings):
    fingerprint = code_fingerprint("ROTATE-ME-1")
    old = encrypt_code("ROTATE-ME-1", fingerprint=fingerprint)
    settings.KABAO_CODE_KEYS = [NEW_KEY, *settings.KABAO_CODE_KEYS]
    assert not is_current_key(old)
    assert decrypt_code(old, fingerprint=fingerprint) == "ROTATE-ME-1"
    new = encrypt_code("ROTATE-ME-1", fingerprint=fingerprint)
    assert is_current_key(new)
    settings.KABAO_CODE_KEYS = [NEW_KEY]
    with pytest.raises(CodeDecryptionError):
        decrypt_code(old, fingerprint=fingerprint)


def test_mask_never_shows_a_short_code_whole():
    assert mask_code("ABCDEFGH") == "A…H"
    assert mask_code("AB") == "…"


def test_upload_reports_every_refused_line(product):
    product.code_pattern = r"[A-Z]{4}-\d{4}"
    product.save()
    other_shop = ProductFactory(merchant=MerchantFactory())
    codes_upload(product=other_shop, lines=["ELSE-0001"])
    codes_upload(product=product, lines=["MINE-0001"])

    report = codes_upload(
        product=product,
        lines=["GOOD-0001", "bad", "", "GOOD-0001", "MINE-0001", "ELSE-0001", "GOOD-0002", "X" * 201],
    )

    assert report.accepted == 2
    assert report.duplicates == 3
    assert report.invalid == [
        {"line": 2, "reason": "does_not_match_pattern"},
        {"line": 4, "reason": "duplicate_in_upload"},
        {"line": 5, "reason": "duplicate_in_shop"},
        {"line": 6, "reason": "duplicate_on_platform"},
        {"line": 8, "reason": "too_long"},
    ]
    assert codes_upload(product=product, lines=["GOOD-0001", "GOOD-0002"]).accepted == 0


def test_too_many_codes_is_413_and_stores_nothing(product, settings):
    settings.KABAO_MAX_CODES_PER_UPLOAD = 5
    with pytest.raises(DomainError) as refused:
        codes_upload(product=product, lines=[f"C-{i}" for i in range(6)])
    assert refused.value.status == 413
    assert Code.objects.count() == 0


def test_a_pending_shop_cannot_list_or_upload(product):
    product.merchant.status = MerchantStatus.PENDING
    product.merchant.save()
    with pytest.raises(DomainError) as refused:
        codes_upload(product=product, lines=["A-1"])
    assert refused.value.code == "merchant_not_active"
    with pytest.raises(DomainError):
        product_create(merchant=product.merchant, title="x", price=100)


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("price", {"price": 0}),
        ("price", {"price": -5}),
        ("code_pattern", {"code_pattern": "[unclosed"}),
        ("auto_confirm_seconds", {"auto_confirm_seconds": 60}),
        ("currency", {"currency": "yuan"}),
    ],
)
def test_invalid_products_are_refused(merchant, field, values):
    with pytest.raises(DomainError) as refused:
        product_create(merchant=merchant, **{"title": "Card", "price": 100, **values})
    assert field in refused.value.fields
    assert not merchant.products.exists()


def test_rotation_re_encrypts_every_code_and_old_keys_can_then_go(product, settings):
    from django.core.management import call_command

    codes_upload(product=product, lines=[f"ROTATE-{i:04d}" for i in range(25)])
    old_keys = list(settings.KABAO_CODE_KEYS)
    settings.KABAO_CODE_KEYS = [NEW_KEY, *old_keys]

    call_command("rotate_code_keys")

    assert all(is_current_key(bytes(code.ciphertext)) for code in Code.objects.all())
    settings.KABAO_CODE_KEYS = [NEW_KEY]
    plain = sorted(decrypt_code(bytes(c.ciphertext), fingerprint=c.fingerprint) for c in Code.objects.all())
    assert plain == [f"ROTATE-{i:04d}" for i in range(25)]
