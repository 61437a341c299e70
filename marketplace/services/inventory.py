"""Products and their code inventory."""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction

from kabao.errors import Conflict, DomainError
from marketplace.crypto import (
    code_fingerprint,
    decrypt_code,
    encrypt_code,
    is_current_key,
    mask_code,
    normalize_code,
)
from marketplace.models import Code, Game, Product
from merchants.models import Merchant

MAX_CODE_LENGTH = 200
LOOKUP_CHUNK = 5_000
INSERT_CHUNK = 2_000


def _require_active(merchant: Merchant) -> None:
    if not merchant.is_active:
        raise DomainError("merchant_not_active", "The shop is not approved yet.", status=403)


def product_create(
    *,
    merchant: Merchant,
    title: str,
    price: int,
    currency: str | None = None,
    game: Game | None = None,
    face_value: str = "",
    region: str = "",
    description: str = "",
    code_pattern: str = "",
    auto_confirm_seconds: int | None = None,
) -> Product:
    _require_active(merchant)
    errors: dict[str, list[str]] = {}
    if not title.strip():
        errors["title"] = ["required"]
    if isinstance(price, bool) or not isinstance(price, int) or price <= 0:
        errors["price"] = ["a positive integer in minor units"]
    currency = (currency or settings.KABAO_CURRENCY).upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        errors["currency"] = ["a three-letter ISO code"]
    if code_pattern:
        try:
            re.compile(code_pattern)
        except re.error:
            errors["code_pattern"] = ["not a valid regular expression"]
    bounds = (settings.KABAO_AUTO_CONFIRM_MIN_SECONDS, settings.KABAO_AUTO_CONFIRM_MAX_SECONDS)
    if auto_confirm_seconds is not None and not bounds[0] <= auto_confirm_seconds <= bounds[1]:
        errors["auto_confirm_seconds"] = [f"between {bounds[0]} and {bounds[1]}"]
    if errors:
        raise DomainError("invalid", "The product is not valid.", fields=errors)
    return Product.objects.create(
        merchant=merchant,
        title=title.strip()[:120],
        price=price,
        currency=currency,
        game=game,
        face_value=face_value[:40],
        region=region[:40],
        description=description,
        code_pattern=code_pattern,
        auto_confirm_seconds=auto_confirm_seconds,
    )


@dataclass
class UploadReport:
    accepted: int = 0
    duplicates: int = 0
    invalid: list[dict] = field(default_factory=list)


def codes_upload(*, product: Product, lines: Iterable[str]) -> UploadReport:
    """Add codes to a product. All accepted codes are stored in one transaction, or none.

    A line is refused when it does not match the product's pattern, or when the same code is
    already in this upload, in the shop or anywhere on the platform (compared by keyed hash).
    """
    _require_active(product.merchant)
    pattern = re.compile(product.code_pattern) if product.code_pattern else None
    report = UploadReport()
    candidates: dict[str, tuple[int, str]] = {}  # fingerprint -> (line number, code)
    for number, raw in enumerate(lines, start=1):
        if number > settings.KABAO_MAX_CODES_PER_UPLOAD:
            raise DomainError(
                "too_many_codes",
                f"An upload holds at most {settings.KABAO_MAX_CODES_PER_UPLOAD} codes.",
                status=413,
            )
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
    fingerprints = list(candidates)
    for start in range(0, len(fingerprints), LOOKUP_CHUNK):
        chunk = fingerprints[start : start + LOOKUP_CHUNK]
        for fingerprint, merchant_id in Code.objects.filter(fingerprint__in=chunk).values_list(
            "fingerprint", "merchant_id"
        ):
            number, _code = candidates.pop(fingerprint)
            report.duplicates += 1
            reason = "duplicate_in_shop" if merchant_id == product.merchant_id else "duplicate_on_platform"
            report.invalid.append({"line": number, "reason": reason})
    report.invalid.sort(key=lambda item: item["line"])
    rows = [
        Code(
            product=product,
            merchant_id=product.merchant_id,
            fingerprint=fingerprint,
            ciphertext=encrypt_code(code, fingerprint=fingerprint),
            masked=mask_code(code),
        )
        for fingerprint, (_number, code) in candidates.items()
    ]
    try:
        with transaction.atomic(durable=True):
            Code.objects.bulk_create(rows, batch_size=INSERT_CHUNK)
    except IntegrityError as exc:
        raise Conflict(
            "concurrent_upload", "Some codes were uploaded at the same moment; try again."
        ) from exc
    report.accepted = len(rows)
    return report


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
                plain = decrypt_code(bytes(code.ciphertext), fingerprint=code.fingerprint)
                code.ciphertext = encrypt_code(plain, fingerprint=code.fingerprint)
            Code.objects.bulk_update(stale, ["ciphertext"])
        done += len(stale)
        last_id = codes[-1].pk
