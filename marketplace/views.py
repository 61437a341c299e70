"""Browser pages for buyers: thin views over the same services as the API."""

import json
import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from kabao.errors import DomainError, NotFound, user_message
from kabao.rate_limits import rate_limit
from marketplace.crypto import CodeDecryptionError
from marketplace.hooks import order_dispute_summary
from marketplace.models import Game, Order, OrderStatus, SimulatedCharge
from marketplace.payments.simulated import pay_url
from marketplace.selectors import (
    merchant_trust_figures,
    order_visible_to,
    orders_visible_to,
    product_on_sale,
    products_on_sale,
)
from marketplace.services.orders import order_codes, order_confirm, order_create
from marketplace.services.payments import simulated_gateway_pay
from merchants.selectors import merchant_balance

# The order timeline stores machine names (events and notes); the page shows words.
EVENT_LABELS = {
    "created": gettext_lazy("Order placed"),
    "payment_failed": gettext_lazy("Payment failed"),
    "codes_revealed": gettext_lazy("Codes revealed"),
    OrderStatus.PAID: gettext_lazy("Payment received, held in escrow"),
    OrderStatus.DELIVERED: gettext_lazy("Codes delivered"),
    OrderStatus.COMPLETED: gettext_lazy("Completed: the merchant was paid"),
    OrderStatus.DISPUTED: gettext_lazy("Dispute opened"),
    OrderStatus.REFUNDED: gettext_lazy("Refunded"),
    OrderStatus.PARTIALLY_REFUNDED: gettext_lazy("Partially refunded"),
    OrderStatus.CANCELLED: gettext_lazy("Cancelled"),
}
EVENT_NOTES = {
    "confirmed_by_buyer": gettext_lazy("confirmed by the buyer"),
    "protection_window_ended": gettext_lazy("the protection window ended"),
    "unpaid_in_time": gettext_lazy("not paid in time"),
    "not_delivered_in_time": gettext_lazy("not delivered in time"),
    "codes_missing": gettext_lazy("the codes were missing at delivery"),
    "amount_mismatch": gettext_lazy("the amount paid did not match the order"),
    "paid_after_cancellation": gettext_lazy("paid after the order was cancelled"),
}


def catalogue(request: HttpRequest) -> HttpResponse:
    products = products_on_sale()
    game = request.GET.get("game", "")
    query = request.GET.get("q", "")[:80]
    if game:
        products = products.filter(game__slug=game)
    if query:
        products = products.filter(title__icontains=query)
    return render(
        request,
        "marketplace/catalogue.html",
        {
            "products": products[:100],
            "games": Game.objects.order_by("name"),
            "game": game,
            "query": query,
        },
    )


