"""Code inventory: uploads checked line by line, voiding unsold codes, key rotation.

Products themselves are in `marketplace.services.products` (`product_create` is re-exported here
for the callers that found it here first).
"""

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

import psycopg
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from kabao.errors import Conflict, DomainError, NotFound
from marketplace.crypto import (
    CodeDecryptionError,
    code_fingerprint,
    decrypt_code,
    encrypt_code,
    is_current_key,
    mask_code,
    normalize_code,
)
from marketplace.models import Code, CodeStatus, Product
from marketplace.services.listing import require_listing_allowed
from marketplace.services.products import product_create as product_create
from merchants.models import Merchant

MAX_CODE_LENGTH = 200
LOOKUP_CHUNK = 20_000
INSERT_CHUNK = 2_000
MAX_VOID = 1_000


@dataclass
class UploadReport:
    accepted: int = 0
    duplicates: int = 0
    invalid: list[dict] = field(default_factory=list)


# The codes in clear are starred out of crash reports (the DEBUG page, the email to ADMINS).
@sensitive_variables("lines", "raw", "code", "candidates")
def codes_upload(*, product: Product, lines: Iterable[str]) -> UploadReport:
    """Add codes to a product. All accepted codes are stored in one transaction, or none.

    A line is refused when it does not match the product's pattern, or when the same code is
    already in this upload, in the shop or anywhere on the platform (compared by keyed hash).
    `lines` is consumed once, as it comes (a file is read line by line, never whole); only the
    accepted codes are kept until they are written, encrypted a chunk at a time.
    """
    require_listing_allowed(product.merchant)
    pattern = re.compile(product.code_pattern) if product.code_pattern else None
    limit = settings.KABAO_MAX_CODES_PER_UPLOAD
    report = UploadReport()
    candidates: dict[str, tuple[int, str]] = {}  # fingerprint -> (line number, code)
    for number, raw in enumerate(lines, start=1):
        if number > limit:
            raise DomainError("too_many_codes", f"An upload holds at most {limit} codes.", status=413)
        code = normalize_code(raw)
        if not code:
            continue
        if len(code) > MAX_CODE_LENGTH:
            report.invalid.append({"line": number, "reason": "too_long"})
        elif pattern is not None and not pattern.fullmatch(code):
            report.invalid.append({"line": number, "reason": "does_not_match_pattern"})
        else:
            fingerprint = code_fingerprint(code)
            if fingerprint in candidates:
                report.duplicates += 1
                report.invalid.append({"line": number, "reason": "duplicate_in_upload"})
            else:
                candidates[fingerprint] = (number, code)
    for fingerprint, merchant_id in _stored(list(candidates)):
        number, _code = candidates.pop(fingerprint)
        report.duplicates += 1
        reason = "duplicate_in_shop" if merchant_id == product.merchant_id else "duplicate_on_platform"
        report.invalid.append({"line": number, "reason": reason})
    report.invalid.sort(key=lambda item: item["line"])
    try:
        with transaction.atomic(durable=True):
            _insert_codes(product, candidates)
    except IntegrityError as exc:
        raise Conflict(
            "concurrent_upload", "Some codes were uploaded at the same moment; try again."
        ) from exc
    report.accepted = len(candidates)
    return report


def _stored(fingerprints: list[str]) -> Iterator[tuple[str, int]]:
    """(fingerprint, merchant id) of the codes already stored among `fingerprints`, in chunks.

    On PostgreSQL each chunk is one array parameter (`= ANY(%s)`): an IN list of thousands of
    placeholders costs more to build and parse than the lookup itself.
    """
    for start in range(0, len(fingerprints), LOOKUP_CHUNK):
        chunk = fingerprints[start : start + LOOKUP_CHUNK]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT fingerprint, merchant_id FROM marketplace_code WHERE fingerprint = ANY(%s)",
                    [chunk],
                )
                yield from cursor.fetchall()
        else:
            yield from Code.objects.filter(fingerprint__in=chunk).values_list("fingerprint", "merchant_id")


