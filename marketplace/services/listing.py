"""Whether a shop may have products in the catalogue: approved, and its deposit at the minimum."""

from kabao.errors import DomainError
from marketplace.models import Product
from merchants.models import Merchant
from merchants.selectors import merchant_deposit_status
from merchants.services import merchant_require_deposit


def require_listing_allowed(merchant: Merchant) -> None:
    """Refuse to create or stock products for a shop that may not list (403 / 409)."""
    if not merchant.is_active:
        raise DomainError("merchant_not_active", "The shop is not approved yet.", status=403)
    merchant_require_deposit(merchant)


def product_is_listable(product: Product) -> bool:
    return product.merchant.is_active and merchant_deposit_status(product.merchant).is_sufficient
