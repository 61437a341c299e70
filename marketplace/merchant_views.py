"""The shop's pages: application, dashboard, deposit, payouts and API tokens. Thin views over the
same services as the API; products and codes are in `merchant_inventory_views`."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import ApiToken, User
from accounts.services import api_token_create, api_token_revoke
from kabao.errors import DomainError
from marketplace.charts import sales_chart_svg
from marketplace.merchant_forms import AmountForm, ApplyForm, TokenForm
from marketplace.merchant_messages import shop_message
from marketplace.merchant_selectors import (
    deposit_payment_of,
    deposit_payments_of,
    merchant_open_disputes,
    merchant_orders,
    merchant_sales_by_day,
    order_deadline,
)
from marketplace.models import OrderStatus
from marketplace.payments.simulated import pay_url
from marketplace.services.deposits import deposit_payment_start
from marketplace.services.payments import payment_refresh
from merchants.models import Merchant, MerchantStatus
from merchants.selectors import is_owner, merchant_balance, merchant_deposit_status, merchant_of, payouts_of
from merchants.services import merchant_apply, merchant_reapply, payout_request

ShopView = Callable[..., HttpResponse]
DEADLINE_LABELS = {
    "expires": gettext_lazy("cancelled if unpaid at"),
    "delivery_due": gettext_lazy("refunded if undelivered at"),
    "auto_confirm": gettext_lazy("paid to you at"),
}


def shop_page(view: ShopView) -> ShopView:
    """A page of the signed-in user's shop, whatever its status; without a shop, the application."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        merchant = merchant_of(request.user)  # type: ignore[arg-type]
        if merchant is None:
            return redirect("merchant:apply")
        return view(request, merchant, *args, **kwargs)

    return wrapper


def active_shop_page(view: ShopView) -> ShopView:
    """A page only an approved shop uses; before approval the dashboard shows where it stands."""

    @shop_page
    @wraps(view)
    def wrapper(request: HttpRequest, merchant: Merchant, *args: Any, **kwargs: Any) -> HttpResponse:
        if not merchant.is_active:
            return redirect("merchant:dashboard")
        return view(request, merchant, *args, **kwargs)

    return wrapper


def refused(request: HttpRequest, error: DomainError) -> int:
    """Show a service's refusal on the page; the page answers with the refusal's status."""
    messages.error(request, shop_message(error))
    return error.status


# --- application ----------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def apply(request: HttpRequest) -> HttpResponse:
    """Apply for a shop; the owner of a rejected shop corrects the application and sends it again."""
    user: User = request.user  # type: ignore[assignment]
    merchant = merchant_of(user)
    is_reapplying = (
        merchant is not None and merchant.status == MerchantStatus.REJECTED and is_owner(user, merchant)
    )
    if merchant is not None and not is_reapplying:
        return redirect("merchant:dashboard")
    initial = (
        {"shop_name": merchant.shop_name, "contact": merchant.contact, "sells": merchant.sells}
        if merchant
        else {}
    )
    form = ApplyForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                if merchant is not None:
                    merchant_reapply(merchant=merchant, actor=user, **form.cleaned_data)
                else:
                    merchant_apply(owner=user, **form.cleaned_data)
            except DomainError as exc:
                status = refused(request, exc)
            else:
                messages.success(request, _("Thank you. Our staff will review your application."))
                return redirect("merchant:dashboard")
    return render(request, "merchants/apply.html", {"form": form, "merchant": merchant}, status=status)


# --- dashboard ------------------------------------------------------------------------------