def product_detail(request: HttpRequest, product_id: int) -> HttpResponse:
    product = product_on_sale(product_id)
    return render(
        request,
        "marketplace/product.html",
        {
            "product": product,
            "trust": merchant_trust_figures(product.merchant),
            "deposit": merchant_balance(product.merchant, product.currency).deposit,
            "protection_hours": (product.auto_confirm_seconds or settings.KABAO_AUTO_CONFIRM_SECONDS) // 3600,
            "max_quantity": min(product.stock, settings.KABAO_MAX_ORDER_QUANTITY),  # type: ignore[attr-defined]
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def checkout(request: HttpRequest, product_id: int) -> HttpResponse:
    product = product_on_sale(product_id)
    if request.method == "POST":
        try:
            quantity = int(request.POST.get("quantity", "1"))
            order = order_create(
                buyer=request.user,  # type: ignore[arg-type]
                product_id=product.pk,
                quantity=quantity,
                idempotency_key=request.POST.get("idempotency_key") or None,
            )
        except ValueError:
            messages.error(request, _("Quantity must be a whole number."))
        except DomainError as exc:
            messages.error(request, user_message(exc))
        else:
            return redirect(pay_url(order.payment.reference))
    return render(
        request,
        "marketplace/checkout.html",
        {
            "product": product,
            "max_quantity": min(product.stock, settings.KABAO_MAX_ORDER_QUANTITY),  # type: ignore[attr-defined]
            "protection_hours": (product.auto_confirm_seconds or settings.KABAO_AUTO_CONFIRM_SECONDS) // 3600,
            "expiry_minutes": settings.KABAO_UNPAID_EXPIRY_SECONDS // 60,
            # One key per checkout form: a double submit of this form makes one order.
            "idempotency_key": uuid.uuid4().hex,
        },
    )


# The simulated gateway stands for an outside site: its link is the capability (an unguessable
# reference), and scripts POST JSON to it as API.md describes, so it takes no CSRF token.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def simulated_gateway(request: HttpRequest, reference: str) -> HttpResponse:
    charge = SimulatedCharge.objects.filter(reference=reference).first()
    if charge is None:
        raise NotFound("No such payment.")
    order = Order.objects.filter(payment__reference=reference).first()
    if request.method == "GET":
        return render(request, "marketplace/gateway.html", {"charge": charge, "order": order})
    is_json = request.content_type == "application/json"
    try:
        if is_json:
            body = json.loads(request.body or b"{}")
            if not isinstance(body, dict):
                raise DomainError("invalid", "Send a JSON object.")
            outcome, drop_webhook = (
                body.get("outcome", "succeeded"),
                bool(body.get("drop_webhook", False)),
            )
        else:
            outcome, drop_webhook = (
                request.POST.get("outcome", ""),
                request.POST.get("drop_webhook") == "1",
            )
        charge = simulated_gateway_pay(reference=reference, outcome=str(outcome), drop_webhook=drop_webhook)
    except (ValueError, DomainError) as exc:
        error = (
            exc
            if isinstance(exc, DomainError)
            else DomainError("invalid_json", "The body is not valid JSON.")
        )
        if is_json:
            return JsonResponse(
                {"error": {"code": error.code, "message": error.message, "fields": error.fields}},
                status=error.status,
            )
        messages.error(request, user_message(error))
        return redirect(request.path)
    if is_json:
        return JsonResponse({"reference": charge.reference, "status": charge.status})
    if order is None:  # a merchant's security deposit: back to the deposit page
        return redirect("merchant:deposit")
    return redirect("marketplace:order", order_id=order.pk)


@login_required
def order_list(request: HttpRequest) -> HttpResponse:
    orders = orders_visible_to(request.user).filter(buyer=request.user)[:100]  # type: ignore[arg-type, misc]
    return render(request, "marketplace/orders.html", {"orders": orders})


# All locals, in every frame below: a template's context holds the codes in clear.
@sensitive_variables()
def _order_page(request: HttpRequest, order: Order, codes: list[str] | None = None) -> HttpResponse:
    is_waiting = order.status in (OrderStatus.PENDING_PAYMENT, OrderStatus.PAID)
    # The page polls itself for `?live=1` while it waits for payment or delivery: the live part only.
    template = "marketplace/_order_live.html" if request.GET.get("live") else "marketplace/order.html"
    return render(
        request,
        template,
        {
            "order": order,
            "codes": codes,
            "is_buyer": order.buyer_id == request.user.pk,
            "is_waiting": is_waiting,
            "events": [
                {
                    "at": event.at,
                    "label": EVENT_LABELS.get(event.event, event.event),
                    "note": EVENT_NOTES.get(event.note, event.note),
                }
                for event in order.events.all()
            ],
            "dispute": order_dispute_summary(order),
            "pay_url": pay_url(order.payment.reference)
            if order.status == OrderStatus.PENDING_PAYMENT
            else None,
        },
    )


@login_required
@rate_limit("order_read", per="user", methods=("GET",))
def order_detail(request: HttpRequest, order_id: int) -> HttpResponse:
    return _order_page(request, order_visible_to(request.user, order_id))  # type: ignore[arg-type]


@login_required
@require_POST
@rate_limit("order_read", per="user", methods=("POST",))  # the order page's rate, counted apart
@never_cache  # the page holds the codes in clear: no browser or proxy keeps it
@sensitive_variables("codes")
def order_reveal(request: HttpRequest, order_id: int) -> HttpResponse:
    order = order_visible_to(request.user, order_id)  # type: ignore[arg-type]
    try:
        codes = order_codes(order=order, actor=request.user)  # type: ignore[arg-type]
    except CodeDecryptionError:  # logged by the service, by id; no wrong code is shown
        messages.error(
            request,
            _(
                "The codes of this order failed their integrity check and cannot be shown. "
                "Please open a dispute: the platform will replace them or refund you."
            ),
        )
        return redirect("marketplace:order", order_id=order.pk)
    return _order_page(request, order, codes)


@login_required
@require_POST
def order_confirm_view(request: HttpRequest, order_id: int) -> HttpResponse:
    order = order_visible_to(request.user, order_id)  # type: ignore[arg-type]
    try:
        order_confirm(order=order, actor=request.user)  # type: ignore[arg-type]
        messages.success(request, _("Thank you: the merchant has been paid."))
    except DomainError as exc:
        messages.error(request, user_message(exc))
    return redirect("marketplace:order", order_id=order.pk)
