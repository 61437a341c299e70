"""The Stripe pay page: the Payment Element confirms the order's PaymentIntent in the buyer's browser.

Payment Element rather than a Checkout Session redirect: the PaymentIntent exists (and is the
payment's reference) from the moment the order is created, so reconciliation can always retrieve
it, and the buyer stays on Kabao's page with the order's countdown. Kabao never trusts the return
to this page: the order proceeds on the signed webhook, or on reconciliation.
"""

from csp.decorators import csp_replace, csp_update
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from kabao.errors import NotFound
from marketplace.models import Payment, PaymentStatus
from marketplace.payments.stripe_provider import StripeProvider

# Stripe.js and the Payment Element's frames (Stripe's published CSP requirements); nothing else.
STRIPE_CSP = {
    "script-src": ["https://js.stripe.com", "https://*.js.stripe.com"],
    "connect-src": ["https://api.stripe.com"],
    "img-src": ["https://*.stripe.com"],
}
STRIPE_FRAMES = {
    "frame-src": ["https://js.stripe.com", "https://*.js.stripe.com", "https://hooks.stripe.com"]
}


@csp_update(STRIPE_CSP)
@csp_replace(STRIPE_FRAMES)  # type: ignore[arg-type]  # django-csp types views as (request) only
@login_required
@require_GET
def stripe_pay(request: HttpRequest, reference: str) -> HttpResponse:
    payer = request.user.pk  # login_required: a signed-in user
    payment = Payment.objects.filter(reference=reference, provider="stripe", payer_id=payer).first()
    if payment is None:
        raise NotFound("No such payment.")
    back = (
        reverse("marketplace:order", args=[payment.order_id])
        if payment.order_id
        else reverse("merchant:deposit")
    )
    if payment.status not in (PaymentStatus.CREATED, PaymentStatus.FAILED):
        return redirect(back)
    return render(
        request,
        "marketplace/pay_stripe.html",
        {
            "payment": payment,
            "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
            "client_secret": StripeProvider().client_secret(reference),
            "return_url": request.build_absolute_uri(back),
        },
    )
