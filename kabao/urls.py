from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts import api as accounts_api
from disputes.urls_api import urlpatterns as disputes_api_urls
from kabao.health import healthz
from kabao.metrics import metrics
from marketplace import api as marketplace_api
from marketplace.merchant_urls_api import urlpatterns as merchant_api_urls
from marketplace.stripe_views import stripe_pay
from marketplace.views import simulated_gateway

api_v1 = [
    path("auth/register/", accounts_api.RegisterApi.as_view(), name="register"),
    path("auth/token/", accounts_api.TokenApi.as_view(), name="token"),
    path("merchants/<int:merchant_id>/", marketplace_api.MerchantPublicApi.as_view(), name="merchant-public"),
    # Shops and staff's decisions about them: applications, products, codes, deposit, payouts.
    *merchant_api_urls,
    path("products/", marketplace_api.ProductListApi.as_view(), name="products"),
    path("products/<int:product_id>/", marketplace_api.ProductDetailApi.as_view(), name="product"),
    path("orders/", marketplace_api.OrderListCreateApi.as_view(), name="orders"),
    path("orders/<int:order_id>/", marketplace_api.OrderDetailApi.as_view(), name="order"),
    path("orders/<int:order_id>/confirm/", marketplace_api.OrderConfirmApi.as_view(), name="order-confirm"),
    path(
        "payments/webhooks/simulated/",
        marketplace_api.SimulatedWebhookApi.as_view(),
        name="webhook-simulated",
    ),
    path("payments/webhooks/stripe/", marketplace_api.StripeWebhookApi.as_view(), name="webhook-stripe"),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("bench/", include("kabao.health")),  # the HTTP benchmarks' floor, only with KABAO_BENCH_FLOOR=1
    path("api/v1/", include((api_v1 + disputes_api_urls, "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("accounts.urls")),
    path("", include("marketplace.merchant_urls")),  # /merchant/… and /staff/… pages
    path("pay/simulated/<str:reference>/", simulated_gateway, name="simulated-gateway"),
    path("pay/stripe/<str:reference>/", stripe_pay, name="stripe-pay"),
    path("", include("disputes.urls")),
    path("", include("marketplace.urls")),
]

handler404 = "kabao.errors_views.not_found"
handler500 = "kabao.errors_views.server_error"