@sensitive_variables("candidates", "items", "chunk", "code")
def _insert_codes(product: Product, candidates: dict[str, tuple[int, str]]) -> None:
    """Encrypt and insert a chunk at a time: 100,000 rows built at once would cost hundreds of MB.

    PostgreSQL gets the rows through COPY (a bulk INSERT of 100,000 rows spends most of its time
    building and splitting the SQL text); SQLite, in the embedded run, through bulk_create. Either
    way the unique fingerprint index refuses a code another upload stored meanwhile.
    """
    now = timezone.now()
    items = iter(candidates.items())
    if connection.vendor != "postgresql":
        while chunk := list(islice(items, INSERT_CHUNK)):
            Code.objects.bulk_create(
                Code(
                    product_id=product.pk,
                    merchant_id=product.merchant_id,
                    fingerprint=fingerprint,
                    ciphertext=encrypt_code(code, fingerprint=fingerprint),
                    masked=mask_code(code),
                    created_at=now,
                )
                for fingerprint, (_number, code) in chunk
            )
        return
    columns = "product_id, merchant_id, fingerprint, ciphertext, masked, status, created_at"
    with connection.cursor() as cursor:
        try:
            with cursor.cursor.copy(f"COPY marketplace_code ({columns}) FROM STDIN") as copy:
                for fingerprint, (_number, code) in items:
                    copy.write_row(
                        (
                            product.pk,
                            product.merchant_id,
                            fingerprint,
                            encrypt_code(code, fingerprint=fingerprint),
                            mask_code(code),
                            CodeStatus.AVAILABLE.value,
                            now,
                        )
                    )
        except psycopg.errors.UniqueViolation as exc:
            raise IntegrityError(str(exc)) from exc


def codes_void(*, merchant: Merchant, code_ids: list[int]) -> int:
    """Take unsold codes out of stock for good (a code the merchant learned is bad or sold elsewhere).

    All or nothing: a code of another shop (or none at all) is 404, one that is reserved, sold or
    already void is 409, and then nothing is voided. Returns how many codes were voided.
    """
    ids = set(code_ids)
    if not ids or len(ids) > MAX_VOID or any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
        raise DomainError(
            "invalid", "Name 1 to 1000 codes by id.", fields={"codes": [f"1 to {MAX_VOID} code ids"]}
        )
    with transaction.atomic(durable=True):
        codes = list(
            Code.objects.select_for_update()
            .filter(pk__in=ids, merchant=merchant)
            .order_by("pk")
            .only("pk", "status")
        )
        if len(codes) != len(ids):
            raise NotFound("No such code in your shop.")
        unsold = [code for code in codes if code.status != CodeStatus.AVAILABLE]
        if unsold:
            raise Conflict(
                "code_not_available",
                f"Only codes in stock can be voided; code {unsold[0].pk} is {unsold[0].status}.",
            )
        return Code.objects.filter(pk__in=ids).update(status=CodeStatus.VOID)


@sensitive_variables("plain")
def codes_reencrypt(*, batch_size: int = 1_000) -> int:
    """Re-encrypt every code not under the newest key (after a key was added to KABAO_CODE_KEYS).

    Works in batches, each its own transaction, so it can run beside live traffic and resume.
    """
    done = 0
    last_id = 0
    while True:
        with transaction.atomic(durable=True):
            codes = list(Code.objects.select_for_update().filter(id__gt=last_id).order_by("id")[:batch_size])
            if not codes:
                return done
            stale = [code for code in codes if not is_current_key(bytes(code.ciphertext))]
            for code in stale:
                try:
                    plain = decrypt_code(bytes(code.ciphertext), fingerprint=code.fingerprint)
                except CodeDecryptionError as exc:  # this batch rolls back; the ones before stay done
                    raise CodeDecryptionError(f"code {code.pk}: {exc.message}") from exc
                code.ciphertext = encrypt_code(plain, fingerprint=code.fingerprint)
            Code.objects.bulk_update(stale, ["ciphertext"])
        done += len(stale)
        last_id = codes[-1].pk
