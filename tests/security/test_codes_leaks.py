"""Codes (卡密) never reach a log, an error page or a crash report.

Every logger is captured at DEBUG, with Django's SQL log on (and its parameters), plus whatever the
process writes to stdout/stderr and every email sent; the whole text is searched for every clear
code, as typed and as the hex of its bytes (how a bytea would print). The error paths are real
faults: PostgreSQL refuses a write (a trigger raising `disk_full`, as a full disk would) while the
service decrypts, or the connection drops on a read after the codes were decrypted, while the
view, the serializer or the template holds them in clear.
"""

import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from django.conf import LazySettings
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError, connection
from django.test import Client
from django.utils.log import AdminEmailHandler

from marketplace.models import Code, CodeStatus, Order, OrderStatus
from marketplace.services.inventory import codes_upload
from marketplace.services.orders import order_create
from tests.factories import UserFactory
from tests.security.codes_helpers import api_client, fresh_codes, leaked, page_client, shop_with_product

pytestmark = pytest.mark.django_db

STARS = "********************"  # what Django's crash reports show instead of a sensitive value


@dataclass
class Everything:
    caplog: pytest.LogCaptureFixture
    capfd: pytest.CaptureFixture[str]
    printed: str = ""

    def text(self) -> str:
        out, err = self.capfd.readouterr()
        self.printed += out + err
        records = "\n".join(
            f"{record.getMessage()} {record.args!r} {record.exc_text or ''}" for record in self.caplog.records
        )
        emails = "\n".join(
            f"{message.subject}\n{message.body}\n"
            + "\n".join(str(content) for content, _type in getattr(message, "alternatives", []))
            for message in mail.outbox
        )
        return "\n".join([self.caplog.text, records, self.printed, emails])


@pytest.fixture
def everything(caplog, capfd) -> Iterator[Everything]:
    """Every logger at DEBUG, the SQL log on (it is off unless DEBUG is), stdout, stderr and mail."""
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    connection.force_debug_cursor = True
    try:
        yield Everything(caplog=caplog, capfd=capfd)
    finally:
        connection.force_debug_cursor = False


