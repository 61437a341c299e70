"""Code uploads read as streams, stored all or nothing, and voiding unsold codes."""

import io
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from kabao.errors import Conflict, DomainError
from marketplace.crypto import decrypt_code
from marketplace.models import Code, CodeStatus
from marketplace.services.inventory import INSERT_CHUNK, codes_upload, codes_void
from marketplace.services.orders import order_create
from marketplace.uploads import file_lines, text_lines
from tests.factories import MerchantFactory, ProductFactory, stock, unique_codes

pytestmark = pytest.mark.django_db


class Trickle(io.RawIOBase):
    """A body that arrives a few bytes at a time, as a socket delivers it."""

    def __init__(self, data: bytes, step: int = 7):
        self.data, self.step, self.position = data, step, 0

    def read(self, size: int = -1) -> bytes:
        size = self.step if size < 0 else min(size, self.step)
        chunk = self.data[self.position : self.position + size]
        self.position += len(chunk)
        return chunk


def test_lines_end_at_any_newline_and_a_byte_order_mark_is_dropped():
    body = "\ufeffAAAA-1\r\nBBBB-2\rCCCC-3\n卡密-4".encode()

    assert [line.strip() for line in text_lines(Trickle(body))] == ["AAAA-1", "BBBB-2", "CCCC-3", "卡密-4"]


def test_a_multibyte_character_split_across_reads_decodes():
    body = ("码" * 50 + "\n").encode()

    assert list(text_lines(Trickle(body, step=1))) == ["码" * 50 + "\n"]


def test_bytes_that_are_not_utf8_are_refused():
    lines = text_lines(io.BytesIO("AAAA-1\n".encode("utf-16")))

    with pytest.raises(DomainError) as refused:
        list(lines)

    assert (refused.value.code, refused.value.status, refused.value.message) == (
        "invalid_encoding",
        400,
        "Text uploads must be UTF-8.",
    )


def test_a_stream_longer_than_the_limit_is_stopped(settings):
    settings.KABAO_MAX_UPLOAD_BYTES = 64
    lines = text_lines(io.BytesIO(b"CODE-0001\n" * 10))

    with pytest.raises(DomainError) as refused:
        list(lines)

    assert (refused.value.code, refused.value.status) == ("upload_too_large", 413)
    assert refused.value.message == (
        "An upload is at most 64 bytes (0 MiB); split the codes into several uploads. Nothing was stored."
    )


@pytest.mark.parametrize("name", ["codes.txt", "CODES.CSV", "codes"])
def test_text_and_csv_files_are_read_whole_line_per_code(name):
    upload = SimpleUploadedFile(name, b"1234,5678\nABCD EFGH\n", "text/plain")

    assert list(file_lines(upload)) == ["1234,5678\n", "ABCD EFGH\n"]


@pytest.mark.parametrize("name", ["codes.xlsx", "codes.png", "codes.txt.exe"])
def test_other_files_are_refused(name):
    with pytest.raises(DomainError) as refused:
        file_lines(SimpleUploadedFile(name, b"AAAA\n"))

    assert (refused.value.code, refused.value.status, refused.value.message, refused.value.fields) == (
        "unsupported_file_type",
        400,
        "Upload a .txt or .csv file with one code a line.",
        {"file": ["txt or csv"]},
    )


# --- codes_upload ---------------------------------------------------------------------------


def test_an_upload_bigger_than_a_chunk_is_stored_whole(product):
    codes = unique_codes(INSERT_CHUNK * 2 + 17)

    report = codes_upload(product=product, lines=iter(codes))

    assert (report.accepted, report.duplicates, report.invalid) == (len(codes), 0, [])
    stored = Code.objects.filter(product=product).order_by("id")
    assert stored.count() == len(codes)
    assert set(stored.values_list("status", "merchant_id", "order_id")) == {
        (CodeStatus.AVAILABLE, product.merchant_id, None)
    }
    last = stored.last()
    assert (decrypt_code(last.ciphertext, fingerprint=last.fingerprint), last.masked) == (
        codes[-1],
        f"{codes[-1][:4]}…{codes[-1][-4:]}",
    )


