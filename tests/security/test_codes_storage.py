"""Codes (卡密) at rest: never in clear in the database, bound to their row, and re-encrypted by a
key rotation.

The codes are AES-256-GCM ciphertexts with their row's keyed fingerprint as associated data
(marketplace/crypto.py), so a ciphertext moved onto another row does not decrypt, and
`rotate_code_keys` re-encrypts every row under the newest key of KABAO_CODE_KEYS.
"""

import base64
import hashlib
import io
import os
import subprocess
from collections import Counter

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from accounts.models import User
from accounts.services import api_token_create
from disputes.services.lifecycle import dispute_open
from disputes.services.remedies import dispute_offer
from marketplace.crypto import CodeDecryptionError, code_fingerprint, decrypt_code, mask_code
from marketplace.models import Code, CodeStatus, Order, OrderStatus
from marketplace.services.inventory import codes_upload, codes_void
from marketplace.services.orders import order_codes, order_create
from marketplace.services.payments import simulated_gateway_pay
from tests.factories import UserFactory
from tests.security.codes_helpers import fresh_codes, leaked, page_client, shop_with_product

MOVED = "the code's ciphertext does not belong to its row (altered or moved)"
KEY_GONE = "the code was encrypted with a key that is no longer configured"
NEW_KEY = base64.urlsafe_b64encode(b"rotation-test-key-b-32-bytes-abc").decode()
ROTATED = 2_500  # three batches of the rotation's 1,000


def _clear(code: Code) -> str:
    return decrypt_code(bytes(code.ciphertext), fingerprint=code.fingerprint)