def test_a_whole_purchase_with_a_replacement_logs_no_code(everything, django_capture_on_commit_callbacks):
    owner, product = shop_with_product()
    buyer = UserFactory()
    codes = fresh_codes(6)
    shop_api = api_client(owner)
    upload_url = f"/api/v1/merchant/products/{product.pk}/codes/"

    # Upload three ways: JSON, text/plain, and pasted on the shop's page.
    as_json = shop_api.post(upload_url, {"codes": codes[:2]}, format="json")
    as_text = shop_api.post(upload_url, "\n".join(codes[2:4]), content_type="text/plain")
    pasted = page_client(owner).post(
        f"/merchant/products/{product.pk}/codes/", {"codes": "\n".join(codes[4:])}
    )
    assert [as_json.status_code, as_text.status_code, pasted.status_code] == [201, 201, 201]
    assert Code.objects.filter(product=product, status=CodeStatus.AVAILABLE).count() == 6

    # Buy two, pay at the gateway (its webhook, capture and delivery run as on commit).
    buyer_api = api_client(buyer)
    with django_capture_on_commit_callbacks(execute=True):
        created = buyer_api.post("/api/v1/orders/", {"product": product.pk, "quantity": 2}, format="json")
    assert created.status_code == 201
    order_id = created.json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        paid = Client().post(
            created.json()["payment"]["pay_url"], {"outcome": "succeeded"}, content_type="application/json"
        )
    assert paid.status_code == 200
    detail = buyer_api.get(f"/api/v1/orders/{order_id}/")
    bought = detail.json()["codes"]
    assert detail.json()["status"] == OrderStatus.DELIVERED and len(bought) == 2 and set(bought) <= set(codes)
    buyer_page = page_client(buyer)
    reveal = buyer_page.post(f"/orders/{order_id}/reveal/")
    revealed = reveal.content.decode()
    # Pages and answers that carry codes in clear are kept by no browser cache or proxy.
    assert "no-store" in reveal.get("Cache-Control", "") and "no-store" in detail.get("Cache-Control", "")
    assert sorted(leaked(codes, revealed)) == sorted(bought)  # the buyer, and only the buyer, sees them
    shop_side = shop_api.get(f"/api/v1/orders/{order_id}/")
    assert shop_side.status_code == 200 and leaked(codes, shop_side.content.decode()) == []

    # "The code was already used": a dispute, the shop replaces both codes, the buyer accepts.
    with django_capture_on_commit_callbacks(execute=True):
        opened = buyer_api.post(
            f"/api/v1/orders/{order_id}/disputes/",
            {"reason": "invalid_code", "message": "The first code says it was already used."},
            format="json",
        )
    assert opened.status_code == 201
    dispute_id = opened.json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        offered = shop_api.post(
            f"/api/v1/disputes/{dispute_id}/offers/", {"kind": "replacement"}, format="json"
        )
    assert offered.status_code == 201
    replacements = buyer_api.get(f"/api/v1/orders/{order_id}/").json()["codes"]
    assert len(replacements) == 2 and set(replacements) <= set(codes) - set(bought)
    again = buyer_page.post(f"/orders/{order_id}/reveal/").content.decode()
    assert sorted(leaked(codes, again)) == sorted(replacements)
    with django_capture_on_commit_callbacks(execute=True):
        accepted = buyer_api.post(f"/api/v1/disputes/{dispute_id}/offers/accept/")
    assert accepted.status_code == 200 and accepted.json()["status"] == "resolved"

    text = everything.text()
    # The capture is real: the SQL log with its parameters, the fingerprints the upload looked up,
    # the ledger's postings and the dispute emails are all in it.
    fingerprints = list(Code.objects.filter(product=product).values_list("fingerprint", flat=True))
    assert "marketplace_code" in text and all(fingerprint in text for fingerprint in fingerprints)
    assert "posting " in text and [message.subject for message in mail.outbox] == [
        "[Kabao] A buyer opened a dispute: please answer",
        "[Kabao] A replacement code was delivered",
        "[Kabao] Your dispute was resolved",
        "[Kabao] Your dispute was resolved",
    ]
    assert leaked(codes, text) == []


@pytest.fixture
def delivered(pay) -> tuple[Order, list[str]]:
    _owner, product = shop_with_product()
    codes = fresh_codes(3)
    assert codes_upload(product=product, lines=codes).accepted == 3
    order = pay(order_create(buyer=UserFactory(), product_id=product.pk, quantity=2))
    assert order.status == OrderStatus.DELIVERED
    return order, codes


@pytest.fixture
def crash_reports(settings: LazySettings) -> Iterator[list[mail.EmailMessage]]:
    """Django mails every 500 to ADMINS; many operators turn on the HTML report too, which lists
    every frame's local variables (the DEBUG page's report, with DEBUG off): both are collected."""
    settings.ADMINS = [("Ops", "ops@example.com")]
    html_report = AdminEmailHandler(include_html=True)
    logging.getLogger("django.request").addHandler(html_report)
    reports: list[mail.EmailMessage] = []
    try:
        yield reports
    finally:
        logging.getLogger("django.request").removeHandler(html_report)


def collect_reports(reports: list[mail.EmailMessage]) -> tuple[str, str]:
    """(text reports, HTML reports) mailed to the admins so far."""
    reports[:] = [message for message in mail.outbox if message.to == ["ops@example.com"]]
    text = "\n".join(str(message.body) for message in reports)
    html = "\n".join(
        str(content) for message in reports for content, _type in getattr(message, "alternatives", [])
    )
    return text, html


