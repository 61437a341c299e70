"""Staff pages: shop applications and payouts (the admin offers the same actions)."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import User
from kabao.errors import DomainError, NotFound
from marketplace.merchant_forms import PaidForm, ReasonForm
from marketplace.merchant_messages import shop_message
from merchants.models import Merchant, MerchantStatus, Payout, PayoutStatus
from merchants.selectors import merchant_balance
from merchants.services import (
    merchant_approve,
    merchant_reject,
    payout_approve,
    payout_mark_paid,
    payout_reject,
)


def staff_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_staff:
            message = _("This page is for Kabao's staff.")
            return render(request, "error.html", {"status": 403, "message": message}, status=403)
        return view(request, *args, **kwargs)

    return wrapper


def _act(request: HttpRequest, action: Callable[[], Any], done: str) -> None:
    try:
        action()
    except DomainError as exc:
        messages.error(request, shop_message(exc))
    else:
        messages.success(request, done)


# --- applications ---------------------------------------------------------------------------


@staff_page
def merchants(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "merchants/staff_merchants.html",
        {
            "pending": Merchant.objects.filter(status=MerchantStatus.PENDING)
            .prefetch_related("memberships__user")
            .order_by("created_at", "id"),
            "decided": Merchant.objects.exclude(status=MerchantStatus.PENDING).order_by(
                "-approved_at", "-rejected_at", "-id"
            )[:20],
            "reject_form": ReasonForm(),
        },
    )


@staff_page
@require_POST
def merchant_approve_view(request: HttpRequest, merchant_id: int) -> HttpResponse:
    merchant = get_object_or_404(Merchant, pk=merchant_id)
    user: User = request.user  # type: ignore[assignment]
    _act(
        request,
        lambda: merchant_approve(merchant=merchant, actor=user),
        _("%(shop)s approved.") % {"shop": merchant},
    )
    return redirect("merchant:staff-merchants")


@staff_page
@require_POST
def merchant_reject_view(request: HttpRequest, merchant_id: int) -> HttpResponse:
    merchant = get_object_or_404(Merchant, pk=merchant_id)
    user: User = request.user  # type: ignore[assignment]
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say why the application is rejected."))
    else:
        reason = form.cleaned_data["reason"]
        _act(
            request,
            lambda: merchant_reject(merchant=merchant, actor=user, reason=reason),
            _("%(shop)s rejected.") % {"shop": merchant},
        )
    return redirect("merchant:staff-merchants")


# --- payouts --------------------------------------------------------------------------------


@staff_page
def payouts(request: HttpRequest) -> HttpResponse:
    open_payouts = list(
        Payout.objects.filter(status__in=[PayoutStatus.REQUESTED, PayoutStatus.APPROVED])
        .select_related("merchant")
        .order_by("requested_at", "id")
    )
    rows = [
        {"payout": payout, "balance": merchant_balance(payout.merchant, payout.currency)}
        for payout in open_payouts
    ]
    return render(
        request,
        "merchants/staff_payouts.html",
        {
            "rows": rows,
            "recent": Payout.objects.filter(status__in=[PayoutStatus.PAID, PayoutStatus.REJECTED])
            .select_related("merchant")
            .order_by("-decided_at", "-id")[:20],
            "reject_form": ReasonForm(),
            "paid_form": PaidForm(),
        },
    )


@staff_page
@require_POST
def payout_decide(request: HttpRequest, payout_id: int, decision: str) -> HttpResponse:
    if decision not in ("approve", "paid", "reject"):
        raise NotFound()
    payout = get_object_or_404(Payout, pk=payout_id)
    user: User = request.user  # type: ignore[assignment]
    if decision == "approve":
        _act(request, lambda: payout_approve(payout=payout, actor=user), _("Payout approved."))
    elif decision == "paid":
        form = PaidForm(request.POST)
        reference = form.cleaned_data["external_reference"] if form.is_valid() else ""
        _act(
            request,
            lambda: payout_mark_paid(payout=payout, actor=user, external_reference=reference),
            _("Payout marked as paid out."),
        )
    else:
        reject = ReasonForm(request.POST)
        if not reject.is_valid():
            messages.error(request, _("Say why the payout is rejected."))
        else:
            reason = reject.cleaned_data["reason"]
            _act(
                request,
                lambda: payout_reject(payout=payout, actor=user, reason=reason),
                _("Payout rejected."),
            )
    return redirect("merchant:staff-payouts")