def test_the_same_upload_twice_accepts_nothing_the_second_time(product):
    codes = unique_codes(30)
    codes_upload(product=product, lines=codes)

    report = codes_upload(product=product, lines=codes)

    assert (report.accepted, report.duplicates) == (0, 30)
    assert report.invalid == [{"line": n, "reason": "duplicate_in_shop"} for n in range(1, 31)]
    assert Code.objects.count() == 30


def test_one_line_over_the_limit_stores_nothing(product, settings):
    settings.KABAO_MAX_CODES_PER_UPLOAD = 5

    with pytest.raises(DomainError) as refused:
        codes_upload(product=product, lines=iter(unique_codes(6)))

    assert (refused.value.code, refused.value.status) == ("too_many_codes", 413)
    assert not Code.objects.exists()


def test_an_encoding_error_on_the_last_line_stores_nothing(product):
    body = ("\n".join(unique_codes(50)) + "\n").encode() + b"\xff\xfe\n"

    with pytest.raises(DomainError) as refused:
        codes_upload(product=product, lines=text_lines(io.BytesIO(body)))

    assert refused.value.code == "invalid_encoding"
    assert not Code.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_uploads_of_the_same_codes_at_once_store_them_once():
    shop = MerchantFactory()
    products = [ProductFactory(merchant=shop), ProductFactory(merchant=MerchantFactory())]
    codes = unique_codes(3000)
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def upload(product) -> None:
        try:
            barrier.wait()
            outcomes.append(codes_upload(product=product, lines=codes).accepted)
        except Conflict as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=upload, args=(product,)) for product in products]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # One upload stored all 3000; the other either saw them and refused every line, or raced
    # into the unique index and stored none of its own: never a part of each.
    assert sorted(outcomes, key=str) in ([0, 3000], [3000, "concurrent_upload"])
    assert Code.objects.count() == 3000
    assert Code.objects.values("product_id").distinct().count() == 1


# --- codes_void -----------------------------------------------------------------------------


def test_unsold_codes_are_voided(merchant, product):
    stock(product, 3)
    first, _second, third = Code.objects.filter(product=product).order_by("id")

    assert codes_void(merchant=merchant, code_ids=[first.pk, third.pk]) == 2

    assert list(Code.objects.filter(product=product).order_by("id").values_list("status", flat=True)) == [
        CodeStatus.VOID,
        CodeStatus.AVAILABLE,
        CodeStatus.VOID,
    ]


def test_a_reserved_code_is_not_voided_nor_any_other_named_with_it(buyer, merchant, product):
    stock(product, 2)
    order_create(buyer=buyer, product_id=product.pk, quantity=1)
    reserved = Code.objects.get(status=CodeStatus.RESERVED)
    available = Code.objects.get(status=CodeStatus.AVAILABLE)

    with pytest.raises(Conflict) as refused:
        codes_void(merchant=merchant, code_ids=[available.pk, reserved.pk])

    assert (refused.value.code, refused.value.message) == (
        "code_not_available",
        f"Only codes in stock can be voided; code {reserved.pk} is reserved.",
    )
    assert sorted(Code.objects.values_list("status", flat=True)) == [
        CodeStatus.AVAILABLE,
        CodeStatus.RESERVED,
    ]


def test_another_shops_code_is_not_found(merchant, product):
    stock(product, 1)
    foreign = ProductFactory(merchant=MerchantFactory())
    stock(foreign, 1)
    mine, theirs = Code.objects.get(product=product), Code.objects.get(product_id=foreign.pk)

    with pytest.raises(DomainError) as refused:
        codes_void(merchant=merchant, code_ids=[mine.pk, theirs.pk])

    assert (refused.value.code, refused.value.status, refused.value.message) == (
        "not_found",
        404,
        "No such code in your shop.",
    )
    assert set(Code.objects.values_list("status", flat=True)) == {CodeStatus.AVAILABLE}


@pytest.mark.parametrize("code_ids", [[], list(range(1, 1002)), [True]])
def test_void_names_one_to_a_thousand_codes(merchant, code_ids):
    with pytest.raises(DomainError) as refused:
        codes_void(merchant=merchant, code_ids=code_ids)

    assert (refused.value.code, refused.value.fields) == ("invalid", {"codes": ["1 to 1000 code ids"]})
