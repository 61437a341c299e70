"""API routes for shops and for staff's decisions about them (included under /api/v1/, namespace "api")."""

from django.urls import path

from marketplace import merchant_api
from merchants import api as merchants_api

urlpatterns = [
    path("merchants/", merchants_api.MerchantApplyApi.as_view(), name="merchant-apply"),
    path("merchant/", merchants_api.MyShopApi.as_view(), name="merchant-me"),
    path("merchant/balance/", merchants_api.MerchantBalanceApi.as_view(), name="merchant-balance"),
    path("merchant/deposit/", merchant_api.DepositApi.as_view(), name="merchant-deposit"),
    path(
        "merchant/deposit/payments/<int:payment_id>/refresh/",
        merchant_api.DepositPaymentRefreshApi.as_view(),
        name="merchant-deposit-refresh",
    ),
    path("merchant/products/", merchant_api.MerchantProductListCreateApi.as_view(), name="merchant-products"),
    path(
        "merchant/products/<int:product_id>/",
        merchant_api.MerchantProductDetailApi.as_view(),
        name="merchant-product",
    ),
    path(
        "merchant/products/<int:product_id>/codes/",
        merchant_api.CodeUploadApi.as_view(),
        name="merchant-codes",
    ),
    path("merchant/codes/void/", merchant_api.CodeVoidApi.as_view(), name="merchant-codes-void"),
    path("merchant/payouts/", merchants_api.PayoutListCreateApi.as_view(), name="merchant-payouts"),
    path(
        "merchant/payouts/<int:payout_id>/", merchants_api.PayoutDetailApi.as_view(), name="merchant-payout"
    ),
    path("admin/merchants/", merchants_api.StaffMerchantListApi.as_view(), name="staff-merchants"),
    path(
        "admin/merchants/<int:merchant_id>/approve/",
        merchants_api.MerchantApproveApi.as_view(),
        name="merchant-approve",
    ),
    path(
        "admin/merchants/<int:merchant_id>/reject/",
        merchants_api.MerchantRejectApi.as_view(),
        name="merchant-reject",
    ),
    path("admin/payouts/", merchants_api.StaffPayoutListApi.as_view(), name="staff-payouts"),
    path(
        "admin/payouts/<int:payout_id>/approve/",
        merchants_api.StaffPayoutApproveApi.as_view(),
        name="staff-payout-approve",
    ),
    path(
        "admin/payouts/<int:payout_id>/reject/",
        merchants_api.StaffPayoutRejectApi.as_view(),
        name="staff-payout-reject",
    ),
    path(
        "admin/payouts/<int:payout_id>/paid/",
        merchants_api.StaffPayoutPaidApi.as_view(),
        name="staff-payout-paid",
    ),
]