def storage_fails_on(sql_trigger_target: str) -> None:
    """From now on (inside the test's transaction), PostgreSQL refuses this write: a full disk."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION security_test_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; "
            "END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER security_test_disk_full BEFORE {sql_trigger_target} "
            "FOR EACH ROW EXECUTE FUNCTION security_test_disk_full()"
        )


def test_a_crash_while_revealing_shows_mails_and_logs_no_code(everything, delivered, crash_reports):
    order, codes = delivered
    # The write that records the first reveal fails after the codes were decrypted.
    storage_fails_on("UPDATE OF codes_revealed_at ON marketplace_order")

    page = page_client(order.buyer, raise_request_exception=False).post(f"/orders/{order.pk}/reveal/")
    read = api_client(order.buyer, raise_request_exception=False).get(f"/api/v1/orders/{order.pk}/")

    assert page.status_code == 500 and "Something went wrong on our side" in page.content.decode()
    assert read.status_code == 500
    assert read.json() == {
        "error": {"code": "server_error", "message": "Something went wrong on our side.", "fields": {}}
    }
    text, html = collect_reports(crash_reports)
    # Two crashes, each mailed as text and as HTML; the HTML lists order_codes' local variables,
    # `plain` (the codes in clear) starred; the code keys are starred among the settings.
    assert len(crash_reports) == 4 and text.count("No space left on device") >= 2
    assert leaked(codes, page.content.decode() + read.content.decode()) == []
    assert leaked(codes, text + html) == []
    assert "order_codes" in html and "<td>plain</td>" in html and STARS in html
    assert "KABAO_CODE_KEYS" in text and settings_value_hidden(text, "KABAO_CODE_KEYS")
    assert leaked(codes, everything.text()) == []
    assert Order.objects.get(pk=order.pk).codes_revealed_at is None


@contextmanager
def connection_drops_after_the_codes_on(table: str) -> Iterator[list[str]]:
    """The first read of `table` after the codes' rows were read fails as a dropped connection does,
    once (the 500 page and the reports still render): a fault while the view holds codes in clear.
    Yields the tables it failed on."""
    dropped: list[str] = []
    codes_read = False

    def drop(execute, sql, params, many, context):
        nonlocal codes_read
        if sql.startswith("SELECT") and 'FROM "marketplace_code"' in sql:
            codes_read = True
        elif codes_read and not dropped and sql.startswith("SELECT") and f'FROM "{table}"' in sql:
            dropped.append(table)
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(drop):
        yield dropped


def test_a_crash_after_the_api_decrypted_codes_mails_and_logs_no_code(everything, delivered, crash_reports):
    order, codes = delivered
    client = api_client(order.buyer, raise_request_exception=False)
    # The serializer's `dispute` field reads after its `codes` field: the view's `codes` and the
    # serializer's output so far hold the codes in clear when the connection drops.
    with connection_drops_after_the_codes_on("disputes_dispute") as dropped:
        read = client.get(f"/api/v1/orders/{order.pk}/")

    assert dropped == ["disputes_dispute"]
    assert read.status_code == 500
    assert read.json() == {
        "error": {"code": "server_error", "message": "Something went wrong on our side.", "fields": {}}
    }
    text, html = collect_reports(crash_reports)
    assert len(crash_reports) == 2 and "server closed the connection unexpectedly" in text
    assert leaked(codes, read.content.decode()) == []
    assert leaked(codes, text + html) == []
    # The report lists the view's and the serializer's frames, their variables starred.
    assert "get_dispute" in html and "<td>codes</td>" in html and "<td>ret</td>" in html and STARS in html
    assert leaked(codes, everything.text()) == []
    assert Order.objects.get(pk=order.pk).codes_revealed_at is not None  # decrypted before the crash


def test_a_crash_while_rendering_revealed_codes_mails_and_logs_no_code(everything, delivered, crash_reports):
    order, codes = delivered
    client = page_client(order.buyer, raise_request_exception=False)
    # The page's menu reads the user's shop membership while the template renders: the reveal's
    # `codes`, the page's context and every template frame hold the codes in clear.
    with connection_drops_after_the_codes_on("merchants_membership") as dropped:
        page = client.post(f"/orders/{order.pk}/reveal/")

    assert dropped == ["merchants_membership"]
    assert page.status_code == 500 and "Something went wrong on our side" in page.content.decode()
    text, html = collect_reports(crash_reports)
    assert len(crash_reports) == 2 and "server closed the connection unexpectedly" in text
    assert leaked(codes, page.content.decode()) == []
    assert leaked(codes, text + html) == []
    assert "order_reveal" in html and "_order_page" in html and "render_to_string" in html
    assert "<td>codes</td>" in html and "<td>context</td>" in html and STARS in html
    assert leaked(codes, everything.text()) == []
    assert Order.objects.get(pk=order.pk).codes_revealed_at is not None  # decrypted before the crash


def test_a_crash_while_uploading_shows_mails_and_logs_no_code(everything, crash_reports):
    owner, product = shop_with_product()
    codes = fresh_codes(4)
    storage_fails_on("INSERT ON marketplace_code")

    pasted = page_client(owner, raise_request_exception=False).post(
        f"/merchant/products/{product.pk}/codes/", {"codes": "\n".join(codes[:2])}
    )
    sent = api_client(owner, raise_request_exception=False).post(
        f"/api/v1/merchant/products/{product.pk}/codes/", {"codes": codes[2:]}, format="json"
    )

    assert [pasted.status_code, sent.status_code] == [500, 500]
    text, html = collect_reports(crash_reports)
    assert len(crash_reports) == 4
    assert leaked(codes, pasted.content.decode() + sent.content.decode()) == []
    assert leaked(codes, text + html) == []
    assert f"codes = '{STARS}'" in text  # the pasted text was in POST: starred
    assert "codes_upload" in html and "<td>candidates</td>" in html and STARS in html
    assert leaked(codes, everything.text()) == []
    assert Code.objects.filter(product=product).count() == 0


def settings_value_hidden(report: str, name: str) -> bool:
    return f"{name} = '{STARS}'" in report


def test_refused_upload_lines_echo_no_code(everything, settings: LazySettings):
    owner, product = shop_with_product(code_pattern=r"SEC[0-9A-F]{10}-\d{4}")
    good = fresh_codes(3)
    unlike = f"not-a-code-{secrets.token_hex(4)}"
    too_long = "SEC" + "9" * 250
    lines = [good[0], unlike, good[1], good[0], too_long, good[2]]
    shop_api = api_client(owner)
    upload_url = f"/api/v1/merchant/products/{product.pk}/codes/"

    as_json = shop_api.post(upload_url, {"codes": lines}, format="json")
    assert as_json.status_code == 201
    assert as_json.json() == {
        "accepted": 3,
        "duplicates": 1,
        "invalid": [
            {"line": 2, "reason": "does_not_match_pattern"},
            {"line": 4, "reason": "duplicate_in_upload"},
            {"line": 5, "reason": "too_long"},
        ],
    }
    again = fresh_codes(2)
    as_text = shop_api.post(upload_url, "\n".join([again[0], good[0], unlike]), content_type="text/plain")
    as_file = shop_api.post(
        upload_url,
        {"file": SimpleUploadedFile("codes.txt", "\n".join([good[1], again[1], unlike]).encode())},
        format="multipart",
    )
    not_utf8 = shop_api.post(
        upload_url,
        {"file": SimpleUploadedFile("codes.txt", f"{again[0]}\n".encode() + b"\xff\xfe bad\n")},
        format="multipart",
    )
    assert [as_text.status_code, as_file.status_code, not_utf8.status_code] == [201, 201, 400]
    assert as_text.json()["invalid"] == [
        {"line": 2, "reason": "duplicate_in_shop"},
        {"line": 3, "reason": "does_not_match_pattern"},
    ]
    assert not_utf8.json()["error"]["code"] == "invalid_encoding"

    page = page_client(owner).post(f"/merchant/products/{product.pk}/codes/", {"codes": "\n".join(lines)})
    assert page.status_code == 201
    settings.KABAO_MAX_CODES_PER_UPLOAD = 2
    too_many = fresh_codes(3)
    over = page_client(owner).post(f"/merchant/products/{product.pk}/codes/", {"codes": "\n".join(too_many)})
    assert over.status_code == 413

    every = lines + again + too_many
    answers = [as_json, as_text, as_file, not_utf8, page, over]
    assert [leaked(every, answer.content.decode()) for answer in answers] == [[]] * len(answers)
    assert leaked(every, everything.text()) == []
