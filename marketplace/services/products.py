"""Products of a shop: create, edit, pause and unpause.

Listing needs an approved shop with its security deposit at the minimum (`require_listing_allowed`);
editing and pausing only need an approved shop, so a shop short on deposit can still tidy up.
A price or pattern change applies from now on: orders keep the price they were placed at, and codes
already in stock are not checked again.
"""

import re
from typing import Any

from django.conf import settings
from django.db import transaction

from kabao.errors import DomainError
from marketplace.models import Game, Product
from marketplace.services.listing import require_listing_allowed
from merchants.models import Merchant

MAX_PRICE = 10**12
MAX_PATTERN = 200


class _Keep:
    """Marks an argument of `product_update` that was not given: the field keeps its value."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()


def _require_active(merchant: Merchant) -> None:
    if not merchant.is_active:
        raise DomainError("merchant_not_active", "The shop is not approved yet.", status=403)


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    """Check the given fields (a subset on edit); return them normalised or raise `invalid`."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    if "title" in values:
        title = str(values["title"]).strip()
        if not title or len(title) > 120:
            errors["title"] = ["1 to 120 characters"]
        clean["title"] = title
    if "price" in values:
        price = values["price"]
        if isinstance(price, bool) or not isinstance(price, int) or not 0 < price <= MAX_PRICE:
            errors["price"] = ["a positive integer in minor units"]
        clean["price"] = price
    if "currency" in values:
        currency = (values["currency"] or settings.KABAO_CURRENCY).upper()
        if not re.fullmatch(r"[A-Z]{3}", currency):
            errors["currency"] = ["a three-letter ISO code"]
        clean["currency"] = currency
    for name, limit in (("face_value", 40), ("region", 40)):
        if name in values:
            text = str(values[name]).strip()
            if len(text) > limit:
                errors[name] = [f"at most {limit} characters"]
            clean[name] = text
    if "description" in values:
        clean["description"] = str(values["description"]).strip()
    if "code_pattern" in values:
        pattern = str(values["code_pattern"]).strip()
        if len(pattern) > MAX_PATTERN:
            errors["code_pattern"] = [f"at most {MAX_PATTERN} characters"]
        elif pattern:
            try:
                re.compile(pattern)
            except re.error:
                errors["code_pattern"] = ["not a valid regular expression"]
        clean["code_pattern"] = pattern
    if "auto_confirm_seconds" in values:
        seconds = values["auto_confirm_seconds"]
        bounds = (settings.KABAO_AUTO_CONFIRM_MIN_SECONDS, settings.KABAO_AUTO_CONFIRM_MAX_SECONDS)
        if seconds is not None and (
            isinstance(seconds, bool) or not isinstance(seconds, int) or not bounds[0] <= seconds <= bounds[1]
        ):
            errors["auto_confirm_seconds"] = [f"between {bounds[0]} and {bounds[1]}"]
        clean["auto_confirm_seconds"] = seconds
    if "auto_replace_invalid" in values:
        clean["auto_replace_invalid"] = bool(values["auto_replace_invalid"])
    if "game" in values:
        if values["game"] is not None and not isinstance(values["game"], Game):
            errors["game"] = ["unknown"]
        clean["game"] = values["game"]
    if errors:
        raise DomainError("invalid", "The product is not valid.", fields=errors)
    return clean


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
    auto_replace_invalid: bool = False,
) -> Product:
    require_listing_allowed(merchant)
    values = _clean(
        {
            "title": title,
            "price": price,
            "currency": currency,
            "game": game,
            "face_value": face_value,
            "region": region,
            "description": description,
            "code_pattern": code_pattern,
            "auto_confirm_seconds": auto_confirm_seconds,
            "auto_replace_invalid": auto_replace_invalid,
        }
    )
    return Product.objects.create(merchant=merchant, **values)


def product_update(
    *,
    product: Product,
    title: str = KEEP,
    price: int = KEEP,
    game: Game | None = KEEP,
    face_value: str = KEEP,
    region: str = KEEP,
    description: str = KEEP,
    code_pattern: str = KEEP,
    auto_confirm_seconds: int | None = KEEP,
    auto_replace_invalid: bool = KEEP,
) -> Product:
    """Change the given fields of a product; the currency stays the one it was listed in."""
    _require_active(product.merchant)
    given = {
        name: value
        for name, value in {
            "title": title,
            "price": price,
            "game": game,
            "face_value": face_value,
            "region": region,
            "description": description,
            "code_pattern": code_pattern,
            "auto_confirm_seconds": auto_confirm_seconds,
            "auto_replace_invalid": auto_replace_invalid,
        }.items()
        if value is not KEEP
    }
    values = _clean(given)
    with transaction.atomic(durable=True):
        locked = Product.objects.select_for_update().select_related("merchant").get(pk=product.pk)
        for name, value in values.items():
            setattr(locked, name, value)
        if values:
            locked.save(update_fields=list(values))
    return locked


def product_set_active(*, product: Product, is_active: bool) -> Product:
    """Pause (off the catalogue, nothing can be bought) or unpause; unpausing is listing again."""
    if is_active:
        require_listing_allowed(product.merchant)
    else:
        _require_active(product.merchant)
    with transaction.atomic(durable=True):
        locked = Product.objects.select_for_update().select_related("merchant").get(pk=product.pk)
        if locked.is_active != is_active:
            locked.is_active = is_active
            locked.save(update_fields=["is_active"])
    return locked
