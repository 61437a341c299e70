"""Pages for shops (/merchant/…) and for staff's decisions about them (/staff/…)."""

from django.urls import path

from marketplace import merchant_inventory_views as inventory
from marketplace import merchant_views as shop
from marketplace import staff_views as staff

app_name = "merchant"
urlpatterns = [
    path("merchant/", shop.dashboard, name="dashboard"),
    path("merchant/apply/", shop.apply, name="apply"),
    path("merchant/deposit/", shop.deposit, name="deposit"),
    path("merchant/deposit/<int:payment_id>/refresh/", shop.deposit_refresh, name="deposit-refresh"),
    path("merchant/payouts/", shop.payouts, name="payouts"),
    path("merchant/tokens/", shop.tokens, name="tokens"),
    path("merchant/tokens/<int:token_id>/revoke/", shop.token_revoke, name="token-revoke"),
    path("merchant/products/", inventory.products, name="products"),
    path("merchant/products/new/", inventory.product_new, name="product-new"),
    path("merchant/products/<int:product_id>/edit/", inventory.product_edit, name="product-edit"),
    path("merchant/products/<int:product_id>/active/", inventory.product_active, name="product-active"),
    path("merchant/products/<int:product_id>/codes/", inventory.inventory, name="inventory"),
    path("merchant/products/<int:product_id>/codes/void/", inventory.codes_void_view, name="codes-void"),
    path("staff/merchants/", staff.merchants, name="staff-merchants"),
    path(
        "staff/merchants/<int:merchant_id>/approve/",
        staff.merchant_approve_view,
        name="staff-merchant-approve",
    ),
    path(
        "staff/merchants/<int:merchant_id>/reject/", staff.merchant_reject_view, name="staff-merchant-reject"
    ),
    path("staff/payouts/", staff.payouts, name="staff-payouts"),
    path(
        "staff/payouts/<int:payout_id>/<str:decision>/",
        staff.payout_decide,
        name="staff-payout-decide",
    ),
]