@shop_page
def dashboard(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    if not merchant.is_active:
        return render(request, "merchants/status.html", {"merchant": merchant})
    currency = settings.KABAO_CURRENCY
    status = request.GET.get("status", "")
    if status not in OrderStatus.values:
        status = ""
    orders = [
        {"order": order, "deadline_label": DEADLINE_LABELS.get(kind, ""), "deadline": at}
        for order in merchant_orders(merchant, status=status)[:50]
        for kind, at in [order_deadline(order)]
    ]
    return render(
        request,
        "merchants/dashboard.html",
        {
            "merchant": merchant,
            "balance": merchant_balance(merchant, currency),
            "deposit": merchant_deposit_status(merchant),
            "open_disputes": merchant_open_disputes(merchant),
            "orders": orders,
            "status": status,
            "statuses": OrderStatus.choices,
            "chart": sales_chart_svg(merchant_sales_by_day(merchant), currency),
            "currency": currency,
        },
    )


# --- deposit --------------------------------------------------------------------------------


@active_shop_page
@require_http_methods(["GET", "POST"])
def deposit(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    """Pay the deposit in through the payment provider: the form opens a payment and sends the owner
    to the provider's page; the deposit counts once the provider confirms the payment."""
    status = merchant_deposit_status(merchant)
    form = AmountForm(request.POST or None, initial={"amount": status.shortfall or None})
    http_status = 200
    if request.method == "POST":
        http_status = 400
        if form.is_valid():
            try:
                payment = deposit_payment_start(
                    merchant=merchant,
                    actor=request.user,  # type: ignore[arg-type]
                    amount=form.cleaned_data["amount"],
                )
            except DomainError as exc:
                http_status = refused(request, exc)
            else:
                return redirect(pay_url(payment.reference))
    return render(
        request,
        "merchants/deposit.html",
        {"deposit": status, "form": form, "payments": deposit_payments_of(merchant)[:50]},
        status=http_status,
    )


@active_shop_page
@require_POST
def deposit_refresh(request: HttpRequest, merchant: Merchant, payment_id: int) -> HttpResponse:
    payment = payment_refresh(payment=deposit_payment_of(merchant, payment_id))
    if payment.status == "succeeded":
        messages.success(request, _("The payment was received: your deposit is updated."))
    else:
        messages.info(request, _("The payment provider has not confirmed this payment yet."))
    return redirect("merchant:deposit")


# --- payouts --------------------------------------------------------------------------------


@active_shop_page
@require_http_methods(["GET", "POST"])
def payouts(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    form = AmountForm(request.POST or None)
    http_status = 200
    if request.method == "POST":
        http_status = 400
        if form.is_valid():
            try:
                payout_request(
                    merchant=merchant,
                    actor=request.user,  # type: ignore[arg-type]
                    amount=form.cleaned_data["amount"],
                )
            except DomainError as exc:
                http_status = refused(request, exc)
            else:
                messages.success(request, _("Payout requested. Our staff will review it."))
                return redirect("merchant:payouts")
    return render(
        request,
        "merchants/payouts.html",
        {
            "form": form,
            "balance": merchant_balance(merchant, settings.KABAO_CURRENCY),
            "deposit": merchant_deposit_status(merchant),
            "payouts": payouts_of(merchant)[:100],
        },
        status=http_status,
    )


# --- API tokens -----------------------------------------------------------------------------


@never_cache  # the answer that shows a new key must not be kept by the browser or a proxy
@shop_page
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    """The user's API tokens for automation; a new key is shown on this one answer and never again."""
    user: User = request.user  # type: ignore[assignment]
    form = TokenForm(request.POST or None)
    new_key = None
    http_status = 200
    if request.method == "POST":
        if form.is_valid():
            _token, new_key = api_token_create(user=user, name=form.cleaned_data["name"])
            form = TokenForm()
        else:
            http_status = 400
    return render(
        request,
        "merchants/tokens.html",
        {
            "form": form,
            "new_key": new_key,
            "tokens": ApiToken.objects.filter(user=user).order_by("revoked_at", "-created_at"),
        },
        status=http_status,
    )


@shop_page
@require_POST
def token_revoke(request: HttpRequest, merchant: Merchant, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)  # another user's token is 404
    api_token_revoke(token=token, actor=request.user)  # type: ignore[arg-type]
    messages.success(request, _("The token was revoked: it no longer works."))
    return redirect("merchant:tokens")