def _swap_ciphertexts(first: Code, second: Code) -> None:
    """What an attacker with write access to the table would do to hand one buyer another's code."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE marketplace_code AS c SET ciphertext = o.ciphertext FROM marketplace_code AS o "
            "WHERE (c.id = %s AND o.id = %s) OR (c.id = %s AND o.id = %s)",
            [first.pk, second.pk, second.pk, first.pk],
        )


# --- 2. no clear code in a dump or in any column ------------------------------------------------


def _paid(buyer: User, product_id: int, quantity: int) -> Order:
    """Order and pay; with committed transactions the webhook, capture and delivery run on commit."""
    order = order_create(buyer=buyer, product_id=product_id, quantity=quantity)
    simulated_gateway_pay(reference=order.payment.reference, outcome="succeeded", drop_webhook=False)
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    return order


@pytest.mark.django_db(transaction=True)
def test_no_clear_code_in_a_database_dump_nor_in_any_column():
    owner, product = shop_with_product()
    codes = fresh_codes(8)
    assert codes_upload(product=product, lines=codes).accepted == 8
    buyer = UserFactory()
    order = _paid(buyer, product.pk, 2)
    revealed = page_client(buyer).post(f"/orders/{order.pk}/reveal/")  # a session, a message
    assert sorted(leaked(codes, revealed.content.decode())) == sorted(order_codes(order=order, actor=buyer))
    dispute = dispute_open(order_id=order.pk, buyer=buyer, reason="invalid_code", message="Already used.")
    dispute_offer(dispute=dispute, actor=owner, kind="replacement")
    stock = Code.objects.filter(product=product, status=CodeStatus.AVAILABLE).order_by("id")
    assert codes_void(merchant=product.merchant, code_ids=[stock.first().pk]) == 1
    api_token_create(user=buyer)
    statuses = Counter(Code.objects.values_list("status", flat=True))
    assert statuses == {CodeStatus.SOLD: 4, CodeStatus.AVAILABLE: 3, CodeStatus.VOID: 1}

    database = connection.settings_dict
    where = ["-h", database["HOST"], "-p", str(database["PORT"]), "-U", database["USER"]]
    dump = subprocess.run(
        ["pg_dump", "--no-owner", *where, database["NAME"]],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PGPASSWORD": database["PASSWORD"] or ""},
    ).stdout
    fingerprints = list(Code.objects.values_list("fingerprint", flat=True))
    # The dump holds the code rows (each fingerprint), the orders, the ledger and the sessions…
    assert "COPY public.marketplace_code " in dump and all(f in dump for f in fingerprints)
    assert "COPY public.escrow_posting " in dump and "COPY public.django_session " in dump
    # …and not one code in clear, nor as the hex of its bytes (how a bytea is dumped).
    assert leaked(codes, dump) == []

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name"
        )
        tables = [name for (name,) in cursor.fetchall()]
        found: dict[str, list[str]] = {}
        rows = 0
        for table in tables:
            cursor.execute(f'SELECT t::text FROM "{table}" AS t')  # every column, bytea as hex
            text = "\n".join(row for (row,) in cursor.fetchall())
            rows += text.count("\n") + bool(text)
            found[table] = leaked(codes, text)
    assert "marketplace_code" in tables and rows > 100
    assert {table: hits for table, hits in found.items() if hits} == {}


# --- 3. swapped ciphertexts fail ----------------------------------------------------------------


@pytest.mark.django_db
def test_swapped_ciphertexts_refuse_to_decrypt_and_to_reveal(pay, caplog):
    _owner, product = shop_with_product()
    codes = fresh_codes(4)
    codes_upload(product=product, lines=codes)
    alice, bob = UserFactory(), UserFactory()
    first = pay(order_create(buyer=alice, product_id=product.pk, quantity=1))
    second = pay(order_create(buyer=bob, product_id=product.pk, quantity=1))
    code_a, code_b = Code.objects.get(order=first), Code.objects.get(order=second)
    clear = [_clear(code_a), _clear(code_b)]
    assert clear == codes[:2]

    _swap_ciphertexts(code_a, code_b)
    for code in (code_a, code_b):
        code.refresh_from_db()
        with pytest.raises(CodeDecryptionError) as refused:
            _clear(code)
        assert (refused.value.code, refused.value.status, refused.value.message) == (
            "code_unreadable",
            409,
            MOVED,
        )

    page = page_client(alice).post(f"/orders/{first.pk}/reveal/", follow=True)
    assert page.status_code == 200 and page.redirect_chain == [(f"/orders/{first.pk}/", 302)]
    assert (
        "The codes of this order failed their integrity check and cannot be shown." in page.content.decode()
    )
    _token, key = api_token_create(user=bob)
    read = Client().get(f"/api/v1/orders/{second.pk}/", HTTP_AUTHORIZATION=f"Token {key}")
    assert read.status_code == 409
    assert read.json() == {"error": {"code": "code_unreadable", "message": MOVED, "fields": {}}}

    refusals = [r.getMessage() for r in caplog.records if r.name == "marketplace.services.orders"]
    assert refusals == [
        f"order {first.pk}: code {code_a.pk} cannot be read, reveal refused: {MOVED}",
        f"order {second.pk}: code {code_b.pk} cannot be read, reveal refused: {MOVED}",
    ]
    assert [order.codes_revealed_at for order in Order.objects.filter(pk__in=[first.pk, second.pk])] == [
        None,
        None,
    ]
    assert not Order.objects.filter(events__event="codes_revealed").exists()
    assert leaked(codes, caplog.text + page.content.decode() + read.content.decode()) == []


# --- 4. key rotation ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_rotation_re_encrypts_every_code_so_the_new_key_alone_reads_them(settings, pay):
    old_key = settings.KABAO_CODE_KEYS[0]
    _owner, product = shop_with_product()
    codes = fresh_codes(ROTATED)
    assert codes_upload(product=product, lines=codes).accepted == ROTATED
    pay(order_create(buyer=UserFactory(), product_id=product.pk, quantity=2))
    codes_void(
        merchant=product.merchant, code_ids=[Code.objects.filter(status=CodeStatus.AVAILABLE).first().pk]
    )
    assert Counter(Code.objects.values_list("status", flat=True)) == {
        CodeStatus.AVAILABLE: ROTATED - 3,
        CodeStatus.SOLD: 2,
        CodeStatus.VOID: 1,
    }
    clear_by_fingerprint = {code_fingerprint(code): code for code in codes}

    def read_all() -> tuple[dict[str, str], Counter[str]]:
        clear: dict[str, str] = {}
        failures: Counter[str] = Counter()
        for code in Code.objects.order_by("id"):
            try:
                clear[code.fingerprint] = _clear(code)
            except CodeDecryptionError as exc:
                failures[exc.message] += 1
        return clear, failures

    settings.KABAO_CODE_KEYS = [NEW_KEY]  # before the rotation the new key alone reads nothing
    assert read_all() == ({}, Counter({KEY_GONE: ROTATED}))

    settings.KABAO_CODE_KEYS = [NEW_KEY, old_key]
    out = io.StringIO()
    call_command("rotate_code_keys", stdout=out)
    assert out.getvalue() == f"re-encrypted {ROTATED} codes with the newest key\n"

    settings.KABAO_CODE_KEYS = [NEW_KEY]  # the old key is gone: every code still reads, under B
    assert read_all() == (clear_by_fingerprint, Counter())
    new_key_id = hashlib.sha256(base64.urlsafe_b64decode(NEW_KEY)).digest()[:8]
    assert {bytes(c)[:8] for c in Code.objects.values_list("ciphertext", flat=True)} == {new_key_id}

    settings.KABAO_CODE_KEYS = [NEW_KEY, old_key]
    again = io.StringIO()
    call_command("rotate_code_keys", stdout=again)
    assert again.getvalue() == "re-encrypted 0 codes with the newest key\n"


@pytest.mark.django_db
def test_rotation_stops_at_a_moved_ciphertext_and_names_it(settings):
    old_key = settings.KABAO_CODE_KEYS[0]
    _owner, product = shop_with_product()
    codes_upload(product=product, lines=fresh_codes(3))
    first, second, third = Code.objects.order_by("id")
    _swap_ciphertexts(first, second)
    settings.KABAO_CODE_KEYS = [NEW_KEY, old_key]
    with pytest.raises(CommandError) as stopped:
        call_command("rotate_code_keys", stdout=io.StringIO())
    assert str(stopped.value) == f"rotation stopped: code {first.pk}: {MOVED}"
    third.refresh_from_db()
    assert bytes(third.ciphertext)[:8] != hashlib.sha256(base64.urlsafe_b64decode(NEW_KEY)).digest()[:8]


# --- masks --------------------------------------------------------------------------------------


def test_a_mask_shows_under_half_of_any_code_and_at_most_four_characters_a_side():
    """Masks are what merchants, staff, dispute records and evidence files show of a code."""
    assert [
        mask_code(code) for code in ["AB", "ABCD", "ABCDE", "ABCDEFGH", "AAAA-0001", "ABCD-1234-EFGH-5678"]
    ] == [
        "…",
        "…",
        "A…E",
        "A…H",
        "AA…01",
        "ABCD…5678",
    ]
    for length in range(1, 65):
        code = "".join(chr(ord("a") + number % 26) for number in range(length))
        shown = len(mask_code(code)) - 1
        assert shown <= 8 and 2 * shown < length, (length, mask_code(code))
